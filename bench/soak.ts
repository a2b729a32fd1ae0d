// Soak: a long run of DNS load, registration churn and heartbeats against one
// `signpost serve` with its production defaults (SQLite store, a token file, rate limits on),
// reporting qps, errors, lost queries and RSS at the start and the end.
//
//   npm run bench:soak [-- --write]       BENCH_SOAK_SECONDS (600), BENCH_SOAK_QPS (10000)
//
// dnsperf runs from 127.0.0.1, which the default --rate-limit-exempt (loopback) leaves unlimited;
// the HTTP churn comes from 127.0.0.1 too, so the write rate limit does not refuse it either.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dnsperf, launchSignpost, markdownTable, positiveInteger, stopAll, stopOnInterrupt, writeSection } from './lib.ts';

const HEADING = '## Soak';
const WRITE = process.argv.includes('--write');
const SECONDS = positiveInteger('BENCH_SOAK_SECONDS', 600);
const QPS = positiveInteger('BENCH_SOAK_QPS', 10_000);
const SERVICES = 200;
const INSTANCES = 3;
const HEARTBEAT_EVERY_MS = 5_000;
const CHURN_EVERY_MS = 50;
const CHURN_SERVICES = 20;
const CHURN_IDS = 50;
const RSS_EVERY_MS = 10_000;
/** Prometheus's default scrape interval. */
const SCRAPE_EVERY_MS = 15_000;
const TOKEN = 'soak-token-0123456789abcdef';

const workDir = mkdtempSync(path.join(os.tmpdir(), 'signpost-soak-'));
stopOnInterrupt(async () => {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
});

