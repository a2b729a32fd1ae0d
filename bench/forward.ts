// Forwarding and cache speed: (1) dnsperf against one Signpost answering its own zone names and
// cached forwarded names, in alternating runs; (2) how many upstream queries coalescing saves
// under bursts of identical questions for a name not yet cached.
//
//   npm run bench:forward                 print the runs, the medians and the ratio
//   npm run bench:forward -- --write      also put those numbers into BENCHMARKS.md
//
// BENCH_SECONDS (default 10) is the length of one dnsperf run, BENCH_ROUNDS (default 3) the number
// of zone+forwarded pairs. The upstream for (1) is dnsmasq on loopback, logging every query it
// gets, so the report can show that the measured runs never reached it; for (2) it is a small
// counting server in this process that answers after a delay, like a resolver across a network.
// Signpost runs as a child process on the project's Node, with its default flags apart from the
// listeners and --recursor. Nothing leaves 127.0.0.1.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import {
  HOST,
  NODE,
  dnsperf,
  dnsperfVersion,
  dnsperfWithCpu,
  launchSignpost,
  markdownTable,
  medianRun,
  positiveInteger,
  rcodeList,
  stop,
  stopAllAndRemove,
  stopOnInterrupt,
  textTable,
  track,
  writeSection,
  type DnsperfRun,
} from './lib.ts';

const execFileAsync = promisify(execFile);
const SECTION_HEADING = '## Forwarding and cache';

const SECONDS = positiveInteger('BENCH_SECONDS', 10);
const ROUNDS = positiveInteger('BENCH_ROUNDS', 3);
const WRITE = process.argv.includes('--write');
const WARMUP_SECONDS = 2;
const CLIENTS = 4;
const OUTSTANDING = 200;
const TARGET_RATIO = 0.8;

/** Zone names `svcN.service.local` (one instance each) and forwarded names `hN.example.test`: one A record each, so both answers are the same shape. */
const NAMES = 200;
/** Longer than the benchmark, so every forwarded answer stays cached throughout. */
const UPSTREAM_TTL = 3600;

const BURSTS = 5;
const BURST_SIZE = 1000;
const BURST_SOCKETS = 8;
/** The counting upstream's answer delay: a resolver a few network hops away. */
const UPSTREAM_DELAYS_MS = [0, 20];

/** How long dnsmasq gets to answer its first query. */
const START_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 5_000;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-forward-'));

interface Run extends DnsperfRun {
  round: number;
  load: 'zone' | 'forwarded (cached)';
}

interface Burst {
  delayMs: number;
  name: string;
  answered: number;
  upstreamQueries: number;
}

async function main(): Promise<void> {
  try {
    const dnsmasq = await startDnsmasq();
    const signpost = await startSignpost(dnsmasq.port);
    console.log(`dnsmasq on ${HOST}:${dnsmasq.port}; Signpost DNS on ${HOST}:${signpost.dnsPort}, HTTP on ${HOST}:${signpost.httpPort}`);
    await registerAll(signpost.httpPort);

    const zoneFile = path.join(workDir, 'zone.txt');
    const forwardedFile = path.join(workDir, 'forwarded.txt');
    writeFileSync(zoneFile, Array.from({ length: NAMES }, (_, i) => `svc${i + 1}.service.local A\n`).join(''));
    writeFileSync(forwardedFile, Array.from({ length: NAMES }, (_, i) => `h${i + 1}.example.test A\n`).join(''));
    await warmCache(signpost.dnsPort);
    const upstreamBefore = dnsmasq.queries();

    const perf = { clients: CLIENTS, outstanding: OUTSTANDING };
    const loads = [
      { load: 'zone', file: zoneFile },
      { load: 'forwarded (cached)', file: forwardedFile },
    ] as const;
    for (const { load, file } of loads) {
      console.log(`warming up: ${load} (${WARMUP_SECONDS} s)...`);
      await dnsperf(signpost.dnsPort, file, WARMUP_SECONDS, perf);
    }
    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const { load, file } of loads) {
        console.log(`round ${round}/${ROUNDS}: ${load} (${SECONDS} s)...`);
        runs.push({ round, load, ...(await dnsperfWithCpu(signpost.pid, signpost.dnsPort, file, SECONDS, perf)) });
      }
    }
    const upstreamDuringRuns = dnsmasq.queries() - upstreamBefore;

    const bursts: Burst[] = [];
    for (const delayMs of UPSTREAM_DELAYS_MS) bursts.push(...(await measureCoalescing(delayMs)));

    const report = summarise(runs, upstreamDuringRuns, bursts);
    console.log('\n' + report.console);
    if (WRITE) {
      writeSection(SECTION_HEADING, report.markdown);
      console.log(`\nwrote "${SECTION_HEADING}" in BENCHMARKS.md`);
    }
  } finally {
    await stopAllAndRemove(workDir);
  }
}

