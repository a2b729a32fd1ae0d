// HTTP benchmark of the durable store, reported in BENCHMARKS.md "## Durable store".
//
// Against `signpost serve` as a child process, with its default store (SQLite, fsync per commit)
// in a fresh data directory under the OS temp dir, and against a bare fastify server
// (bench/http-bare.ts) whose routes only answer 200, in the same run, ROUNDS rounds alternating the two:
//  - durable registrations/s: CONNECTIONS autocannon connections, each request a PUT of the next of
//    INSTANCES instance ids (spread over SERVICES services), each a new body, so each one is a write;
//  - heartbeats/s: the same connections renewing those INSTANCES registered instances;
//  - CPU per request of each server process (utime + stime, all threads, from /proc), which other
//    load on the machine disturbs less than requests per second;
//  - DNS latency while each Signpost load runs and while idle (a query every PROBE_INTERVAL_MS, few
//    enough not to slow the load): the store's fsyncs must not hold up DNS answers;
//  - start-up: spawn to "signpost ready" with STARTUP_INSTANCES stored across STARTUP_SERVICES.
//
// Run: npm run bench:http [-- --duration SECONDS --rounds N]
import autocannon from 'autocannon';
import dgram from 'node:dgram';
import { mkdtempSync, statSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DATABASE_FILE, SqliteStore } from '../src/store/sqlite.ts';
import {
  CLOCK_TICKS_PER_SECOND,
  HOST,
  ROOT,
  cpuTicks,
  launch,
  launchSignpost,
  median,
  percentile,
  portOf,
  stop,
  stopAllAndRemove,
  stopOnInterrupt,
  type Launched,
} from './lib.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' } } });
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const WARMUP = 2;
const CONNECTIONS = 64;
const INSTANCES = 10_000;
const SERVICES = 100;
const STARTUP_INSTANCES = 100_000;
const STARTUP_SERVICES = 10_000;
const STARTUP_RUNS = 3;
const LOST_AFTER_MS = 1000;
const PROBE_INTERVAL_MS = 5;

const scratch = mkdtempSync(join(tmpdir(), 'signpost-bench-http-'));

/** A server under load: its process, its HTTP base URL and (Signpost's) DNS port. */
interface Target {
  pid: number;
  url: string;
  dnsPort?: number;
}

const startSignpost = (dataDir: string) => launchSignpost('Signpost', ['--data-dir', dataDir]);

async function startBare(): Promise<Launched & Target> {
  const bare = await launch('bare fastify', [join(ROOT, 'bench/http-bare.ts')], 'bare ready');
  return { ...bare, url: `http://${HOST}:${portOf(bare.ready.http)}` };
}

/** CPU seconds (user + system, every thread) the process has used so far. */
const cpuSeconds = (pid: number) => cpuTicks(pid) / CLOCK_TICKS_PER_SECOND;

const instancePath = (i: number) => `/v1/services/svc-${i % SERVICES}/instances/i-${i}`;

function registration(i: number, version: number) {
  return {
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8000 + (i % 1000),
    ttl: 3600,
    tags: ['blue'],
    meta: { version: String(version) },
  };
}

type Load = (url: string) => autocannon.Options;

let registrationsSent = 0;
const registrations: Load = (url) => ({
  url,
  requests: [
    {
      method: 'PUT',
      setupRequest: (request) => {
        const version = registrationsSent++;
        const i = version % INSTANCES;
        return {
          ...request,
          path: instancePath(i),
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(registration(i, version)),
        };
      },
    },
  ],
});

const heartbeats: Load = (url) => {
  let sent = 0;
  return {
    url,
    requests: [{ method: 'PUT', setupRequest: (request) => ({ ...request, path: `${instancePath(sent++ % INSTANCES)}/heartbeat` }) }],
  };
};

interface Measured {
  perSecond: number;
  /** Server CPU per answered request, µs. */
  cpuUs: number;
  p50: number;
  p99: number;
}