function rssKiB(pid: number, field = 'VmRSS'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/** RSS less file-backed pages (the Node binary and libraries paged in over time): the process's own memory. */
const anonKiB = (pid: number) => rssKiB(pid, 'RssAnon');

async function main(): Promise<void> {
  const tokenFile = path.join(workDir, 'tokens');
  writeFileSync(tokenFile, `${TOKEN} *\n`);
  const queryFile = path.join(workDir, 'queries.txt');
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const s = i % SERVICES;
    lines.push(i % 4 === 0 ? `_svc${s}._tcp.service.local SRV` : i % 4 === 1 ? `svc${s}.service.local SRV` : `svc${s}.service.local A`);
  }
  writeFileSync(queryFile, lines.join('\n') + '\n');

  const server = await launchSignpost('signpost', ['--data-dir', path.join(workDir, 'data'), '--token-file', tokenFile, '--no-recursion']);
  const authorization = `Bearer ${TOKEN}`;
  const counts = { registrations: 0, deregistrations: 0, heartbeats: 0, scrapes: 0, httpErrors: 0 };
  const errorsByStatus: Record<string, number> = {};
  const request = async (method: string, url: string, body?: unknown) => {
    try {
      const response = await fetch(`${server.url}${url}`, {
        method,
        headers: body === undefined ? { authorization } : { authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      await response.arrayBuffer();
      if (!response.ok && !(method === 'DELETE' && response.status === 404)) {
        counts.httpErrors++;
        errorsByStatus[response.status] = (errorsByStatus[response.status] ?? 0) + 1;
      }
      return response.status;
    } catch (error) {
      counts.httpErrors++;
      errorsByStatus[(error as Error).message] = (errorsByStatus[(error as Error).message] ?? 0) + 1;
      return 0;
    }
  };
  for (let s = 0; s < SERVICES; s++) {
    await Promise.all(
      Array.from({ length: INSTANCES }, (_, k) =>
        request('PUT', `/v1/services/svc${s}/instances/i${k}`, { address: `10.${s >> 8}.${s & 255}.${k + 1}`, port: 8000 + k, weight: 10 * (k + 1), ttl: 15 }),
      ),
    );
  }
  const rssSetup = rssKiB(server.pid);
  console.log(`registered ${SERVICES * INSTANCES} instances; RSS ${rssSetup} KiB; soaking for ${SECONDS} s at ${QPS} qps`);

  const samples: Array<{ t: number; rss: number; anon: number }> = [{ t: 0, rss: rssSetup, anon: anonKiB(server.pid) }];
  const started = Date.now();
  let running = true;
  const rssTimer = setInterval(() => {
    samples.push({ t: Math.round((Date.now() - started) / 1000), rss: rssKiB(server.pid), anon: anonKiB(server.pid) });
    const last = samples[samples.length - 1];
    console.log(`t=${last.t}s RSS ${last.rss} KiB (anon ${last.anon} KiB), ${JSON.stringify(counts)}`);
  }, RSS_EVERY_MS);
  const heartbeats = (async () => {
    while (running) {
      const round = Date.now();
      for (let s = 0; s < SERVICES && running; s += 10) {
        const batch: Array<Promise<number>> = [];
        for (let t = s; t < s + 10; t++) for (let k = 0; k < INSTANCES; k++) batch.push(request('PUT', `/v1/services/svc${t}/instances/i${k}/heartbeat`));
        await Promise.all(batch);
        counts.heartbeats += batch.length;
      }
      await sleep(Math.max(0, HEARTBEAT_EVERY_MS - (Date.now() - round)));
    }
  })();
  const churn = (async () => {
    let n = 0;
    while (running) {
      const service = `churn${n % CHURN_SERVICES}`;
      const id = `c${Math.floor(n / CHURN_SERVICES) % CHURN_IDS}`;
      // Alternate: register a fresh instance (with new meta, so it is a real write), then delete an older one.
      if (n % 2 === 0) {
        await request('PUT', `/v1/services/${service}/instances/${id}`, { address: `10.200.${n % 250}.${(n >> 8) % 250}`, port: 9000, ttl: 15, meta: { n: String(n) } });
        counts.registrations++;
      } else {
        await request('DELETE', `/v1/services/${service}/instances/c${(Math.floor(n / CHURN_SERVICES) + CHURN_IDS / 2) % CHURN_IDS}`);
        counts.deregistrations++;
      }
      n++;
      await sleep(CHURN_EVERY_MS);
    }
  })();

  // A Prometheus server scraping /metrics, as a deployment would have.
  const scrapes = (async () => {
    while (running) {
      await request('GET', '/metrics');
      counts.scrapes++;
      for (let waited = 0; running && waited < SCRAPE_EVERY_MS; waited += 500) await sleep(500);
    }
  })();

  const dns = await dnsperf(server.dnsPort, queryFile, SECONDS, { clients: 4, outstanding: 100, qps: QPS });
  running = false;
  await Promise.all([heartbeats, churn, scrapes]);
  const metricsText = await (await fetch(`${server.url}/metrics`, { headers: { authorization } })).text();
  const repliesCounted = [...metricsText.matchAll(/^signpost_dns_replies_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
  clearInterval(rssTimer);
  const rssEnd = rssKiB(server.pid);
  const anonEnd = anonKiB(server.pid);
  samples.push({ t: Math.round((Date.now() - started) / 1000), rss: rssEnd, anon: anonEnd });
  const alive = server.child.exitCode === null;
  await stopAll();

  // RSS at start: after the first minute (heap and caches warmed up); growth is measured from there.
  const warm = samples.find((sample) => sample.t >= Math.min(60, SECONDS / 2)) ?? samples[0];
  const growth = (rssEnd - warm.rss) / warm.rss;
  const anonGrowth = (anonEnd - warm.anon) / warm.anon;
  const unexpectedRcodes = Object.entries(dns.rcodes).filter(([rcode]) => rcode !== 'NOERROR');
  const summary = [
    ['duration', `${SECONDS} s`],
    ['DNS load', `dnsperf -c 4 -q 100 -Q ${QPS} over UDP, ${SERVICES} services × ${INSTANCES} instances, A and SRV`],
    ['DNS qps (mean)', dns.qps.toFixed(0)],
    ['DNS queries completed', String(dns.completed)],
    ['DNS queries lost', String(dns.lost)],
    ['DNS rcodes', Object.entries(dns.rcodes).map(([rcode, count]) => `${rcode} ${count}`).join(', ')],
    ['DNS avg latency', `${dns.latencyMs.toFixed(2)} ms`],
    ['registrations (churn)', String(counts.registrations)],
    ['deregistrations (churn)', String(counts.deregistrations)],
    ['heartbeats', String(counts.heartbeats)],
    [`/metrics scrapes (every ${SCRAPE_EVERY_MS / 1000} s)`, String(counts.scrapes)],
    ['DNS replies counted by /metrics at the end', String(repliesCounted)],
    ['HTTP errors', `${counts.httpErrors}${counts.httpErrors ? ` (${JSON.stringify(errorsByStatus)})` : ''}`],
    ['RSS after registering', `${(rssSetup / 1024).toFixed(1)} MiB`],
    [`RSS at ${warm.t} s (start)`, `${(warm.rss / 1024).toFixed(1)} MiB`],
    ['RSS at the end', `${(rssEnd / 1024).toFixed(1)} MiB`],
    ['RSS max', `${(Math.max(...samples.map((sample) => sample.rss)) / 1024).toFixed(1)} MiB`],
    ['RSS growth, start → end', `${(growth * 100).toFixed(1)}%`],
    ['anonymous RSS (RssAnon) start → end', `${(warm.anon / 1024).toFixed(1)} → ${(anonEnd / 1024).toFixed(1)} MiB (${(anonGrowth * 100).toFixed(1)}%)`],
    ['server alive at the end', alive ? 'yes' : 'NO'],
  ];
  const verdict =
    counts.httpErrors === 0 && dns.lost === 0 && unexpectedRcodes.length === 0 && growth < 0.1 && alive
      ? 'Target met: no errors, no lost queries, RSS growth under 10%.'
      : 'Target NOT met (see the rows above).';
  const report = [
    HEADING,
    '',
    `Command: \`npm run bench:soak\` (BENCH_SOAK_SECONDS=${SECONDS}, BENCH_SOAK_QPS=${QPS}; \`-- --write\` rewrites this section). Date: ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.versions.node}; dnsperf, this script and the server share the cores with other work.`,
    '',
    `Load: \`signpost serve\` with its defaults (SQLite store, \`--token-file\` with one \`*\` token, DNS and HTTP rate limits on, loopback exempt), \`--no-recursion\`. While dnsperf runs, heartbeats for all ${SERVICES * INSTANCES} instances every ${HEARTBEAT_EVERY_MS / 1000} s (batches of 30 concurrent requests), churn: every ${CHURN_EVERY_MS} ms a registration (new meta, so a durable write) or a deregistration across ${CHURN_SERVICES} services, and a scrape of \`/metrics\` every ${SCRAPE_EVERY_MS / 1000} s. RSS is VmRSS of /proc/PID/status, sampled every ${RSS_EVERY_MS / 1000} s; "start" is the sample after the first minute, once heaps and caches are warm.`,
    '',
    markdownTable(['measure', 'value'], summary),
    '',
    verdict,
    '',
    'RSS samples (s: MiB RSS / anonymous): ' +
      samples
        .filter((_, i) => i % 6 === 0 || i === samples.length - 1)
        .map((sample) => `${sample.t}: ${(sample.rss / 1024).toFixed(1)} / ${(sample.anon / 1024).toFixed(1)}`)
        .join(', '),
  ].join('\n');
  console.log('\n' + report);
  if (WRITE) writeSection(HEADING, report);
  rmSync(workDir, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
  process.exit(1);
});