// ---- cached forwarded answers against zone answers ----------------------------------------------

async function registerAll(httpPort: number): Promise<void> {
  for (let i = 1; i <= NAMES; i++) {
    const response = await fetch(`http://${HOST}:${httpPort}/v1/services/svc${i}/instances/i1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: `10.0.${i >> 8}.${i & 0xff}`, port: 8080, ttl: 86400 }),
      signal: AbortSignal.timeout(REPLY_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`registering svc${i}: HTTP ${response.status} ${await response.text()}`);
  }
  console.log(`registered ${NAMES} services × 1 instance`);
}

/**
 * Asks every forwarded name once, checking the answer, so the measured runs only ever hit the cache.
 * Asynchronously: this process must keep reading dnsmasq's log, or dnsmasq blocks on a full pipe.
 */
async function warmCache(port: number): Promise<void> {
  for (let i = 1; i <= NAMES; i++) {
    const { stdout: output } = await execFileAsync('dig', [`@${HOST}`, '-p', String(port), '+time=2', '+tries=1', '+short', `h${i}.example.test`, 'A']);
    if (output.trim() !== upstreamAddress(i)) throw new Error(`h${i}.example.test A: expected ${upstreamAddress(i)}, got "${output.trim()}"`);
  }
  console.log(`cache warmed: ${NAMES} forwarded names answered by dnsmasq through Signpost`);
}

function upstreamAddress(i: number): string {
  return `198.18.${i >> 8}.${i & 0xff}`;
}

// ---- coalescing ---------------------------------------------------------------------------------

/**
 * A Signpost forwarding to a counting upstream that answers after `delayMs`; BURSTS times, a burst
 * of BURST_SIZE identical questions for a new name, sent back to back from BURST_SOCKETS sockets.
 * The answers have TTL 0, so the cache cannot help: a question arriving after the answer came goes
 * upstream again, and what is saved is saved by coalescing alone.
 */
async function measureCoalescing(delayMs: number): Promise<Burst[]> {
  const counts = new Map<string, number>();
  const upstream = dgram.createSocket('udp4');
  upstream.on('message', (message, peer) => {
    const name = questionName(message);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    setTimeout(() => upstream.send(answerA(message, '192.0.2.1', 0), peer.port, peer.address), delayMs);
  });
  await new Promise<void>((resolve) => upstream.bind(0, HOST, resolve));
  const signpost = await startSignpost(upstream.address().port);
  const results: Burst[] = [];
  try {
    for (let b = 1; b <= BURSTS; b++) {
      const name = `burst${b}-delay${delayMs}.example.test`;
      const answered = await burst(signpost.dnsPort, name);
      results.push({ delayMs, name, answered, upstreamQueries: counts.get(name) ?? 0 });
      console.log(`coalescing, upstream delay ${delayMs} ms: ${BURST_SIZE} × ${name} → ${answered} answered, ${counts.get(name) ?? 0} upstream queries`);
    }
  } finally {
    await stop(signpost.child);
    upstream.close();
  }
  return results;
}

/** Sends BURST_SIZE queries for `name` as fast as the sockets take them; resolves with how many were answered NOERROR. */
async function burst(port: number, name: string): Promise<number> {
  const sockets = Array.from({ length: BURST_SOCKETS }, () => dgram.createSocket('udp4'));
  let answered = 0;
  let replies = 0;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REPLY_TIMEOUT_MS);
    for (const socket of sockets) {
      socket.on('message', (reply) => {
        if ((reply[3] & 0x0f) === 0 && reply.readUInt16BE(6) === 1) answered++;
        if (++replies === BURST_SIZE) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  for (let i = 0; i < BURST_SIZE; i++) sockets[i % BURST_SOCKETS].send(queryA(i, name), port, HOST);
  await done;
  for (const socket of sockets) socket.close();
  return answered;
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
}

function queryA(id: number, name: string): Buffer {
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, encodeName(name), Buffer.from([0, 1, 0, 1])]);
}

/** The question name of a query (plain labels, as Signpost sends them). */
function questionName(message: Buffer): string {
  const labels: string[] = [];
  for (let at = 12; message[at] !== 0; at += message[at] + 1) labels.push(message.toString('latin1', at + 1, at + 1 + message[at]));
  return labels.join('.');
}

/** A reply to `query` with one A record, dropping its OPT record. */
function answerA(query: Buffer, address: string, ttl: number): Buffer {
  let end = 12;
  while (query[end] !== 0) end += query[end] + 1;
  end += 5;
  const reply = Buffer.concat([query.subarray(0, end), Buffer.from([0xc0, 12, 0, 1, 0, 1]), Buffer.alloc(4), Buffer.from([0, 4, ...address.split('.').map(Number)])]);
  reply.writeUInt16BE(0x8180, 2);
  reply.writeUInt16BE(1, 6);
  reply.writeUInt16BE(0, 10);
  reply.writeUInt32BE(ttl, end + 6);
  return reply;
}

// ---- processes ----------------------------------------------------------------------------------

async function startDnsmasq(): Promise<{ port: number; queries: () => number }> {
  const config = path.join(workDir, 'dnsmasq.conf');
  const records = Array.from({ length: NAMES }, (_, i) => `host-record=h${i + 1}.example.test,${upstreamAddress(i + 1)}`);
  writeFileSync(config, [...records, 'local=/example.test/', `local-ttl=${UPSTREAM_TTL}`, 'log-queries', 'log-facility=-', 'no-resolv', 'no-hosts'].join('\n') + '\n');
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    const child = track(
      spawn('/usr/sbin/dnsmasq', ['--no-daemon', `--port=${port}`, `--listen-address=${HOST}`, '--bind-interfaces', `--conf-file=${config}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    let queries = 0;
    let log = '';
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (/ query\[/.test(line)) queries++;
      else if (log.length < 10_000) log += line + '\n';
    });
    if (await answers(port, child)) return { port, queries: () => queries };
    await stop(child);
    if (attempt === 5) throw new Error(`dnsmasq did not start:\n${log}`);
  }
}

