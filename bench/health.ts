// Health benchmarks:
//  1. Read-your-writes: after each registration's HTTP 200, one DNS query for the new instance:
//     is it there on the first try, and how long from the 200 to that answer?
//  2. Lease removal: instances with ttl=1 stop heartbeating; a TCP client asks for the service's
//     SRV records back to back and notes when each instance leaves the answer, against its deadline.
//  3. Active checks: 10,000 instances with HTTP checks every 10 s against a local target, beside
//     the same 10,000 without checks: the server's CPU share while idle, and dnsperf's qps.
//
//   npm run bench:health [-- --write]
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import dns2 from 'dns2';
import {
  CLOCK_TICKS_PER_SECOND,
  HOST,
  ROOT,
  cpuTicks,
  dnsperf,
  launch,
  launchSignpost,
  markdownTable,
  percentile,
  positiveInteger,
  stop,
  stopAll,
  stopOnInterrupt,
  textTable,
  writeSection,
} from './lib.ts';

const { Packet } = dns2;
const HEADING = '## Health: propagation and active checks';
const WRITE = process.argv.includes('--write');
const REGISTRATIONS = positiveInteger('BENCH_REGISTRATIONS', 1000);
const LAPSING = positiveInteger('BENCH_LAPSING', 200);
const CHECKED_INSTANCES = positiveInteger('BENCH_CHECKED', 10_000);
const CHECK_INTERVAL = 10;
const IDLE_SECONDS = positiveInteger('BENCH_IDLE_SECONDS', 20);
const LOAD_SECONDS = positiveInteger('BENCH_SECONDS', 10);
const SERVICES = 1000;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-health-'));
stopOnInterrupt(async () => {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
});