async function run(load: Load, target: Target, options: { duration?: number; amount?: number }): Promise<Measured> {
  const cpuBefore = cpuSeconds(target.pid);
  const result = await autocannon({ ...load(target.url), connections: CONNECTIONS, ...options });
  const cpu = cpuSeconds(target.pid) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${target.url}: ${result.errors} errors, ${result.non2xx} non-2xx answers: ${JSON.stringify(result.statusCodeStats)}`);
  }
  const answered = result['2xx'];
  return { perSecond: answered / result.duration, cpuUs: (cpu * 1e6) / answered, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Measures `load` for DURATION seconds after a WARMUP, with DNS latencies sampled meanwhile into `dns`. */
async function measure(load: Load, target: Target, dns?: number[]): Promise<Measured> {
  await run(load, target, { duration: WARMUP });
  const prober = dns ? probeDns(target.dnsPort!, dns) : undefined;
  const measured = await run(load, target, { duration: DURATION });
  await prober?.stop();
  return measured;
}

/** Sends a `svc-0.service.local A` query every PROBE_INTERVAL_MS (one at a time) until stopped; latencies in ms. */
function probeDns(port: number, latencies: number[]): { stop(): Promise<void> } {
  const socket = dgram.createSocket('udp4');
  const query = Buffer.from([
    0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    5, ...Buffer.from('svc-0'), 7, ...Buffer.from('service'), 5, ...Buffer.from('local'), 0,
    0, 1, 0, 1,
  ]);
  let stopping = false;
  const answered = (id: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), LOST_AFTER_MS);
      const onMessage = (reply: Buffer) => reply.readUInt16BE(0) === id && finish(true);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve(ok);
      };
      socket.on('message', onMessage);
    });
  const done = (async () => {
    for (let id = 1; !stopping; id = (id + 1) & 0xffff) {
      query.writeUInt16BE(id, 0);
      const sentAt = performance.now();
      const reply = answered(id);
      socket.send(query, port, HOST);
      // A lost query counts as the longest wait: it shows in the maximum.
      latencies.push((await reply) ? performance.now() - sentAt : LOST_AFTER_MS);
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - sentAt)));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
      socket.close();
    },
  };
}

/** Writes STARTUP_INSTANCES registrations straight through the store, in one transaction. */
async function populate(dataDir: string): Promise<void> {
  const store = await SqliteStore.open(dataDir);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < STARTUP_INSTANCES; i++) {
    writes.push(
      store.put({ service: `svc-${i % STARTUP_SERVICES}`, id: `i-${i}`, weight: 100, priority: 0, ...registration(i, 1), meta: { version: '1.2.3', zone: 'a' } }),
    );
  }
  await Promise.all(writes);
  await store.close();
}

const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const dnsCell = (ms: number[]) =>
  `${fixed(percentile(ms, 50), 2)} / ${fixed(percentile(ms, 99), 2)} / ${fixed(Math.max(...ms), 1)} (${fixed(ms.length)} queries)`;
const loads = () => loadavg().map((load) => load.toFixed(2)).join(' ');

stopOnInterrupt(() => stopAllAndRemove(scratch));

try {
  console.log(`# ${cpus().length} × ${cpus()[0].model}, Linux ${release()}, Node ${process.version}`);
  console.log(`# ${CONNECTIONS} connections; ${ROUNDS} rounds; each load ${DURATION} s after a ${WARMUP} s warm-up; load average at start: ${loads()}`);
  const bare = await startBare();
  const signpost = await startSignpost(join(scratch, 'load'));
  const dns = { idle: [] as number[], registrations: [] as number[], heartbeats: [] as number[] };
  const idle = probeDns(signpost.dnsPort, dns.idle);
  await sleep(DURATION * 1000);
  await idle.stop();
  // Every instance registered, so that each heartbeat finds its instance.
  await run(registrations, signpost, { amount: INSTANCES });

  const kinds = ['registrations', 'heartbeats'] as const;
  const results = { bare: { registrations: [] as Measured[], heartbeats: [] as Measured[] }, signpost: { registrations: [] as Measured[], heartbeats: [] as Measured[] } };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) {
      const load = kind === 'registrations' ? registrations : heartbeats;
      results.bare[kind].push(await measure(load, bare));
      results.signpost[kind].push(await measure(load, signpost, dns[kind]));
    }
  }
  await Promise.all([stop(bare.child), stop(signpost.child)]);

  console.log('\nMedians:\n');
  console.log('| load | bare fastify req/s | Signpost req/s | ratio | bare CPU µs/req | Signpost CPU µs/req | Signpost latency p50 / p99 ms | DNS latency meanwhile p50 / p99 / max ms |');
  console.log('| --- | --: | --: | --: | --: | --: | --: | --- |');
  for (const kind of kinds) {
    const base = results.bare[kind];
    const ours = results.signpost[kind];
    const name = kind === 'registrations' ? 'durable registrations (PUT)' : 'heartbeats (PUT …/heartbeat)';
    const perSecond = median(ours.map((m) => m.perSecond));
    const basePerSecond = median(base.map((m) => m.perSecond));
    console.log(
      `| ${name} | ${fixed(basePerSecond)} | ${fixed(perSecond)} | ${fixed(perSecond / basePerSecond, 2)} | ` +
        `${fixed(median(base.map((m) => m.cpuUs)))} | ${fixed(median(ours.map((m) => m.cpuUs)))} | ` +
        `${median(ours.map((m) => m.p50))} / ${median(ours.map((m) => m.p99))} | ${dnsCell(dns[kind])} |`,
    );
  }
  console.log(`| idle | | | | | | | ${dnsCell(dns.idle)} |`);

  console.log('\nRuns:\n');
  console.log('| round | load | server | req/s | CPU µs/req | latency p50 / p99 ms |');
  console.log('| --- | --- | --- | --: | --: | --: |');
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) {
      for (const server of ['bare', 'signpost'] as const) {
        const m = results[server][kind][round];
        console.log(`| ${round + 1} | ${kind} | ${server === 'bare' ? 'bare fastify' : 'Signpost'} | ${fixed(m.perSecond)} | ${fixed(m.cpuUs)} | ${m.p50} / ${m.p99} |`);
      }
    }
  }

  const startupDir = join(scratch, 'startup');
  const populateStart = performance.now();
  await populate(startupDir);
  const populateMs = performance.now() - populateStart;
  const size = statSync(join(startupDir, DATABASE_FILE)).size;
  const times: number[] = [];
  for (let run = 0; run < STARTUP_RUNS; run++) {
    const started = await startSignpost(startupDir);
    if (started.ready.restored !== STARTUP_INSTANCES) throw new Error(`restored ${started.ready.restored}, expected ${STARTUP_INSTANCES}`);
    times.push(started.readyMs);
    await stop(started.child);
  }
  const empty = await startSignpost(join(scratch, 'empty'));
  await stop(empty.child);
  console.log(
    `\nStart-up with ${fixed(STARTUP_INSTANCES)} instances across ${fixed(STARTUP_SERVICES)} services ` +
      `(${fixed(size / 1024 / 1024, 1)} MiB, written in ${fixed(populateMs)} ms): ` +
      `${times.map((ms) => `${fixed(ms)} ms`).join(', ')} to ready (median ${fixed(median(times))} ms); empty data dir: ${fixed(empty.readyMs)} ms`,
  );
  console.log(`\n# load average at end: ${loads()}`);
} finally {
  await stopAllAndRemove(scratch);
}
