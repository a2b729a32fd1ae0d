// DNS query throughput: Signpost against a bare Node UDP server (bench/baseline-server.ts), both
// loaded by dnsperf over loopback with the same query file, in alternating runs.
//
//   npm run bench                 print the runs, the medians and the Signpost/baseline ratio
//   npm run bench -- --write      also put those numbers into BENCHMARKS.md
//
// BENCH_SECONDS (default 5) is the length of one dnsperf run, BENCH_ROUNDS (default 10) the
// number of baseline+Signpost pairs. Both servers run as child processes on the project's Node;
// their CPU time per answered query is read from /proc. Traffic stays on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  HOST,
  NODE,
  ROOT,
  dnsperf,
  dnsperfVersion,
  dnsperfWithCpu,
  launch,
  launchSignpost,
  markdownTable,
  median,
  medianRun,
  portOf,
  pinToCpu,
  positiveInteger,
  rcodeList,
  stopAllAndRemove,
  stopOnInterrupt,
  textTable,
  writeSection,
  type DnsperfRun,
} from './lib.ts';

const SECTION_HEADING = '## DNS query throughput';

// Many short rounds rather than a few long ones: the host's speed drifts over minutes, and the
// more often the two servers alternate, the less that drift weighs on one of them.
const DEFAULT_SECONDS = 5;
const DEFAULT_ROUNDS = 10;
const SECONDS = positiveInteger('BENCH_SECONDS', DEFAULT_SECONDS);
const ROUNDS = positiveInteger('BENCH_ROUNDS', DEFAULT_ROUNDS);
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
/**
 * With two CPUs or more, each server runs alone on one (all its threads) and dnsperf on another:
 * unpinned, the two share cores by the scheduler's whim, and qps swung by a third between runs.
 */
const PINNED = os.cpus().length >= 2;
const SERVER_CPU = 1;
const DNSPERF_CPU = 0;

const HTTP_TIMEOUT_MS = 5_000;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-'));

interface Server {
  name: 'baseline' | 'Signpost';
  pid: number;
  dnsPort: number;
}

interface Run extends DnsperfRun {
  round: number;
  server: Server['name'];
}

async function main(): Promise<void> {
  try {
    const queryFile = path.join(workDir, 'queries.txt');
    writeFileSync(queryFile, queryLines().join('\n') + '\n');

    const baselineProcess = await launch('baseline', [path.join(ROOT, 'bench/baseline-server.ts')], 'baseline ready');
    const baseline: Server = { name: 'baseline', pid: baselineProcess.pid, dnsPort: portOf(baselineProcess.ready.dns) };
    // Its own data dir in the temp dir: a durable store must neither restore nor keep anything.
    const signpostProcess = await launchSignpost('Signpost', ['--data-dir', workDir, '--log-level', 'info']);
    const signpost: Server = { name: 'Signpost', pid: signpostProcess.pid, dnsPort: signpostProcess.dnsPort };
    const httpPort = signpostProcess.httpPort;
    console.log(`baseline on ${HOST}:${baseline.dnsPort}, Signpost DNS on ${HOST}:${signpost.dnsPort}, HTTP on ${HOST}:${httpPort}`);

    await registerAll(httpPort);
    checkAnswers(signpost.dnsPort);

    if (PINNED) for (const server of [baseline, signpost]) pinToCpu(server.pid, SERVER_CPU);
    const load = { clients: CLIENTS, outstanding: OUTSTANDING, cpu: PINNED ? DNSPERF_CPU : undefined };
    const servers = [baseline, signpost];
    for (const server of servers) {
      console.log(`warming up ${server.name} (${WARMUP_SECONDS} s)...`);
      await dnsperf(server.dnsPort, queryFile, WARMUP_SECONDS, load);
    }

    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        console.log(`round ${round}/${ROUNDS}: ${server.name} (${SECONDS} s)...`);
        runs.push({ round, server: server.name, ...(await dnsperfWithCpu(server.pid, server.dnsPort, queryFile, SECONDS, load)) });
      }
    }

    const report = summarise(runs);
    console.log('\n' + report.console);
    if (WRITE) {
      writeSection(SECTION_HEADING, report.markdown);
      console.log(`\nwrote "${SECTION_HEADING}" in BENCHMARKS.md`);
    }
  } finally {
    await stopAllAndRemove(workDir);
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

// ---- report -----------------------------------------------------------------------------------

function summarise(runs: Run[]): { console: string; markdown: string } {
  const of = (server: Server['name']) => runs.filter((run) => run.server === server);
  const base = medianRun(of('baseline'));
  const sign = medianRun(of('Signpost'));
  const ratio = sign.qps / base.qps;
  // The machine's speed drifts by tens of percent over minutes (a shared host): each Signpost run
  // against the baseline run just before it is the comparison that drift disturbs least.
  const pairedRatios = of('Signpost').map((run) => run.qps / of('baseline').find((other) => other.round === run.round)!.qps);
  const pairedRatio = median(pairedRatios);

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
    rcodeList(run.rcodes),
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
    `Round by round (each Signpost run over the baseline run just before it): ${pairedRatios.map((r) => r.toFixed(3)).join(', ')}; ` +
      `median ${pairedRatio.toFixed(3)}.`,
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

  const command = (SECONDS !== DEFAULT_SECONDS || ROUNDS !== DEFAULT_ROUNDS ? `BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS} ` : '') + 'npm run bench';
  const markdown = [
    SECTION_HEADING,
    '',
    `Command: \`${command}\` (\`npm run bench -- --write\` rewrites this section with the numbers it printed).`,
    `Date: ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}, ` +
      `dnsperf ${dnsperfVersion()}. ` +
      (PINNED
        ? `The server under test runs on CPU ${SERVER_CPU} (all its threads, \`taskset -a\`), dnsperf on CPU ${DNSPERF_CPU}.`
        : 'dnsperf and the server under test share these cores.'),
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

function range(runs: Run[]): string {
  const qps = runs.map((run) => run.qps);
  return `${Math.min(...qps).toFixed(0)}-${Math.max(...qps).toFixed(0)}`;
}

stopOnInterrupt(() => stopAllAndRemove(workDir));

try {
  await main();
} catch (error) {
  console.error(`bench: ${(error as Error).message}`);
  process.exitCode = 1;
}
