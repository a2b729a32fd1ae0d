// What signpost/client costs:
//  1. pick(): one call on a warm answer, over HTTP and over DNS, against the baseline of what an
//     application did before the client (a resolveSrv and a weighted pick per call), and the
//     requests and DNS queries the server saw meanwhile (none: no I/O on the hot path).
//  2. Heartbeats of 1,000 registrations in one process: signpost/client's one PUT /v1/heartbeats
//     a tick against one PUT …/heartbeat per instance every ttl/3, through a counting TCP proxy:
//     requests, bytes each way, and the CPU of the client and of the server.
//
//   flock /tmp/bench.lock npm run bench:client [-- --write]   (BENCH_PICKS, BENCH_REGISTRATIONS, BENCH_SECONDS, BENCH_TTL)
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pickOrder, SignpostClient } from '../src/client/index.ts';
import { startProxy } from '../test/helpers/proxy.ts';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, HOST, launchSignpost, markdownTable, NODE, ROOT, positiveInteger, stop, stopAll, stopOnInterrupt, textTable, track, writeSection } from './lib.ts';

const HEADING = '## Client library: pick() and batched heartbeats';
const WRITE = process.argv.includes('--write');
const PICKS = positiveInteger('BENCH_PICKS', 1_000_000);
const BASELINE_CALLS = 2_000;
const REGISTRATIONS = positiveInteger('BENCH_REGISTRATIONS', 1000);
const WINDOW_SECONDS = positiveInteger('BENCH_SECONDS', 30);
const TTL = positiveInteger('BENCH_TTL', 15);
/** The instances picked from: two tiers, the best one with uneven weights. */
const INSTANCES = [
  ...[10, 20, 30, 40, 50, 60, 70, 80].map((weight, i) => ({ id: `web-${i}`, priority: 0, weight })),
  { id: 'backup-0', priority: 1, weight: 100 },
  { id: 'backup-1', priority: 1, weight: 100 },
];

stopOnInterrupt();

