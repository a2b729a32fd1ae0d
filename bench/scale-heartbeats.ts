// Heartbeats at scale: can one node keep a million leases alive?
//
// A million instances with ttl 30 need about 33,000 renewals a second. Against `signpost serve`
// (its default SQLite store) restored from a data directory holding INSTANCES instances (10,000
// services), and a bare fastify server (bench/http-bare.ts) in the same run:
//  1. Sustained: the instances registered with ttl 30; `PUT /v1/heartbeats` batches of
//     SUSTAIN_BATCH renewing every instance in turn at the rate a ttl asks for (INSTANCES / 30 a
//     second, plus 10%), for SUSTAIN_SECONDS (two ttls): leases that lapsed (health events; none
//     may), and the server's CPU at that rate.
//  2. Most renewals a second, a fresh server with BENCH_THROUGHPUT_INSTANCES of ttl 3600 (nothing lapses
//     whatever the rate): batches of each size in BATCHES, and one `PUT …/heartbeat` per instance,
//     alternating with the bare routes (same paths, no work: the HTTP and JSON floor).
// The server runs on CPU 1 (all its threads), this process (autocannon) on CPU 0.
//
//   flock /tmp/bench.lock npm run bench:heartbeats [-- --write]
//   env: BENCH_INSTANCES (1000000), BENCH_SECONDS (8, each throughput load), BENCH_ROUNDS (2)
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.ts';
import {
  CLOCK_TICKS_PER_SECOND,
  HOST,
  ROOT,
  cpuTicks,
  launch,
  launchSignpost,
  markdownTable,
  median,
  pinToCpu,
  portOf,
  positiveInteger,
  stop,
  stopAllAndRemove,
  stopOnInterrupt,
  writeSection,
} from './lib.ts';

const HEADING = '## Heartbeats at scale';
const WRITE = process.argv.includes('--write');
const INSTANCES = positiveInteger('BENCH_INSTANCES', 1_000_000);
/** The throughput runs renew fewer (ttl 3600): the per-renewal cost is a few map lookups, and writing a second million costs minutes. */
const THROUGHPUT_INSTANCES = positiveInteger('BENCH_THROUGHPUT_INSTANCES', 200_000);
/** Restoring a million instances takes tens of seconds. */
const START_TIMEOUT_MS = 300_000;
const SERVICES = 10_000;
const DURATION = positiveInteger('BENCH_SECONDS', 8);
const ROUNDS = positiveInteger('BENCH_ROUNDS', 2);
const WARMUP_SECONDS = 2;
const TTL = 30;
/** What a million instances with ttl 30 need: the target, whatever BENCH_INSTANCES is. */
const TARGET_PER_SECOND = 1_000_000 / TTL;
const SUSTAIN_BATCH = 1000;
const SUSTAIN_SECONDS = 2 * TTL;
const BATCHES = [100, 1000, 10_000];
/** Connections: enough to keep the server busy while one answer travels. */
const SINGLE_CONNECTIONS = 64;
const BATCH_CONNECTIONS = 4;
/** One answer in this many is parsed and checked: every entry renewed (no 404, no error). */
const CHECK_EVERY = 25;
const SERVER_CPU = 1;
const BENCH_CPU = 0;

const scratch = mkdtempSync(join(tmpdir(), 'signpost-bench-heartbeats-'));
stopOnInterrupt(() => stopAllAndRemove(scratch));

const service = (i: number) => `svc-${i % SERVICES}`;
const id = (i: number) => `i-${i}`;

/** Writes `count` registrations with `ttl` straight through the store, a chunk at a time. */
async function populate(dataDir: string, ttl: number, count: number): Promise<number> {
  const started = performance.now();
  const store = await SqliteStore.open(dataDir);
  const CHUNK = 50_000;
  for (let from = 0; from < count; from += CHUNK) {
    const writes: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(count, from + CHUNK); i++) {
      writes.push(
        store.put({
          service: service(i),
          id: id(i),
          address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          port: 8000 + (i % 1000),
          weight: 100,
          priority: 0,
          ttl,
          tags: ['blue'],
          meta: { version: '1.2.3' },
          maintenance: null,
        }),
      );
    }
    await Promise.all(writes);
  }
  await store.close();
  return performance.now() - started;
}