async function main(): Promise<void> {
  const lines: string[] = [];
  try {
    const propagation = await readYourWrites();
    const removal = await leaseRemoval();
    const checks = await checkCost();
    const report = [
      HEADING,
      '',
      `Command: \`npm run bench:health\` (${new Date().toISOString().slice(0, 10)}, 2 cores, loopback, the server a child process on Node ${process.versions.node}).`,
      '',
      `**Read-your-writes.** ${REGISTRATIONS} registrations one after another; after each HTTP 200, one UDP query for the new instance's name.`,
      markdownTable(
        ['seen on the first query', 'from 200 to answer p50', 'p99'],
        [[`${propagation.seen} / ${REGISTRATIONS}`, `${propagation.p50.toFixed(3)} ms`, `${propagation.p99.toFixed(3)} ms`]],
      ),
      '',
      `**Lease removal.** ${LAPSING} instances registered with \`ttl: 1\` and never renewed; a TCP client asks for the service's SRV records back to back (${removal.queries} queries) and notes when each instance is gone, against the \`expiresAt\` its registration returned.`,
      markdownTable(
        ['removed after the deadline p50', 'p99', 'max', 'still answered after 100 ms'],
        [[`${removal.p50.toFixed(1)} ms`, `${removal.p99.toFixed(1)} ms`, `${removal.max.toFixed(1)} ms`, `${removal.late}`]],
      ),
      '',
      `**Active checks.** ${CHECKED_INSTANCES.toLocaleString('en')} instances across ${SERVICES} services, each with an HTTP check every ${CHECK_INTERVAL} s against a local target (one child process), beside the same instances without checks, one server at a time. CPU share = the server's CPU time over ${IDLE_SECONDS} s of wall time with no DNS load; qps = dnsperf (-c 4 -q 200, ${LOAD_SECONDS} s, A and SRV of those services).`,
      markdownTable(
        ['', 'idle CPU share (one core)', 'checks run in the window', 'DNS qps under dnsperf'],
        [
          ['without checks', pct(checks.without.cpuShare), '0', Math.round(checks.without.qps).toLocaleString('en')],
          ['with checks', pct(checks.with.cpuShare), checks.with.checksRun.toLocaleString('en'), Math.round(checks.with.qps).toLocaleString('en')],
          ['ratio (with / without)', '', '', (checks.with.qps / checks.without.qps).toFixed(2)],
        ],
      ),
      '',
      `Checks cost ${((checks.with.cpuShare - checks.without.cpuShare) * 100).toFixed(1)}% of a core for ${(CHECKED_INSTANCES / CHECK_INTERVAL).toLocaleString('en')} probes/s: ` +
        `${(((checks.with.cpuShare - checks.without.cpuShare) * 1e6) / (CHECKED_INSTANCES / CHECK_INTERVAL)).toFixed(0)} µs of CPU per probe (a TCP connect, an HTTP GET, the result).`,
    ];
    lines.push(...report);
    console.log(
      [
        textTable(['read-your-writes', 'value'], [
          ['seen on first query', `${propagation.seen}/${REGISTRATIONS}`],
          ['200 → answer p50', `${propagation.p50.toFixed(3)} ms`],
          ['200 → answer p99', `${propagation.p99.toFixed(3)} ms`],
        ]),
        '',
        textTable(['lease removal after deadline', 'ms'], [
          ['p50', removal.p50.toFixed(1)],
          ['p99', removal.p99.toFixed(1)],
          ['max', removal.max.toFixed(1)],
          ['late (>100 ms)', String(removal.late)],
        ]),
        '',
        textTable(['checks', 'idle CPU', 'checks run', 'qps'], [
          ['without', pct(checks.without.cpuShare), '0', checks.without.qps.toFixed(0)],
          ['with', pct(checks.with.cpuShare), String(checks.with.checksRun), checks.with.qps.toFixed(0)],
        ]),
      ].join('\n'),
    );
    if (WRITE) {
      writeSection(HEADING, lines.join('\n'));
      console.log('\nwrote BENCHMARKS.md');
    }
  } finally {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function readYourWrites() {
  const server = await launchSignpost('signpost', ['--data-dir', path.join(workDir, 'ryw'), '--log-level', 'info']);
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const latencies: number[] = [];
  let seen = 0;
  try {
    for (let i = 0; i < REGISTRATIONS; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const response = await put(`${server.url}/v1/services/prop/instances/r${i}`, { address, port: 80 });
      if (response.status !== 200) throw new Error(`registration ${i}: HTTP ${response.status}`);
      await response.arrayBuffer();
      const acknowledged = performance.now();
      const reply = await udpQuery(socket, server.dnsPort, `r${i}.prop.instance.local`, 'A', i);
      latencies.push(performance.now() - acknowledged);
      if (reply.answers.some((answer) => answer.address === address)) seen++;
    }
  } finally {
    socket.close();
    await stop(server.child);
  }
  return { seen, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function leaseRemoval() {
  const server = await launchSignpost('signpost', ['--data-dir', path.join(workDir, 'lapse'), '--log-level', 'info']);
  try {
    const deadlines = new Map<string, number>();
    for (let i = 0; i < LAPSING; i++) {
      const response = await put(`${server.url}/v1/services/lapse/instances/l${i}`, { address: '10.9.0.1', port: 1000 + i, ttl: 1 });
      deadlines.set(`l${i}.lapse.instance.local`, Date.parse((await response.json()).expiresAt));
    }
    const removedAt = new Map<string, number>();
    const tcp = net.connect(server.dnsPort, HOST);
    tcp.setNoDelay(true);
    await new Promise((resolve) => tcp.once('connect', resolve));
    let queries = 0;
    const giveUp = Date.now() + 10_000;
    while (removedAt.size < LAPSING && Date.now() < giveUp) {
      const reply = await tcpQuery(tcp, '_lapse._tcp.service.local', 'SRV', queries++);
      const now = Date.now();
      const present = new Set(reply.answers.map((answer) => answer.target));
      for (const name of deadlines.keys()) if (!present.has(name) && !removedAt.has(name)) removedAt.set(name, now);
    }
    tcp.destroy();
    const delays = [...removedAt].map(([name, at]) => at - deadlines.get(name)!);
    return {
      queries,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: Math.max(...delays),
      late: delays.filter((delay) => delay > 100).length + (LAPSING - removedAt.size),
    };
  } finally {
    await stop(server.child);
  }
}

async function checkCost() {
  const target = await launch('check target', [path.join(ROOT, 'bench/check-target.ts')], 'check target ready');
  const targetPort = Number(target.ready.port);
  const queryFile = path.join(workDir, 'queries.txt');
  const queries: string[] = [];
  for (let i = 0; i < 10_000; i++) queries.push(i % 2 === 0 ? `svc${i % SERVICES}.service.local A` : `_svc${i % SERVICES}._tcp.service.local SRV`);
  writeFileSync(queryFile, queries.join('\n') + '\n');
  try {
    const without = await measureFleet(false, targetPort);
    const withChecks = await measureFleet(true, targetPort);
    return { without, with: withChecks };
  } finally {
    await stop(target.child);
  }

  async function measureFleet(checks: boolean, port: number) {
    const server = await launchSignpost(checks ? 'signpost with checks' : 'signpost', [
      '--data-dir',
      path.join(workDir, checks ? 'checks' : 'nochecks'),
      '--log-level',
      'info',
    ]);
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < CHECKED_INSTANCES) {
            const i = next++;
            const body = {
              address: `10.20.${i >> 8}.${i & 255}`,
              port: 8080,
              ttl: 86400,
              ...(checks ? { check: { http: `http://${HOST}:${port}/health/${i}`, interval: CHECK_INTERVAL, timeout: 2 } } : {}),
            };
            const response = await put(`${server.url}/v1/services/svc${i % SERVICES}/instances/i${i}`, body);
            if (response.status !== 200) throw new Error(`registration ${i}: HTTP ${response.status} ${await response.text()}`);
            await response.arrayBuffer();
          }
        }),
      );
      // One full interval first: every check has run once (passing), and the spread is steady.
      if (checks) await sleep(CHECK_INTERVAL * 1000);
      const before = cpuTicks(server.pid);
      const targetBefore = await probeCount(port);
      const started = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      const seconds = (performance.now() - started) / 1000;
      const cpuShare = (cpuTicks(server.pid) - before) / CLOCK_TICKS_PER_SECOND / seconds;
      const checksRun = (await probeCount(port)) - targetBefore;
      const load = await dnsperf(server.dnsPort, queryFile, LOAD_SECONDS);
      return { cpuShare, checksRun, qps: load.qps };
    } finally {
      await stop(server.child);
    }
  }
}