async function main(): Promise<void> {
  try {
    const picks = await pickCost();
    const batched = await heartbeatTraffic('batched');
    const single = await heartbeatTraffic('single');
    const perMinute = (value: number) => (value * 60) / WINDOW_SECONDS;
    const kib = (bytes: number) => `${(perMinute(bytes) / 1024).toFixed(0)} KiB`;
    const heartbeatRows = [batched, single].map((run) => [
      run.mode === 'batched' ? 'signpost/client (PUT /v1/heartbeats)' : 'one PUT …/heartbeat per instance (baseline)',
      perMinute(run.requests).toFixed(0),
      kib(run.bytesIn),
      kib(run.bytesOut),
      `${perMinute(run.clientCpuMs).toFixed(0)} ms`,
      `${perMinute(run.serverCpuMs).toFixed(0)} ms`,
      String(run.lapsed),
    ]);
    const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : (a / b).toFixed(3));
    heartbeatRows.push([
      'ratio (client / baseline)',
      ratio(batched.requests, single.requests),
      ratio(batched.bytesIn, single.bytesIn),
      ratio(batched.bytesOut, single.bytesOut),
      ratio(batched.clientCpuMs, single.clientCpuMs),
      ratio(batched.serverCpuMs, single.serverCpuMs),
      '',
    ]);
    const heartbeatHeader = ['', 'requests/min', 'sent/min', 'received/min', 'client CPU/min', 'server CPU/min', 'leases lapsed'];
    const pickRows = [
      ['`pick()` over HTTP (warm answer)', `${picks.http.toFixed(0)} ns`, `${(picks.baselineUs * 1000 / picks.http).toFixed(0)}×`],
      ['`pick()` over DNS (warm answer)', `${picks.dns.toFixed(0)} ns`, `${(picks.baselineUs * 1000 / picks.dns).toFixed(0)}×`],
      ['baseline: `resolveSrv` + weighted pick per call', `${picks.baselineUs.toFixed(1)} µs`, '1×'],
    ];
    console.log(textTable(['pick', 'per call', 'faster than baseline'], pickRows.map((row) => row.map((cell) => cell.replace(/`/g, '')))));
    console.log(`requests the server saw during 2 × ${PICKS.toLocaleString('en')} picks: HTTP ${picks.httpRequests}, DNS ${picks.dnsQueries}; largest share error ${(picks.shareError * 100).toFixed(2)} points`);
    console.log('');
    console.log(textTable(heartbeatHeader, heartbeatRows));
    const report = [
      HEADING,
      '',
      `Command: \`flock /tmp/bench.lock npm run bench:client\` (${new Date().toISOString().slice(0, 10)}, 2 cores shared with other work, loopback, Node ${process.versions.node}; the server a child process).`,
      '',
      `**pick()**: ${PICKS.toLocaleString('en')} calls of \`await client.pick('web')\` (tallying the instance picked) on a warm answer, after a warm-up (${INSTANCES.length} instances, two priorities), one client resolving over HTTP and one over DNS, against the baseline of ${BASELINE_CALLS.toLocaleString('en')} calls of what an application did before the client: \`resolveSrv\` on Signpost's DNS and an RFC 2782 pick over the records, every call.`,
      '',
      markdownTable(['', 'per call', 'faster than the baseline'], pickRows),
      '',
      `No I/O on the hot path: during the ${(2 * PICKS).toLocaleString('en')} picks the server answered ${picks.httpRequests} HTTP requests and ${picks.dnsQueries} DNS queries. The picks followed the weights: the largest difference between an instance's share and its weight's share was ${(picks.shareError * 100).toFixed(2)} percentage points; the priority-1 instances were never picked.`,
      '',
      `**Heartbeats**: ${REGISTRATIONS.toLocaleString('en')} registrations (ttl ${TTL} s) held by one process, observed for ${WINDOW_SECONDS} s through a TCP proxy that counts requests and bytes; per minute. CPU = utime + stime from /proc, of the client process and of the server.`,
      '',
      markdownTable(heartbeatHeader, heartbeatRows),
      '',
      `One request a tick (ttl/3 with 80-100% jitter) renews all ${REGISTRATIONS.toLocaleString('en')}: about ${(batched.bytesIn / batched.requests / REGISTRATIONS).toFixed(0)} bytes an instance out and ${(batched.bytesOut / batched.requests / REGISTRATIONS).toFixed(0)} back (its name, status and new expiry), where the baseline pays HTTP headers on every renewal (${(single.bytesIn / single.requests).toFixed(0)} bytes out, ${(single.bytesOut / single.requests).toFixed(0)} back). The bytes shrink less than the requests; the CPU follows the requests.`,
    ];
    if (WRITE) {
      writeSection(HEADING, report.join('\n'));
      console.log('\nwrote BENCHMARKS.md');
    }
  } finally {
    await stopAll();
  }
}

async function pickCost() {
  const server = await launchSignpost('signpost', ['--store', 'memory', '--log-level', 'info']);
  try {
    for (const { id, priority, weight } of INSTANCES) {
      const response = await fetch(`${server.url}/v1/services/web/instances/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ address: '10.0.0.1', port: 8080, priority, weight, ttl: 3600 }),
      });
      if (response.status !== 200) throw new Error(`register ${id}: ${response.status}`);
    }
    const http = new SignpostClient({ url: server.url });
    const dns = new SignpostClient({ url: server.url, dns: `${HOST}:${server.dnsPort}` });
    await Promise.all([http.resolve('web'), dns.resolve('web')]);
    const before = await serverCounts(server.url);
    const counts = new Map<string, number>();
    const time = async (client: SignpostClient, picks = PICKS) => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < picks; i++) {
        const { id } = await client.pick('web');
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return Number(process.hrtime.bigint() - started) / picks;
    };
    // Warm-up, so that neither client is timed while the code is still being optimised.
    for (const client of [http, dns]) await time(client, PICKS / 10);
    counts.clear();
    const httpNs = await time(http);
    const dnsNs = await time(dns);
    const after = await serverCounts(server.url);
    await Promise.all([http.close(), dns.close()]);
    const total = INSTANCES.filter((instance) => instance.priority === 0).reduce((sum, instance) => sum + instance.weight, 0);
    const shareError = Math.max(...INSTANCES.map((instance) => Math.abs((counts.get(instance.id) ?? 0) / (2 * PICKS) - (instance.priority === 0 ? instance.weight / total : 0))));

    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`${HOST}:${server.dnsPort}`]);
    const started = process.hrtime.bigint();
    for (let i = 0; i < BASELINE_CALLS; i++) {
      const records = await resolver.resolveSrv('_web._tcp.service.local');
      if (pickOrder(records)[0] === undefined) throw new Error('no records');
    }
    const baselineUs = Number(process.hrtime.bigint() - started) / BASELINE_CALLS / 1000;
    // The baseline's own requests are after `after`: the picks' counts stand alone.
    return { http: httpNs, dns: dnsNs, baselineUs, httpRequests: after.http - before.http, dnsQueries: after.dns - before.dns, shareError };
  } finally {
    await stop(server.child);
  }
}

/** HTTP requests (but /metrics) and DNS replies the server counted so far. */
async function serverCounts(url: string): Promise<{ http: number; dns: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (pattern: RegExp) => [...text.matchAll(pattern)].reduce((total, match) => total + Number(match[1]), 0);
  return {
    http: sum(/^signpost_http_requests_total\{(?![^}]*route="\/metrics")[^}]*\} (\d+)$/gm),
    dns: sum(/^signpost_dns_replies_total\{[^}]*\} (\d+)$/gm),
  };
}

async function heartbeatTraffic(mode: 'batched' | 'single') {
  const server = await launchSignpost('signpost', ['--store', 'memory', '--log-level', 'info', '--http-write-rate-limit', '0']);
  const proxy = await startProxy(server.httpPort);
  const child = track(spawn(NODE, ['bench/heartbeat-client.ts', mode, proxy.url, String(REGISTRATIONS), String(TTL)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    if (line !== 'ready') throw new Error(`heartbeat client: ${line}`);
    const lapsedBefore = await lapsed(server.url);
    const requests = proxy.requests.length;
    const [bytesIn, bytesOut] = [proxy.bytesIn(), proxy.bytesOut()];
    const [clientTicks, serverTicks] = [cpuTicks(child.pid!), cpuTicks(server.pid)];
    await new Promise((resolve) => setTimeout(resolve, WINDOW_SECONDS * 1000));
    const ms = (ticks: number) => (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
    return {
      mode,
      requests: proxy.requests.length - requests,
      bytesIn: proxy.bytesIn() - bytesIn,
      bytesOut: proxy.bytesOut() - bytesOut,
      clientCpuMs: ms(cpuTicks(child.pid!) - clientTicks),
      serverCpuMs: ms(cpuTicks(server.pid) - serverTicks),
      lapsed: (await lapsed(server.url)) - lapsedBefore,
    };
  } finally {
    await stop(child);
    await proxy.close();
    await stop(server.child);
  }
}

/** Instances of the bench service not passing: a lease that lapsed. */
async function lapsed(url: string): Promise<number> {
  const body = (await (await fetch(`${url}/v1/services/bench`)).json()) as { instances: Array<{ status: string }> };
  return body.instances.filter((instance) => instance.status !== 'passing').length;
}

await main();