interface Target {
  name: string;
  pid: number;
  url: string;
}

async function startSignpost(dataDir: string, count: number): Promise<Target & { readyMs: number; child: import('node:child_process').ChildProcess }> {
  // No overload guard: on a shared machine it would answer 503 under the very load being measured.
  const launched = await launchSignpost('Signpost', ['--data-dir', dataDir, '--http-max-event-loop-delay', '0'], [], START_TIMEOUT_MS);
  if (launched.ready.restored !== count) throw new Error(`restored ${launched.ready.restored}, expected ${count}`);
  pinToCpu(launched.pid, SERVER_CPU);
  return { name: 'Signpost', pid: launched.pid, url: launched.url, readyMs: launched.readyMs, child: launched.child };
}

async function startBare() {
  const bare = await launch('bare fastify', [join(ROOT, 'bench/http-bare.ts')], 'bare ready');
  pinToCpu(bare.pid, SERVER_CPU);
  return { name: 'bare fastify', pid: bare.pid, url: `http://${HOST}:${portOf(bare.ready.http)}`, child: bare.child };
}

/** Batch bodies renewing each of `count` instances in turn, `size` a request; built once, cycled through. */
function batchBodies(size: number, count: number): string[] {
  const bodies: string[] = [];
  for (let from = 0; from < count; from += size) {
    const instances = [];
    for (let i = from; i < Math.min(count, from + size); i++) instances.push({ service: service(i), id: id(i) });
    bodies.push(JSON.stringify({ instances }));
  }
  return bodies;
}

interface Load {
  /** Instances one request renews. */
  perRequest: number;
  connections: number;
  options(): Partial<autocannon.Options>;
}

function batchLoad(size: number, bodies = batchBodies(size, THROUGHPUT_INSTANCES)): Load {
  let next = 0;
  let answered = 0;
  return {
    perRequest: size,
    connections: BATCH_CONNECTIONS,
    options: () => ({
      requests: [
        {
          method: 'PUT',
          path: '/v1/heartbeats',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
          onResponse: (status, body) => {
            if (answered++ % CHECK_EVERY !== 0 || status !== 200) return;
            const { results } = JSON.parse(body) as { results: Array<{ error?: number; status?: string }> };
            const failed = results.filter((result) => result.error !== undefined || result.status === undefined);
            if (results.length !== size || failed.length > 0) throw new Error(`a batch of ${size} answered ${results.length} results, ${failed.length} not renewed: ${JSON.stringify(failed[0])}`);
          },
        },
      ],
    }),
  };
}

function singleLoad(): Load {
  let next = 0;
  return {
    perRequest: 1,
    connections: SINGLE_CONNECTIONS,
    options: () => ({
      requests: [{ method: 'PUT', setupRequest: (request) => { const i = next++ % THROUGHPUT_INSTANCES; return { ...request, path: `/v1/services/${service(i)}/instances/${id(i)}/heartbeat` }; } }],
    }),
  };
}

interface Measured {
  renewalsPerSecond: number;
  requestsPerSecond: number;
  /** Server CPU per renewal, µs. */
  cpuUs: number;
  /** Share of one core the server used. */
  cpuShare: number;
  p50: number;
  p99: number;
}

