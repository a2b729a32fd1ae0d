// What TLS costs on the HTTP listener, reported in BENCHMARKS.md "## HTTPS".
//
// Two `signpost serve --store memory` child processes in the same run, one plain HTTP and one with
// --tls-cert/--tls-key (an EC P-256 certificate made here with openssl), ROUNDS rounds alternating
// the two, each load DURATION seconds after a WARMUP, CONNECTIONS autocannon connections:
//  - heartbeats on kept-alive connections (what a client library does): the cost of encryption;
//  - heartbeats on a new connection each (reconnectRate 1: what curl or a script does): the cost of
//    a TLS handshake per request (TLS 1.3, ECDHE + ECDSA P-256), against a TCP connect per request.
// Server CPU per answered request (utime + stime from /proc) is read beside requests per second.
//
// Run: flock /tmp/bench.lock npm run bench:tls [-- --duration SECONDS --rounds N]
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, launchSignpost, median, stop, stopAllAndRemove, stopOnInterrupt } from './lib.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' } } });
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const WARMUP = 2;
const CONNECTIONS = 64;
const INSTANCES = 1_000;

const scratch = mkdtempSync(join(tmpdir(), 'signpost-bench-tls-'));

/** A CA and a certificate for 127.0.0.1 signed by it, as an operator would make them. */
function certificate(): { cert: string; key: string } {
  const file = (name: string) => join(scratch, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-subj', '/CN=bench-ca', '-keyout', file('ca.key'), '-out', file('ca.crt')], { stdio: 'ignore' });
  execFileSync(
    'openssl',
    ['req', '-x509', '-CA', file('ca.crt'), '-CAkey', file('ca.key'), ...ec, '-subj', '/CN=bench', '-addext', 'basicConstraints=CA:FALSE', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', file('server.key'), '-out', file('server.crt')],
    { stdio: 'ignore' },
  );
  return { cert: file('server.crt'), key: file('server.key') };
}

interface Measured {
  perSecond: number;
  cpuUs: number;
  p50: number;
  p99: number;
}

const path = (i: number) => `/v1/services/svc-${i % 10}/instances/i-${i}`;

/** Heartbeats the server has taken so far (GET /v1/server), for the loads autocannon cannot count. */
async function heartbeatsTaken(url: string): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    get(`${url}/v1/server`, { rejectUnauthorized: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  return (JSON.parse(body) as { registry: { heartbeats: number } }).registry.heartbeats;
}

async function run(url: string, pid: number, options: Partial<autocannon.Options>): Promise<Measured> {
  // autocannon does not count the responses of a connection it then reconnects (reconnectRate):
  // those loads are counted by the server, and their latencies are not known.
  const counted = options.reconnectRate === undefined;
  const taken = counted ? 0 : await heartbeatsTaken(url);
  const before = cpuTicks(pid);
  const startedAt = performance.now();
  let sent = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    // The benchmark's client need not verify the certificate: the server's work is the same.
    tlsOptions: { rejectUnauthorized: false },
    requests: [{ method: 'PUT', setupRequest: (request) => ({ ...request, path: `${path(sent++ % INSTANCES)}/heartbeat` }) }],
    ...options,
  });
  const cpu = (cpuTicks(pid) - before) / CLOCK_TICKS_PER_SECOND;
  const seconds = (performance.now() - startedAt) / 1000;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.errors} errors, ${result.non2xx} non-2xx: ${JSON.stringify(result.statusCodeStats)}`);
  if (!counted) {
    const answered = (await heartbeatsTaken(url)) - taken;
    return { perSecond: answered / seconds, cpuUs: (cpu * 1e6) / answered, p50: NaN, p99: NaN };
  }
  const answered = result['2xx'];
  return { perSecond: answered / result.duration, cpuUs: (cpu * 1e6) / answered, p50: result.latency.p50, p99: result.latency.p99 };
}

async function register(url: string): Promise<void> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: 16,
    amount: INSTANCES,
    tlsOptions: { rejectUnauthorized: false },
    requests: [
      {
        method: 'PUT',
        setupRequest: (request) => {
          const n = i++;
          return { ...request, path: path(n), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: '10.0.0.1', port: 1000 + n, ttl: 3600 }) };
        },
      },
    ],
  });
  if (result['2xx'] !== INSTANCES) throw new Error(`${url}: registered ${result['2xx']} of ${INSTANCES}`);
}

const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const latency = (runs: Measured[]) => (Number.isNaN(runs[0].p50) ? 'not measured' : `${median(runs.map((m) => m.p50))} / ${median(runs.map((m) => m.p99))}`);
const loads = () => loadavg().map((load) => load.toFixed(2)).join(' ');

stopOnInterrupt(() => stopAllAndRemove(scratch));

try {
  console.log(`# ${cpus().length} × ${cpus()[0].model}, Linux ${release()}, Node ${process.version}`);
  console.log(`# ${CONNECTIONS} connections; ${ROUNDS} rounds; each load ${DURATION} s after a ${WARMUP} s warm-up; load average at start: ${loads()}`);
  const { cert, key } = certificate();
  const common = ['--store', 'memory', '--no-recursion'];
  const plain = await launchSignpost('Signpost HTTP', common);
  const tls = await launchSignpost('Signpost HTTPS', [...common, '--tls-cert', cert, '--tls-key', key]);
  const servers = { http: { url: plain.url, pid: plain.child.pid! }, https: { url: `https://127.0.0.1:${tls.httpPort}`, pid: tls.child.pid! } };
  await register(servers.http.url);
  await register(servers.https.url);

  const loadsToRun = { 'kept-alive': {}, 'new connection each': { reconnectRate: 1 } } as const;
  type LoadName = keyof typeof loadsToRun;
  const results: Record<LoadName, Record<'http' | 'https', Measured[]>> = {
    'kept-alive': { http: [], https: [] },
    'new connection each': { http: [], https: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, options] of Object.entries(loadsToRun) as Array<[LoadName, Partial<autocannon.Options>]>) {
      for (const scheme of ['http', 'https'] as const) {
        const { url, pid } = servers[scheme];
        await run(url, pid, { ...options, duration: WARMUP });
        results[name][scheme].push(await run(url, pid, { ...options, duration: DURATION }));
      }
    }
  }
  await Promise.all([stop(plain.child), stop(tls.child)]);

  console.log('\nMedians (heartbeats, PUT …/heartbeat):\n');
  console.log('| connections | HTTP req/s | HTTPS req/s | HTTPS / HTTP | HTTP CPU µs/req | HTTPS CPU µs/req | HTTP p50 / p99 ms | HTTPS p50 / p99 ms |');
  console.log('| --- | --: | --: | --: | --: | --: | --: | --: |');
  for (const name of Object.keys(loadsToRun) as LoadName[]) {
    const [h, s] = [results[name].http, results[name].https];
    const rate = (runs: Measured[]) => median(runs.map((m) => m.perSecond));
    console.log(
      `| ${name} | ${fixed(rate(h))} | ${fixed(rate(s))} | ${fixed(rate(s) / rate(h), 2)} | ${fixed(median(h.map((m) => m.cpuUs)))} | ${fixed(median(s.map((m) => m.cpuUs)))} | ` +
        `${latency(h)} | ${latency(s)} |`,
    );
  }
  console.log('\nRuns:\n');
  console.log('| round | connections | server | req/s | CPU µs/req |');
  console.log('| --- | --- | --- | --: | --: |');
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(loadsToRun) as LoadName[]) {
      for (const scheme of ['http', 'https'] as const) {
        const m = results[name][scheme][round];
        console.log(`| ${round + 1} | ${name} | ${scheme.toUpperCase()} | ${fixed(m.perSecond)} | ${fixed(m.cpuUs)} |`);
      }
    }
  }
  console.log(`\n# load average at end: ${loads()}`);
} finally {
  await stopAllAndRemove(scratch);
}