/** Polls dig until dnsmasq answers (bounded), or it exits. */
async function answers(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    const result = await execFileAsync('dig', [`@${HOST}`, '-p', String(port), '+time=1', '+tries=1', '+short', 'h1.example.test', 'A']).catch(() => null);
    if (result?.stdout.trim() === upstreamAddress(1)) return true;
  }
  return false;
}

/** Signpost on ephemeral loopback ports, forwarding to 127.0.0.1:`upstreamPort`; resolves on its ready line. */
function startSignpost(upstreamPort: number) {
  return launchSignpost('Signpost', ['--store', 'memory', '--recursor', `${HOST}:${upstreamPort}`]);
}

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

// ---- report -------------------------------------------------------------------------------------

function summarise(runs: Run[], upstreamDuringRuns: number, bursts: Burst[]): { console: string; markdown: string } {
  const medians = (load: Run['load']) => medianRun(runs.filter((run) => run.load === load));
  const zone = medians('zone');
  const forwarded = medians('forwarded (cached)');
  const ratio = forwarded.qps / zone.qps;
  const runHeader = ['round', 'load', 'qps', 'completed', 'lost', 'rcodes', 'avg latency ms', 'CPU µs/query'];
  const runRows = runs.map((run) => [String(run.round), run.load, run.qps.toFixed(0), String(run.completed), String(run.lost), rcodeList(run.rcodes), run.latencyMs.toFixed(2), run.cpuUsPerQuery.toFixed(2)]);
  const medianHeader = ['load', 'qps', 'lost', 'avg latency ms', 'CPU µs/query'];
  const medianRows = (
    [
      ['zone', zone],
      ['forwarded (cached)', forwarded],
    ] as const
  ).map(([load, m]) => [load, m.qps.toFixed(0), String(m.lost), m.latencyMs.toFixed(2), m.cpuUsPerQuery.toFixed(2)]);
  const burstHeader = ['upstream delay', 'bursts', 'questions', 'answered', 'upstream queries', 'saved'];
  const burstRows = UPSTREAM_DELAYS_MS.map((delayMs) => {
    const list = bursts.filter((b) => b.delayMs === delayMs);
    const questions = list.length * BURST_SIZE;
    const upstream = list.reduce((sum, b) => sum + b.upstreamQueries, 0);
    return [`${delayMs} ms`, String(list.length), String(questions), String(list.reduce((sum, b) => sum + b.answered, 0)), String(upstream), `${(((questions - upstream) / questions) * 100).toFixed(1)}%`];
  });

  const summary = [
    `Cached forwarded / zone (median qps): ${ratio.toFixed(3)}, which ${ratio >= TARGET_RATIO ? 'meets' : 'is below'} the ${TARGET_RATIO} target.`,
    `CPU per query: ${forwarded.cpuUsPerQuery.toFixed(2)} µs for cached forwarded answers, ${zone.cpuUsPerQuery.toFixed(2)} µs for zone answers.`,
    `Upstream queries during the measured runs: ${upstreamDuringRuns} (every forwarded answer came from the cache).`,
  ];
  const consoleText = ['runs:', textTable(runHeader, runRows), '', 'medians:', textTable(medianHeader, medianRows), '', 'coalescing:', textTable(burstHeader, burstRows), '', ...summary].join('\n');

  const dnsmasqVersion = /version (\S+)/.exec(spawnSync('/usr/sbin/dnsmasq', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
  const command = 'npm run bench:forward' + (SECONDS !== 10 || ROUNDS !== 3 ? ` (BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS})` : '');
  const markdown = [
    SECTION_HEADING,
    '',
    `Command: \`${command}\` (\`npm run bench:forward -- --write\` rewrites this section with the numbers it printed).`,
    `Date: ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}, ` +
      `dnsperf ${dnsperfVersion()}, dnsmasq ${dnsmasqVersion} as the upstream. dnsperf, dnsmasq and Signpost share these cores.`,
    '',
    `Load: one Signpost (default flags, \`--recursor\` = dnsmasq on 127.0.0.1), \`dnsperf -c ${CLIENTS} -q ${OUTSTANDING} -l ${SECONDS}\` over UDP, ` +
      `${ROUNDS} rounds alternating the two query files after a ${WARMUP_SECONDS} s warm-up of each: \`svcN.service.local A\` for ${NAMES} ` +
      `services of one instance (zone answers), and \`hN.example.test A\` for ${NAMES} names dnsmasq serves with TTL ${UPSTREAM_TTL} s, ` +
      `each asked once through Signpost before the runs (cached forwarded answers). Both answers hold one A record. ` +
      `The two loads alternate so that other work on the machine weighs on both alike: compare the medians, not single runs.`,
    '',
    'Medians:',
    '',
    markdownTable(medianHeader, medianRows),
    '',
    ...summary.map((line) => `- ${line}`),
    '',
    `Coalescing: a Signpost forwarding to a counting upstream (in the benchmark process) that answers after a fixed delay; ` +
      `${BURSTS} bursts per delay of ${BURST_SIZE} identical \`A\` questions for a name not yet cached, sent back to back from ` +
      `${BURST_SOCKETS} UDP sockets. The answers have TTL 0, so nothing is cached and every saved query was saved by coalescing. ` +
      `"Upstream queries" is what the upstream received for those names; without coalescing it would equal "questions".`,
    '',
    markdownTable(burstHeader, burstRows),
    '',
    'Runs:',
    '',
    markdownTable(runHeader, runRows),
    '',
  ].join('\n');
  return { console: consoleText, markdown };
}

stopOnInterrupt(() => stopAllAndRemove(workDir));

await main();