async function run(target: Target, load: Load, options: Partial<autocannon.Options>, { tolerateErrors = false } = {}): Promise<Measured> {
  const before = cpuTicks(target.pid);
  const result = await autocannon({ url: target.url, connections: load.connections, ...load.options(), ...options });
  const cpu = (cpuTicks(target.pid) - before) / CLOCK_TICKS_PER_SECOND;
  if (result.non2xx > 0 || (result.errors > 0 && !tolerateErrors)) {
    throw new Error(`${target.name}: ${result.errors} errors, ${result.non2xx} non-2xx answers: ${JSON.stringify(result.statusCodeStats)}`);
  }
  const requests = result['2xx'];
  const renewals = requests * load.perRequest;
  return {
    renewalsPerSecond: renewals / result.duration,
    requestsPerSecond: requests / result.duration,
    cpuUs: (cpu * 1e6) / renewals,
    cpuShare: cpu / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

async function serverFigures(url: string): Promise<{ health: number; heartbeats: number; critical: number }> {
  const status = (await (await fetch(`${url}/v1/server`)).json()) as {
    registry: { events: { health: number }; heartbeats: number; instances: Record<string, number> };
  };
  return { health: status.registry.events.health, heartbeats: status.registry.heartbeats, critical: status.registry.instances.critical ?? 0 };
}

const loadAverage = () => loadavg().map((load) => load.toFixed(2)).join(' ');
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rssMiB = (pid: number) => {
  const status = spawnSync('grep', ['VmRSS', `/proc/${pid}/status`], { encoding: 'utf8' }).stdout;
  return Number(/(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};

try {
  pinToCpu(process.pid, BENCH_CPU);
  const header = `${cpus().length} × ${cpus()[0].model}, Linux ${release()}, Node ${process.version}, autocannon ${(await import('autocannon/package.json', { with: { type: 'json' } })).default.version}`;
  const loadAtStart = loadAverage();
  console.log(`# ${header}; load average at start: ${loadAtStart}`);

  // 1. A million leases of ttl 30 kept alive at the rate they need.
  const sustainDir = join(scratch, 'ttl30');
  const populateMs = await populate(sustainDir, TTL, INSTANCES);
  console.log(`# populated ${fixed(INSTANCES)} instances (ttl ${TTL}) in ${fixed(populateMs)} ms`);
  console.log('# building the request bodies');
  const sustainBodies = batchBodies(SUSTAIN_BATCH, INSTANCES);
  const signpost30 = await startSignpost(sustainDir, INSTANCES);
  const rss = rssMiB(signpost30.pid);
  console.log(`# Signpost ready in ${fixed(signpost30.readyMs)} ms, RSS ${fixed(rss)} MiB`);
  const neededPerSecond = INSTANCES / TTL;
  const sustainRate = Math.ceil((neededPerSecond * 1.1) / SUSTAIN_BATCH);
  // A first cycle through every instance, not measured: restoring started the leases over several
  // seconds, before this could renew any. From then on, each is renewed every ttl / 1.1.
  const sustainLoad = batchLoad(SUSTAIN_BATCH, sustainBodies);
  // Right after restoring a million, the server collects its start-up garbage: a request may time out then.
  await run(signpost30, sustainLoad, { overallRate: sustainRate, duration: TTL }, { tolerateErrors: true });
  const before = await serverFigures(signpost30.url);
  const sustained = await run(signpost30, sustainLoad, { overallRate: sustainRate, duration: SUSTAIN_SECONDS });
  const after = await serverFigures(signpost30.url);
  const lapsed = after.health - before.health;
  console.log(
    `sustained: ${fixed(sustained.renewalsPerSecond)} renewals/s (needed ${fixed(neededPerSecond)}) for ${SUSTAIN_SECONDS} s, ` +
      `server CPU ${fixed(sustained.cpuShare * 100)}% of a core, ${fixed(sustained.cpuUs, 1)} µs/renewal, p50/p99 ${sustained.p50}/${sustained.p99} ms; ` +
      `health events ${lapsed}, critical now ${after.critical}, heartbeats counted ${fixed(after.heartbeats - before.heartbeats)}`,
  );
  await stop(signpost30.child);

  // 2. Most renewals a second, against the bare routes.
  const throughputDir = join(scratch, 'ttl3600');
  await populate(throughputDir, 3600, THROUGHPUT_INSTANCES);
  const signpost = await startSignpost(throughputDir, THROUGHPUT_INSTANCES);
  const bare = await startBare();
  const loads: Array<{ name: string; load: Load }> = [
    { name: 'one `PUT …/heartbeat` per instance', load: singleLoad() },
    ...BATCHES.map((size) => ({ name: `\`PUT /v1/heartbeats\`, ${fixed(size)} a request`, load: batchLoad(size) })),
  ];
  const results = loads.map(() => ({ bare: [] as Measured[], signpost: [] as Measured[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, { name, load }] of loads.entries()) {
      for (const target of [bare, signpost]) {
        await run(target, load, { duration: WARMUP_SECONDS });
        const measured = await run(target, load, { duration: DURATION });
        results[i][target === bare ? 'bare' : 'signpost'].push(measured);
        console.log(`round ${round + 1} | ${name} | ${target.name} | ${fixed(measured.renewalsPerSecond)} renewals/s | ${fixed(measured.requestsPerSecond)} req/s | ${fixed(measured.cpuUs, 1)} µs/renewal | p50/p99 ${measured.p50}/${measured.p99} ms`);
      }
    }
  }
  const final = await serverFigures(signpost.url);
  await Promise.all([stop(signpost.child), stop(bare.child)]);

  const rows = loads.map(({ name }, i) => {
    const ours = results[i].signpost;
    const base = results[i].bare;
    const perSecond = median(ours.map((m) => m.renewalsPerSecond));
    const basePerSecond = median(base.map((m) => m.renewalsPerSecond));
    return [
      name,
      fixed(basePerSecond),
      fixed(perSecond),
      fixed(perSecond / basePerSecond, 2),
      fixed(perSecond / TARGET_PER_SECOND, 2),
      fixed(median(base.map((m) => m.cpuUs)), 1),
      fixed(median(ours.map((m) => m.cpuUs)), 1),
      `${median(ours.map((m) => m.p50))} / ${median(ours.map((m) => m.p99))}`,
      ours.map((m) => fixed(m.renewalsPerSecond)).join(', '),
    ];
  });
  const table = markdownTable(
    ['load', 'bare fastify renewals/s', 'Signpost renewals/s', 'ratio', '× the 33,333/s a million ttl-30 leases need', 'bare CPU µs/renewal', 'Signpost CPU µs/renewal', 'Signpost latency p50 / p99 ms', 'Signpost runs'],
    rows,
  );
  console.log(`\n${table}\n`);
  console.log(`critical instances at the end of the throughput runs: ${final.critical} (ttl 3600: none may lapse)`);
  if (WRITE) {
    writeSection(
      HEADING,
      [
        HEADING,
        '',
        `Command: \`flock /tmp/bench.lock npm run bench:heartbeats -- --write\` (bench/scale-heartbeats.ts; the baseline is bench/http-bare.ts). ` +
          `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${header}; the server pinned to CPU ${SERVER_CPU} (all its threads), autocannon (this process) to CPU ${BENCH_CPU}; other work shares the machine (load average ${loadAtStart} at the start, ${loadAverage()} at the end).`,
        '',
        `${fixed(INSTANCES)} instances across ${fixed(SERVICES)} services, written to a fresh data directory through the store and restored by \`signpost serve\` (SQLite store, defaults; ready in ${fixed(signpost30.readyMs)} ms, RSS ${fixed(rss)} MiB).`,
        '',
        `**Sustained, ttl ${TTL}**: every instance renewed in turn by \`PUT /v1/heartbeats\` batches of ${fixed(SUSTAIN_BATCH)} at ${sustainRate} requests a second ` +
          `(${fixed(sustainRate * SUSTAIN_BATCH)} renewals/s: the ${fixed(neededPerSecond)}/s the leases need, plus 10%), one ttl unmeasured (restoring started the leases over several seconds), then ${SUSTAIN_SECONDS} s measured: ` +
          `${fixed(sustained.renewalsPerSecond)} renewals/s answered, **${lapsed} leases lapsed** (health events), the server at ${fixed(sustained.cpuShare * 100)}% of one core ` +
          `(${fixed(sustained.cpuUs, 1)} µs a renewal), latency p50 / p99 ${sustained.p50} / ${sustained.p99} ms.`,
        '',
        `**Most renewals a second** (a fresh server with ${fixed(THROUGHPUT_INSTANCES)} instances of ttl 3600, so that none lapses at any rate), ${ROUNDS} rounds alternating Signpost and the bare routes, each load ${DURATION} s after a ${WARMUP_SECONDS} s warm-up; ` +
          `${SINGLE_CONNECTIONS} connections for single heartbeats, ${BATCH_CONNECTIONS} for batches. One answer in ${CHECK_EVERY} is parsed and checked: every entry renewed. Medians:`,
        '',
        table,
      ].join('\n'),
    );
  }
} finally {
  await stopAllAndRemove(scratch);
}
