// Watchers at scale: how long one change takes to reach every open watcher.
//
// Against `signpost serve` (SQLite store; --max-watches and --http-max-connections raised to hold
// them) pinned to CPU 1, with CLIENTS client processes (bench/watchers-client.ts, raw keep-alive
// sockets, each from its own loopback address) on CPU 0 beside this process. For each number of
// watchers in SIZES and each kind:
//  - sse:    `GET /v1/watch` event streams;
//  - consul: Consul blocking queries, `GET /v1/health/service/probe?index=N&wait=120s`;
//  - native: Signpost's blocking queries, `GET /v1/services/probe?index=N&wait=120`;
// ROUNDS changes (a registration of a new instance of `probe`), each timed from just before its
// PUT is sent to the arrival of the event (sse) or of the first byte of the released answer
// (blocking) on every watcher. Also the server's RSS with the watchers open, and its CPU per change.
//
//   flock /tmp/bench.lock npm run bench:watchers [-- --write]
//   env: BENCH_SIZES (1000,5000,10000), BENCH_ROUNDS (5), BENCH_KINDS (sse,consul,native)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CLOCK_TICKS_PER_SECOND,
  NODE,
  ROOT,
  cpuTicks,
  launchSignpost,
  markdownTable,
  percentile,
  pinToCpu,
  positiveInteger,
  stopAllAndRemove,
  stopOnInterrupt,
  track,
  writeSection,
} from './lib.ts';

const HEADING = '## Watchers at scale';
const WRITE = process.argv.includes('--write');
const SIZES = (process.env.BENCH_SIZES ?? '1000,5000,10000').split(',').map(Number);
const KINDS = (process.env.BENCH_KINDS ?? 'sse,consul,native').split(',') as Kind[];
const ROUNDS = positiveInteger('BENCH_ROUNDS', 5);
const CLIENTS = 4;
const TARGET_P99_MS = 200;
const SERVER_CPU = 1;
const BENCH_CPU = 0;
type Kind = 'sse' | 'consul' | 'native';
const KIND_NAMES: Record<Kind, string> = {
  sse: 'event streams (`GET /v1/watch`)',
  consul: 'Consul blocking queries (`/v1/health/service/:name?index&wait`)',
  native: 'blocking queries (`/v1/services/:name?index&wait`)',
};

const scratch = mkdtempSync(join(tmpdir(), 'signpost-bench-watchers-'));
stopOnInterrupt(() => stopAllAndRemove(scratch));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** One client process and its replies, in order. */
class Client {
  readonly child: ChildProcess;
  readonly #replies: Array<Record<string, unknown>> = [];
  readonly #waiting: Array<(reply: Record<string, unknown>) => void> = [];

  constructor(kind: Kind, port: number, count: number, localAddress: string) {
    this.child = track(spawn(NODE, [join(ROOT, 'bench/watchers-client.ts'), kind, String(port), String(count), localAddress], { stdio: ['pipe', 'pipe', 'inherit'] }));
    pinToCpu(this.child.pid!, BENCH_CPU);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Record<string, unknown>;
      const waiter = this.#waiting.shift();
      if (waiter) waiter(reply);
      else this.#replies.push(reply);
    });
  }

  send(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  next(op: string): Promise<Record<string, unknown>> {
    const reply = this.#replies.shift();
    const got = reply ? Promise.resolve(reply) : new Promise<Record<string, unknown>>((resolve) => this.#waiting.push(resolve));
    return got.then((r) => {
      if (r.op !== op) throw new Error(`expected ${op}, got ${JSON.stringify(r)}`);
      return r;
    });
  }
}

interface Result {
  kind: Kind;
  watchers: number;
  latencies: number[];
  missing: number;
  rssBefore: number;
  rssOpen: number;
  cpuMsPerChange: number;
  openSeconds: number;
}

async function json(url: string, init?: RequestInit): Promise<{ body: unknown; headers: Headers }> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
  return { body: await response.json(), headers: response.headers };
}

async function openWatches(url: string): Promise<number> {
  return ((await json(`${url}/healthz`)).body as { watches: { open: number } }).watches.open;
}