/** The check target counts the probes it answered; it reports the count on /count. */
async function probeCount(port: number): Promise<number> {
  return Number(await (await fetch(`http://${HOST}:${port}/count`)).text());
}

function put(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

function encodeQuery(name: string, type: 'A' | 'SRV', id: number): Buffer {
  const packet = new Packet();
  packet.header.id = id & 0xffff;
  packet.questions.push({ name, type: Packet.TYPE[type], class: Packet.CLASS.IN } as (typeof packet.questions)[number]);
  return packet.toBuffer();
}

function udpQuery(socket: dgram.Socket, port: number, name: string, type: 'A' | 'SRV', id: number) {
  return new Promise<InstanceType<typeof Packet>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 2000);
    socket.once('message', (message) => {
      clearTimeout(timer);
      resolve(Packet.parse(message));
    });
    socket.send(encodeQuery(name, type, id), port, HOST);
  });
}

function tcpQuery(socket: net.Socket, name: string, type: 'A' | 'SRV', id: number) {
  return new Promise<InstanceType<typeof Packet>>((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 2000);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2 || buffer.length < 2 + buffer.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(Packet.parse(buffer.subarray(2, 2 + buffer.readUInt16BE(0))));
    };
    socket.on('data', onData);
    const message = encodeQuery(name, type, id);
    socket.write(Buffer.concat([Buffer.from([message.length >> 8, message.length & 255]), message]));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

await main();
