// DNS query throughput: Signpost against a bare Node UDP server (bench/baseline-server.ts), both
// loaded by dnsperf over loopback with the same query file, in alternating runs.
//
//   npm run bench                 print the runs, the medians and the Signpost/baseline ratio
//   npm run bench -- --write      also put those numbers into BENCHMARKS.md
//
// BENCH_SECONDS (default 10) is the length of one dnsperf run, BENCH_ROUNDS (default 3) the
// number of baseline+Signpost pairs. Both servers run as child processes on the project's Node;
// their CPU time per answered query is read from /proc. Traffic stays on 127.0.0.1.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const HOST = '127.0.0.1';
const SECTION_HEADING = '## DNS query throughput (issue 2)';

const SECONDS = positiveInteger('BENCH_SECONDS', 10);
const ROUNDS = positiveInteger('BENCH_ROUNDS', 3);
const WRITE = process.argv.includes('--write');
/** One unrecorded run per server first, so both are measured with their code already optimised. */
const WARMUP_SECONDS = 2;
const CLIENTS = 4;
const OUTSTANDING = 200;

const SERVICES = 200;
const WEIGHTS = [10, 20, 70];
const QUERIES = 10_000;
/** Every 20th group of four query lines asks for names that do not exist: 5% of the file. */
const UNKNOWN_EVERY = 20;
const UNKNOWN_SHARE = 1 / UNKNOWN_EVERY;
const TARGET_RATIO = 0.9;

const START_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 5_000;
/** dnsperf stops sending at -l, then waits up to its 5 s query timeout for stragglers. */
const DNSPERF_GRACE_MS = 30_000;

const children = new Set<ChildProcess>();
const workDir = mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-'));

interface Server {
  name: 'baseline' | 'Signpost';
  pid: number;
  dnsPort: number;
  /** The parsed ready line. */
  ready: Record<string, unknown>;
}

interface Run {
  round: number;
  server: Server['name'];
  qps: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  latencyMs: number;
  /** dnsperf's average response size, bytes. */
  responseBytes: number;
  cpuUsPerQuery: number;
}

async function main(): Promise<void> {
  try {
    const queryFile = path.join(workDir, 'queries.txt');
    writeFileSync(queryFile, queryLines().join('\n') + '\n');

    const baseline = await startServer('baseline', [path.join(ROOT, 'bench/baseline-server.ts')], 'baseline ready');
    const signpost = await startServer(
      'Signpost',
      // Its own data dir in the temp dir: a durable store must neither restore nor keep anything.
      [path.join(ROOT, 'src/cli.ts'), 'serve', '--data-dir', workDir, '--dns', `${HOST}:0`, '--http', `${HOST}:0`, '--log-level', 'info'],
      'signpost ready',
    );
    const httpPort = portOf(signpost.ready.http);
    console.log(`baseline on ${HOST}:${baseline.dnsPort}, Signpost DNS on ${HOST}:${signpost.dnsPort}, HTTP on ${HOST}:${httpPort}`);

    await registerAll(httpPort);
    checkAnswers(signpost.dnsPort);

    const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    const servers = [baseline, signpost];
    for (const server of servers) {
      console.log(`warming up ${server.name} (${WARMUP_SECONDS} s)...`);
      await dnsperf(server.dnsPort, queryFile, WARMUP_SECONDS);
    }

    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        console.log(`round ${round}/${ROUNDS}: ${server.name} (${SECONDS} s)...`);
        const before = cpuTicks(server.pid);
        const result = await dnsperf(server.dnsPort, queryFile, SECONDS);
        const cpuSeconds = (cpuTicks(server.pid) - before) / clockTicks;
        runs.push({ round, server: server.name, ...result, cpuUsPerQuery: (cpuSeconds * 1e6) / result.completed });
      }
    }

    const report = summarise(runs);
    console.log('\n' + report.console);
    if (WRITE) {
      writeSection(report.markdown);
      console.log(`\nwrote "${SECTION_HEADING}" in BENCHMARKS.md`);
    }
  } finally {
    await cleanUp();
  }
}

// ---- load -------------------------------------------------------------------------------------

/**
 * The dnsperf input: half `svcN A`, a quarter `_svcN._tcp SRV`, a quarter `svcN SRV`, with 5%
 * of the lines (in all three shapes) naming services that do not exist. Service numbers come from
 * a fixed-seed generator, so every run sends the same file and each service gets all shapes.
 */