let probe = 0;
const register = (url: string) =>
  json(`${url}/v1/services/probe/instances/probe-${++probe}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: '10.0.0.1', port: 1000 + (probe % 60000), ttl: 3600 }),
  });

async function indexOf(url: string, kind: Kind): Promise<number> {
  if (kind === 'consul') return Number((await json(`${url}/v1/health/service/probe`)).headers.get('x-consul-index'));
  return Number((await json(`${url}/v1/services/probe`)).headers.get('x-signpost-index'));
}

async function measure(signpost: { url: string; pid: number; httpPort: number }, kind: Kind, size: number): Promise<Result> {
  const rssBefore = rssMiB(signpost.pid);
  const openStart = now();
  const clients = Array.from({ length: CLIENTS }, (_, k) => new Client(kind, signpost.httpPort, Math.round(size / CLIENTS), `127.0.0.${10 + k}`));
  const total = clients.length * Math.round(size / CLIENTS);
  await Promise.all(clients.map((client) => client.next('ready')));
  const openSeconds = (now() - openStart) / 1000;
  const latencies: number[] = [];
  let missing = 0;
  let cpuTicksSpent = 0;
  let rssOpen = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let marker = '';
    if (kind === 'sse') {
      marker = `"probe-${probe + 1}"`;
      for (const client of clients) client.send({ op: 'arm', marker });
      await Promise.all(clients.map((client) => client.next('armed')));
      if (round === 0) rssOpen = rssMiB(signpost.pid);
    } else {
      const index = await indexOf(signpost.url, kind);
      for (const client of clients) client.send({ op: 'hold', index });
      await Promise.all(clients.map((client) => client.next('sent')));
      // Held once the server counts them all.
      const holdStart = now();
      for (let open = 0; (open = await openWatches(signpost.url)) < total; await sleep(20)) {
        if (now() - holdStart > 120_000) throw new Error(`${kind}: only ${open} of ${total} queries held after 120 s`);
      }
      if (round === 0) rssOpen = rssMiB(signpost.pid);
    }
    await sleep(200);
    const cpuBefore = cpuTicks(signpost.pid);
    const sentAt = now();
    await register(signpost.url);
    const arrivals = await Promise.all(clients.map((client) => client.next('arrivals')));
    cpuTicksSpent += cpuTicks(signpost.pid) - cpuBefore;
    for (const arrival of arrivals) {
      for (const time of arrival.times as number[]) latencies.push(time - sentAt);
      missing += arrival.missing as number;
    }
  }
  for (const client of clients) client.send({ op: 'close' });
  await Promise.all(clients.map((client) => new Promise((resolve) => client.child.once('exit', resolve))));
  while ((await openWatches(signpost.url)) > 0) await sleep(50);
  return { kind, watchers: total, latencies, missing, rssBefore, rssOpen, cpuMsPerChange: (cpuTicksSpent * 1000) / CLOCK_TICKS_PER_SECOND / ROUNDS, openSeconds };
}

const loadAverage = () => loadavg().map((load) => load.toFixed(2)).join(' ');
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

try {
  pinToCpu(process.pid, BENCH_CPU);
  const header = `${cpus().length} × ${cpus()[0].model}, Linux ${release()}, Node ${process.version}`;
  const loadAtStart = loadAverage();
  console.log(`# ${header}; load average at start: ${loadAtStart}`);
  const most = Math.max(...SIZES) + 1000;
  const flags = ['--data-dir', join(scratch, 'data'), '--max-watches', String(most), '--http-max-connections', String(most), '--http-max-event-loop-delay', '0',
    // A held query's socket is idle between rounds while the others are timed: not closed meanwhile.
    '--http-keep-alive-timeout', '300s'];
  // BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile there when it stops (node --cpu-prof).
  const signpost = await launchSignpost('Signpost', flags, process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []);
  pinToCpu(signpost.pid, SERVER_CPU);
  await register(signpost.url);
  const results: Result[] = [];
  for (const kind of KINDS) {
    for (const size of SIZES) {
      const result = await measure(signpost, kind, size);
      results.push(result);
      console.log(
        `${kind} ${fixed(result.watchers)}: p50 ${fixed(percentile(result.latencies, 50), 1)} ms, p99 ${fixed(percentile(result.latencies, 99), 1)} ms, ` +
          `max ${fixed(Math.max(...result.latencies), 1)} ms, missing ${result.missing}; server CPU ${fixed(result.cpuMsPerChange)} ms a change; ` +
          `RSS ${fixed(result.rssBefore)} → ${fixed(result.rssOpen)} MiB (${fixed(((result.rssOpen - result.rssBefore) * 1024 * 1024) / result.watchers)} bytes a watcher); opened in ${fixed(result.openSeconds, 1)} s`,
      );
    }
  }
  const rows = results.map((result) => [
    KIND_NAMES[result.kind],
    fixed(result.watchers),
    fixed(percentile(result.latencies, 50), 1),
    fixed(percentile(result.latencies, 99), 1),
    fixed(Math.max(...result.latencies), 1),
    String(result.missing),
    fixed(result.cpuMsPerChange),
    fixed(((result.rssOpen - result.rssBefore) * 1024) / result.watchers, 1),
  ]);
  const table = markdownTable(['watchers', 'open', 'p50 ms', 'p99 ms', 'max ms', 'not reached', 'server CPU ms a change', 'server RSS KiB a watcher'], rows);
  console.log(`\n${table}`);
  if (WRITE) {
    writeSection(
      HEADING,
      [
        HEADING,
        '',
        `Command: \`flock /tmp/bench.lock npm run bench:watchers -- --write\` (bench/watchers.ts, clients bench/watchers-client.ts). Date: ${new Date().toISOString().slice(0, 10)}. ` +
          `Machine: ${header}; the server pinned to CPU ${SERVER_CPU} (all its threads), the ${CLIENTS} client processes and the bench to CPU ${BENCH_CPU}; other work shares the machine (load average ${loadAtStart} at the start, ${loadAverage()} at the end).`,
        '',
        `Each row: that many watchers open at once (${CLIENTS} client processes, raw keep-alive sockets, each process from its own loopback address), then ${ROUNDS} changes one after another ` +
          `(a registration of a new instance of the watched service, SQLite store, so each includes its fsynced commit), each timed from just before its PUT is sent to its arrival on every watcher ` +
          `(the event on a stream; the first byte of the released answer of a blocking query, each waiting with the index it last had). Latencies over all watchers and changes; target p99 < ${TARGET_P99_MS} ms. ` +
          `Server CPU: utime + stime over the change's fan-out (10 ms ticks). RSS: the server's growth from no watchers to all open, per watcher.`,
        '',
        table,
      ].join('\n'),
    );
  }
} finally {
  await stopAllAndRemove(scratch);
}