function queryLines(): string[] {
  let seed = 0x2545f491;
  const nextService = () => {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return 1 + ((seed >>> 0) % SERVICES);
  };
  const lines: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const n = nextService();
    const name = Math.floor(i / 4) % UNKNOWN_EVERY === UNKNOWN_EVERY - 1 ? `nosuch${n}` : `svc${n}`;
    if (i % 4 === 1) lines.push(`_${name}._tcp.service.local SRV`);
    else if (i % 4 === 3) lines.push(`${name}.service.local SRV`);
    else lines.push(`${name}.service.local A`);
  }
  return lines;
}

/** 200 services × 3 instances, weights 10/20/70, leases long enough to outlive the benchmark. */
async function registerAll(httpPort: number): Promise<void> {
  const pending: Array<() => Promise<void>> = [];
  for (let s = 1; s <= SERVICES; s++) {
    WEIGHTS.forEach((weight, k) => {
      const body = { address: `10.${s >> 8}.${s & 0xff}.${k + 1}`, port: 8001 + k, weight, ttl: 86400 };
      pending.push(async () => {
        const response = await fetch(`http://${HOST}:${httpPort}/v1/services/svc${s}/instances/i${k + 1}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
        });
        if (!response.ok) throw new Error(`registering svc${s}/i${k + 1}: HTTP ${response.status} ${await response.text()}`);
      });
    });
  }
  const worker = async () => {
    for (let job = pending.pop(); job; job = pending.pop()) await job();
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`registered ${SERVICES} services × ${WEIGHTS.length} instances`);
}

/** Before any load: svc1 has its 3 SRV records (weights 10/20/70) and an unknown name is NXDOMAIN. */
function checkAnswers(port: number): void {
  const srv = dig(port, 'svc1.service.local', 'SRV');
  const weights = srv.answers.filter((line) => /\sIN\s+SRV\s/.test(line)).map((line) => Number(line.split(/\s+/)[5]));
  if (srv.status !== 'NOERROR' || weights.length !== WEIGHTS.length || [...weights].sort((a, b) => a - b).join() !== WEIGHTS.join()) {
    throw new Error(`svc1.service.local SRV: expected NOERROR with weights ${WEIGHTS.join('/')}, got ${srv.status}:\n${srv.answers.join('\n')}`);
  }
  const unknown = dig(port, 'nosuch1.service.local', 'A');
  if (unknown.status !== 'NXDOMAIN') throw new Error(`nosuch1.service.local A: expected NXDOMAIN, got ${unknown.status}`);
  console.log(`check: svc1.service.local SRV → ${weights.length} records (weights ${weights.join('/')}); nosuch1.service.local A → NXDOMAIN`);
}

function dig(port: number, name: string, type: string): { status: string; answers: string[] } {
  const output = execFileSync('dig', [`@${HOST}`, '-p', String(port), '+time=2', '+tries=1', '+noall', '+comments', '+answer', name, type], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const status = /status: (\w+)/.exec(output)?.[1] ?? 'no reply';
  const answers = output.split('\n').filter((line) => line && !line.startsWith(';'));
  return { status, answers };
}

/** One dnsperf run over UDP; its statistics block, parsed. */
async function dnsperf(port: number, file: string, seconds: number): Promise<Omit<Run, 'round' | 'server' | 'cpuUsPerQuery'>> {
  const args = ['-s', HOST, '-p', String(port), '-d', file, '-c', String(CLIENTS), '-q', String(OUTSTANDING), '-l', String(seconds)];
  const child = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + DNSPERF_GRACE_MS);
  const [code] = await once(child, 'close');
  clearTimeout(timer);
  children.delete(child);
  if (code !== 0) throw new Error(`dnsperf ${args.join(' ')} exited with ${code}:\n${output}`);

  const field = (pattern: RegExp) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`dnsperf output does not match ${pattern}:\n${output}`);
    return Number(match[1]);
  };
  const rcodes: Record<string, number> = {};
  for (const [, rcode, count] of (/Response codes:\s+(.*)/.exec(output)?.[1] ?? '').matchAll(/(\w+) (\d+)/g)) {
    rcodes[rcode] = Number(count);
  }
  return {
    qps: field(/Queries per second:\s+([\d.]+)/),
    completed: field(/Queries completed:\s+(\d+)/),
    lost: field(/Queries lost:\s+(\d+)/),
    rcodes,
    latencyMs: field(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    responseBytes: field(/Average packet size:\s+request \d+, response (\d+)/),
  };
}

// ---- processes --------------------------------------------------------------------------------

/**
 * Spawns a server on the project's Node and waits for its JSON ready line (pino's, for
 * Signpost), which names its DNS port as `dns: "127.0.0.1:PORT"`. Its output keeps being read
 * afterwards: a child writing to a full pipe would stall mid-benchmark.
 */
async function startServer(name: Server['name'], args: string[], readyMessage: string): Promise<Server> {
  const child = spawn(NODE, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
  };
  createInterface({ input: child.stderr }).on('line', remember);
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`${name} ${why}; its last output:\n${recent.join('\n')}`));
    const timer = setTimeout(() => fail(`was not ready within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    createInterface({ input: child.stdout }).on('line', (line) => {
      remember(line);
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof record === 'object' && record !== null && (record as { msg?: unknown }).msg === readyMessage) {
        clearTimeout(timer);
        resolve(record as Record<string, unknown>);
      }
    });
  });
  return { name, pid: child.pid!, dnsPort: portOf(ready.dns), ready };
}

/** The port of a `HOST:PORT` field of a ready line. */
function portOf(hostPort: unknown): number {
  const match = /:(\d+)$/.exec(String(hostPort));
  if (!match) throw new Error(`expected HOST:PORT in the ready line, got ${JSON.stringify(hostPort)}`);
  return Number(match[1]);
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is parenthesised and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** Stops every child (SIGTERM by PID, SIGKILL if still running 5 s later) and removes the temp dir. */
async function cleanUp(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    }),
  );
  rmSync(workDir, { recursive: true, force: true });
}

// ---- report -----------------------------------------------------------------------------------

function summarise(runs: Run[]): { console: string; markdown: string } {
  const of = (server: Server['name']) => runs.filter((run) => run.server === server);
  const medians = (server: Server['name']) => {
    const list = of(server);
    return {
      qps: median(list.map((run) => run.qps)),
      lost: median(list.map((run) => run.lost)),
      latencyMs: median(list.map((run) => run.latencyMs)),
      responseBytes: median(list.map((run) => run.responseBytes)),
      cpuUsPerQuery: median(list.map((run) => run.cpuUsPerQuery)),
    };
  };
  const base = medians('baseline');
  const sign = medians('Signpost');
  const ratio = sign.qps / base.qps;

  const signRuns = of('Signpost');
  const oddRcodes = new Set(signRuns.flatMap((run) => Object.keys(run.rcodes).filter((rcode) => rcode !== 'NOERROR' && rcode !== 'NXDOMAIN')));
  const nxShare = median(signRuns.map((run) => (run.rcodes.NXDOMAIN ?? 0) / run.completed));
  const lostTotal = signRuns.reduce((sum, run) => sum + run.lost, 0);

  const runRows = runs.map((run) => [
    String(run.round),
    run.server,
    run.qps.toFixed(0),
    String(run.completed),
    String(run.lost),
    Object.entries(run.rcodes)
      .map(([rcode, count]) => `${rcode} ${count}`)
      .join(', '),
    run.latencyMs.toFixed(2),
    String(run.responseBytes),
    run.cpuUsPerQuery.toFixed(2),
  ]);
  const medianRows = [base, sign].map((m, i) => [
    i === 0 ? 'baseline' : 'Signpost',
    m.qps.toFixed(0),
    String(m.lost),
    m.latencyMs.toFixed(2),
    String(m.responseBytes),
    m.cpuUsPerQuery.toFixed(2),
  ]);
  const runHeader = ['round', 'server', 'qps', 'completed', 'lost', 'rcodes', 'avg latency ms', 'response bytes', 'CPU µs/query'];
  const medianHeader = ['server', 'qps', 'lost', 'avg latency ms', 'response bytes', 'CPU µs/query'];

  const verdict = ratio >= TARGET_RATIO ? 'meets' : 'is below';
  const summary = [
    `Signpost / baseline (median qps): ${ratio.toFixed(3)}, which ${verdict} the ${TARGET_RATIO} target.`,
    `Signpost CPU per query: ${sign.cpuUsPerQuery.toFixed(2)} µs against the baseline's ${base.cpuUsPerQuery.toFixed(2)} µs ` +
      `(${(sign.cpuUsPerQuery - base.cpuUsPerQuery).toFixed(2)} µs of Signpost's own work per query; as a ratio, baseline ÷ Signpost = ` +
      `${(base.cpuUsPerQuery / sign.cpuUsPerQuery).toFixed(3)}, which other load on the machine disturbs less than qps).`,
    `Spread of qps across runs: baseline ${range(of('baseline'))}, Signpost ${range(signRuns)}.`,
    `Signpost lost ${lostTotal} queries over ${signRuns.length} runs; NXDOMAIN answered ${(nxShare * 100).toFixed(2)}% of queries ` +
      `(unknown names: ${(UNKNOWN_SHARE * 100).toFixed(2)}% of the query file); ` +
      (oddRcodes.size === 0 ? 'no other rcodes than NOERROR and NXDOMAIN.' : `UNEXPECTED rcodes: ${[...oddRcodes].join(', ')}.`),
  ];

  const consoleText = [
    'runs:',
    textTable(runHeader, runRows),
    '',
    'medians:',
    textTable(medianHeader, medianRows),
    '',
    ...summary,
  ].join('\n');

  const help = spawnSync('dnsperf', ['-h'], { encoding: 'utf8' });
  const dnsperfVersion = /Version (\S+)/.exec(help.stdout + help.stderr)?.[1] ?? 'unknown';
  const command = (SECONDS !== 10 || ROUNDS !== 3 ? `BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS} ` : '') + 'npm run bench';
  const markdown = [
    SECTION_HEADING,
    '',
    `Command: \`${command}\` (\`npm run bench -- --write\` rewrites this section with the numbers it printed).`,
    `Date: ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}, ` +
      `dnsperf ${dnsperfVersion}. dnsperf and the server under test share these cores.`,
    '',
    `Load: \`dnsperf -c ${CLIENTS} -q ${OUTSTANDING} -l ${SECONDS}\` over UDP on 127.0.0.1; rounds: ${ROUNDS}, each a baseline run then a Signpost run, ` +
      `after a ${WARMUP_SECONDS} s warm-up of each. ${SERVICES} services × ${WEIGHTS.length} instances (weights ${WEIGHTS.join('/')}); ` +
      `${QUERIES.toLocaleString('en')} queries: half \`svcN.service.local A\`, a quarter \`_svcN._tcp.service.local SRV\`, ` +
      `a quarter \`svcN.service.local SRV\`, ${UNKNOWN_SHARE * 100}% of them unknown names. The baseline (bench/baseline-server.ts) ` +
      `is a bare Node \`dgram\` server that answers every query with one precomputed response, sized like Signpost's ` +
      `average answer so both move the same bytes. CPU µs/query is the server ` +
      `process's utime+stime over the run (/proc/PID/stat) divided by the queries answered.`,
    '',
    'Medians:',
    '',
    markdownTable(medianHeader, medianRows),
    '',
    ...summary.map((line) => `- ${line}`),
    '',
    `What the ratio means: the baseline does no DNS work at all, only Node's receive and send of each datagram, ` +
      `so the ratio is the share of that ceiling Signpost keeps while parsing, looking up and assembling real answers; ` +
      `${TARGET_RATIO} means Signpost's own work may cost at most about ${Math.round((1 - TARGET_RATIO) * 100)}% of the throughput of a server that does nothing.`,
    '',
    'Runs:',
    '',
    markdownTable(runHeader, runRows),
    '',
  ].join('\n');

  return { console: consoleText, markdown };
}

/** Replaces this benchmark's section of BENCHMARKS.md (up to the next `## ` heading), or appends it. */
function writeSection(section: string): void {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n') : ['# Benchmarks'];
  const start = lines.indexOf(SECTION_HEADING);
  let end = lines.length;
  if (start >= 0) {
    const next = lines.findIndex((line, i) => i > start && line.startsWith('## '));
    if (next >= 0) end = next;
  }
  const body = section.trimEnd().split('\n');
  if (start >= 0) lines.splice(start, end - start, ...body, ...(end < lines.length ? [''] : []));
  else lines.push('', ...body);
  writeFileSync(file, lines.join('\n') + '\n');
}

function range(runs: Run[]): string {
  const qps = runs.map((run) => run.qps);
  return `${Math.min(...qps).toFixed(0)}-${Math.max(...qps).toFixed(0)}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function markdownTable(header: string[], rows: string[][]): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1, got "${raw}"`);
  return value;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    void cleanUp().finally(() => process.exit(128 + os.constants.signals[signal]));
  });
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${(error as Error).message}`);
  process.exitCode = 1;
}
