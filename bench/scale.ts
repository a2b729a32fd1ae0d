// Scale: how Signpost's costs grow with the registry, on one node with the embedded (SQLite) store.
//
//   npm run bench:scale                 print the tables
//   npm run bench:scale -- --write      also put them into BENCHMARKS.md ("## Scale")
//
// 1. Growth, for 1,000 (the reference), 10,000, 100,000 and 1,000,000 instances, in services of
//    100 instances and of 1,000: the data directory is written through the store itself
//    (SqliteStore.put in batches of 20,000, one commit each: what a server would have stored), then
//    `signpost serve` starts from it as a child process. Measured: start-up (spawn to the ready
//    line), RSS at ready and after DNS has answered for every service (records built), bytes per
//    instance over an empty server, the server's CPU per durable write (a registration into an
//    existing service, then its deregistration, over HTTP), and DNS throughput under dnsperf
//    against the bare-socket baseline (bench/baseline-server.ts), alternated, as `npm run bench`.
// 2. Where an instance's bytes go: the registry and the DNS side built in one process with a
//    memory store, heap measured after a forced GC at each step.
// 3. A service of 10,000 instances: its UDP SRV answer (truncated) and TCP answer (the 64 KiB
//    limit), and the worst latency of other queries while it changes and is asked for over TCP.
// 4. An expiry storm: 100,000 leases restored together lapse in the same second, while dnsperf
//    asks for other services; qps before and during, and how late each expiry was.
//
// SCALE_SIZES (default 1000,10000,100000,1000000), SCALE_SECONDS (dnsperf run, 5), SCALE_ROUNDS (3).
//
//   npm run bench:scale -- --only-large  part 3 alone, printed (not written: the section is one run)
//   npm run bench:scale -- --only-storm  part 4 alone, printed (not written: the section is one run)
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NODE_FLAGS } from '../src/config/limits.ts';
import {
  NODE,
  ROOT,
  dnsperf,
  dnsperfVersion,
  launch,
  markdownTable,
  median,
  percentile,
  pinToCpu,
  portOf,
  stop,
  stopAllAndRemove,
  stopOnInterrupt,
  textTable,
  writeSection,
} from './lib.ts';
import {
  BATCH,
  DNSPERF_CPU,
  PINNED,
  QUERIES,
  SERVER_CPU,
  WRITES,
  WRITE_CONCURRENCY,
  dig,
  digFacts,
  dnsperfOnce,
  execFileAsync,
  latencyProbe,
  launchSignpost,
  populate,
  queryFile,
  registration,
  rssBytes,
  tcpQuery,
  writeCost,
} from './scale-lib.ts';

const SECTION_HEADING = '## Scale';
const SIZES = (process.env.SCALE_SIZES ?? '1000,10000,100000,1000000').split(',').map(Number);
const SECONDS = Number(process.env.SCALE_SECONDS ?? 5);
const ROUNDS = Number(process.env.SCALE_ROUNDS ?? 3);
const WRITE = process.argv.includes('--write');
const ONLY_LARGE = process.argv.includes('--only-large');
const ONLY_STORM = process.argv.includes('--only-storm');
const SHAPES = [100, 1000];
const load = { clients: 4, outstanding: 200, cpu: PINNED ? DNSPERF_CPU : undefined };

const scratch = mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-scale-'));

// ---- 1. growth --------------------------------------------------------------------------------

interface Growth {
  instances: number;
  perService: number;
  populateS: number;
  startupS: number;
  rssReady: number;
  rssDns: number;
  bytesPerInstance: number;
  bytesPerInstanceDns: number;
  writeCpuUs: number;
  writeWallMs: number;
  /** Seconds to ask for every service once after start-up: the records built on first use. */
  warmS: number;
  ratio: number;
  signpostQps: number;
  baselineQps: number;
}

async function growth(baselinePort: number, baselinePid: number, emptyRss: { ready: number; dns: number }): Promise<Growth[]> {
  const rows: Growth[] = [];
  for (const perService of SHAPES) {
    for (const instances of SIZES) {
      if (instances < perService) continue;
      const services = instances / perService;
      const dir = path.join(scratch, `growth-${instances}-${perService}`);
      console.log(`\n${instances.toLocaleString('en')} instances (${services} × ${perService}): writing the data dir...`);
      const populateS = await populate(dir, services, perService, 86400);
      const server = await launchSignpost(`Signpost ${instances}`, ['--data-dir', dir]);
      const rssReady = rssBytes(server.pid);
      console.log(`  ready in ${(server.readyMs / 1000).toFixed(2)} s, RSS ${(rssReady / 2 ** 20).toFixed(0)} MiB`);
      if (PINNED) pinToCpu(server.pid, SERVER_CPU);
      // Every service asked for once, so each has its records built (what a busy server holds).
      const warm = queryFile(path.join(scratch, `warm-${instances}-${perService}.txt`), services);
      const everyService = path.join(scratch, `every-${instances}-${perService}.txt`);
      writeFileSync(everyService, Array.from({ length: services }, (_, s) => `svc${s}.service.local SRV\nsvc${s}.service.local A`).join('\n') + '\n');
      const warmStarted = performance.now();
      await dnsperfOnce(server.dnsPort, everyService);
      await dnsperfOnce(server.dnsPort, warm);
      const warmS = (performance.now() - warmStarted) / 1000;
      console.log(`  every service asked for once (records built) in ${warmS.toFixed(1)} s`);
      const rssDns = rssBytes(server.pid);
      console.log(`  RSS after DNS ${(rssDns / 2 ** 20).toFixed(0)} MiB`);
      const ratios: number[] = [];
      const sQps: number[] = [];
      const bQps: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const base = await dnsperf(baselinePort, warm, SECONDS, load);
        const sign = await dnsperf(server.dnsPort, warm, SECONDS, load);
        ratios.push(sign.qps / base.qps);
        sQps.push(sign.qps);
        bQps.push(base.qps);
        console.log(`  round ${round + 1}: baseline ${base.qps.toFixed(0)} qps, Signpost ${sign.qps.toFixed(0)} qps (${(sign.qps / base.qps).toFixed(3)}), ${JSON.stringify(sign.rcodes)}`);
      }
      // Writes last: each changes a service, whose records the next query rebuilds, which the DNS
      // rounds would otherwise pay for.
      const writes = await writeCost(server.pid, server.url, services);
      console.log(`  a write costs ${writes.cpuUs.toFixed(0)} µs of server CPU`);
      await stop(server.child);
      rmSync(dir, { recursive: true, force: true });
      rows.push({
        instances,
        perService,
        populateS,
        startupS: server.readyMs / 1000,
        rssReady,
        rssDns,
        bytesPerInstance: (rssReady - emptyRss.ready) / instances,
        bytesPerInstanceDns: (rssDns - emptyRss.dns) / instances,
        writeCpuUs: writes.cpuUs,
        writeWallMs: writes.wallMs,
        warmS,
        ratio: median(ratios),
        signpostQps: median(sQps),
        baselineQps: median(bQps),
      });
    }
  }
  void baselinePid;
  return rows;
}

// ---- 2. where the bytes go --------------------------------------------------------------------

/** Runs this file in breakdown mode in a child with --expose-gc; returns its JSON. */
async function breakdown(instances: number): Promise<Record<string, number>> {
  const child = spawn(NODE, [...NODE_FLAGS, '--expose-gc', path.join(ROOT, 'bench/scale-breakdown.ts'), String(instances)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const [code] = await once(child, 'close');
  if (code !== 0) throw new Error(`breakdown exited with ${code}`);
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

// ---- 3. a large service -----------------------------------------------------------------------

async function largeService() {
  const dir = path.join(scratch, 'large');
  const big = Array.from({ length: 10_000 }, (_, k) => ({ ...registration('big', k, 86400), weight: 1 + (k % 100) }));
  await populate(dir, 200, 3, 86400, big);
  const server = await launchSignpost('Signpost large', ['--data-dir', dir]);
  if (PINNED) pinToCpu(server.pid, SERVER_CPU);
  const udp = digFacts(dig(server.dnsPort, '+notcp', '+noedns', '+ignore', 'big.service.local', 'SRV'));
  const udpEdns = digFacts(dig(server.dnsPort, '+notcp', '+bufsize=1232', '+ignore', 'big.service.local', 'SRV'));
  const tcp = digFacts(dig(server.dnsPort, '+tcp', 'big.service.local', 'SRV'));
  // Other queries, one every 2 ms (from a process of their own), idle, then while the big service
  // changes about 30 times a second and is asked for over TCP after each change.
  const idleLatency = await latencyProbe(server.dnsPort, 'svc1.service.local', 2, 5);
  const busy = latencyProbe(server.dnsPort, 'svc1.service.local', 2, 10);
  const until = Date.now() + 10_000;
  let changes = 0;
  let tcpQueries = 0;
  const tcpTimes: number[] = [];
  while (Date.now() < until) {
    const k = changes % 10_000;
    const body = { address: `10.200.${(k >> 8) & 0xff}.${k & 0xff}`, port: 9000, weight: 1 + ((changes * 13) % 100), ttl: 86400 };
    await fetch(`${server.url}/v1/services/big/instances/i${k}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    changes++;
    tcpTimes.push((await tcpQuery(server.dnsPort, 'big.service.local', 33)).ms);
    tcpQueries++;
    await sleep(20);
  }
  const busyLatency = await busy;
  await stop(server.child);
  rmSync(dir, { recursive: true, force: true });
  return { udp, udpEdns, tcp, idleLatency, busyLatency, changes, tcpQueries, tcpP50: percentile(tcpTimes, 50), tcpMax: Math.max(...tcpTimes) };
}

// ---- 4. an expiry storm -----------------------------------------------------------------------

/** Stormed services the storm probe asks for: spread over the restore order. */
const PROBED = [0, 111, 222, 333, 444, 555, 666, 777, 888, 999];

interface StormProbe {
  answers: number;
  gapP50: number;
  timings: Array<[number, number]>;
  seen: Record<string, { lastHeld: [number, number]; firstWithout: [number, number] | null }>;
}

/** Runs bench/scale-storm-probe.ts for `seconds` against `services`, in its own process. */
async function stormProbe(port: number, seconds: number, services: string[]): Promise<StormProbe> {
  const { stdout } = await execFileAsync(NODE, [path.join(ROOT, 'bench/scale-storm-probe.ts'), String(port), String(seconds), services.join(',')], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout.trim());
}

async function expiryStorm(baselinePort: number) {
  const STORM = 100_000;
  const TTL = 40;
  const dir = path.join(scratch, 'storm');
  // The steady services: no lease (ttl 0), asked for throughout; the storm: 1,000 × 100 leases.
  const steady = Array.from({ length: 600 }, (_, i) => ({ ...registration(`steady${i % 200}`, i, 0) }));
  await populate(dir, STORM / 100, 100, TTL, steady);
  const file = queryFile(path.join(scratch, 'steady.txt'), 200, 'steady');
  // The default log level: each expiry is a log line, as in production.
  // A grace period longer than the bench: the expired instances stay (critical) to be read back.
  const server = await launchSignpost('Signpost storm', ['--data-dir', dir, '--grace-period', '3600']);
  const readyAt = Date.now();
  if (PINNED) pinToCpu(server.pid, SERVER_CPU);
  await dnsperf(server.dnsPort, file, 2, load);
  const base = await dnsperf(baselinePort, file, SECONDS, load);
  const before = await dnsperf(server.dnsPort, file, SECONDS, load);
  // The leases were restored during start-up, TTL s before they lapse: run across that moment.
  // Restored before the ready line: they lapse at most TTL s after it, and no earlier than the start-up before it.
  const stormAt = readyAt + TTL * 1000;
  const start = stormAt - 8000;
  if (Date.now() > start) throw new Error('the storm bench fell behind its schedule: raise TTL');
  await sleep(start - Date.now());
  // A client asking for PROBED stormed services over and over, across the storm, sees when each instance left.
  const [during, probe] = await Promise.all([
    dnsperf(server.dnsPort, file, 11, load),
    stormProbe(server.dnsPort, 11, PROBED.map((s) => `svc${s}`)),
  ]);
  // Each instance's deadline (its lease's expiresAt: nothing renewed them), and whether its lease lapsed.
  const deadlineOf = new Map<string, number>();
  let expired = 0;
  const pending = Array.from({ length: STORM / 100 }, (_, s) => s);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let s = pending.pop(); s !== undefined; s = pending.pop()) {
        const body = (await (await fetch(`${server.url}/v1/services/svc${s}`)).json()) as {
          instances: Array<{ address: string; expiresAt: string; health: { lease?: { status: string } } }>;
        };
        for (const instance of body.instances) {
          if (instance.health.lease?.status === 'critical') expired++;
          deadlineOf.set(`svc${s}/${instance.address}`, Date.parse(instance.expiresAt));
        }
      }
    }),
  );
  // Left DNS: between the last answer that held it (asked) and the first that did not (received).
  const lateness: number[] = [];
  let staleAnswers = 0;
  let staleMax = 0;
  let neverLeft = 0;
  for (const [key, { lastHeld, firstWithout }] of Object.entries(probe.seen)) {
    const deadline = deadlineOf.get(key)!;
    if (lastHeld[0] >= deadline) {
      staleAnswers++;
      staleMax = Math.max(staleMax, lastHeld[0] - deadline);
    }
    if (firstWithout === null) neverLeft++;
    else lateness.push(firstWithout[1] - deadline);
  }
  // How long the probe's answers took while lapses were due (from the first deadline to the last): the lateness above includes it.
  const deadlines = [...deadlineOf.values()];
  const [firstDeadline, lastDeadline] = [Math.min(...deadlines), Math.max(...deadlines)];
  const stormTimings = probe.timings.filter(([asked]) => asked >= firstDeadline && asked <= lastDeadline).map(([, ms]) => ms);
  const nx = digFacts(dig(server.dnsPort, 'svc7.service.local', 'SRV'));
  const nxStatus = /status: (\w+)/.exec(dig(server.dnsPort, 'svc7.service.local', 'SRV'))?.[1];
  await stop(server.child);
  rmSync(dir, { recursive: true, force: true });
  return {
    expired,
    before,
    during,
    baseline: base,
    latenessP50: percentile(lateness, 50),
    latenessP99: percentile(lateness, 99),
    latenessMax: Math.max(...lateness),
    probed: Object.keys(probe.seen).length,
    probeAnswers: probe.answers,
    probeGap: probe.gapP50,
    probeMsP50: percentile(stormTimings, 50),
    probeMsP99: percentile(stormTimings, 99),
    deadlineSpreadMs: lastDeadline - firstDeadline,
    staleAnswers,
    staleMax,
    neverLeft,
    afterward: `${nxStatus} (${nx.answers} answers)`,
  };
}

// ---- report -----------------------------------------------------------------------------------

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function largeRows(large: Awaited<ReturnType<typeof largeService>>): string[][] {
  return [
    ['UDP SRV, no EDNS (`dig +notcp +noedns +ignore`)', `${large.udp.answers} answers, ${large.udp.bytes} bytes, TC ${large.udp.truncated ? 'set' : 'NOT set'}, ${large.udp.ms} ms`],
    ['UDP SRV, EDNS 1232', `${large.udpEdns.answers} answers, ${large.udpEdns.bytes} bytes, TC ${large.udpEdns.truncated ? 'set' : 'NOT set'}, ${large.udpEdns.ms} ms`],
    ['TCP SRV (`dig +tcp`)', `${large.tcp.answers} answers, ${large.tcp.bytes} bytes, TC ${large.tcp.truncated ? 'set' : 'not set'}, ${large.tcp.ms} ms`],
    ['TCP SRV right after a change (connect, query, answer)', `p50 ${fixed(large.tcpP50, 1)} ms, max ${fixed(large.tcpMax, 1)} ms over ${large.tcpQueries}`],
    ['other queries, idle (every 2 ms)', `p50 ${fixed(large.idleLatency.p50, 2)} / p99 ${fixed(large.idleLatency.p99, 2)} / max ${fixed(large.idleLatency.max, 2)} ms (${large.idleLatency.count})`],
    [`other queries while it changed ${large.changes} times and was asked over TCP after each`, `p50 ${fixed(large.busyLatency.p50, 2)} / p99 ${fixed(large.busyLatency.p99, 2)} / max ${fixed(large.busyLatency.max, 2)} ms (${large.busyLatency.count})`],
  ];
}

/** The storm's table rows. */
function stormRows(storm: Awaited<ReturnType<typeof expiryStorm>>): string[][] {
  return [
    ['instances whose lease lapsed', fixed(storm.expired)],
    ['qps before (steady services, dnsperf)', `${fixed(storm.before.qps)} (baseline ${fixed(storm.baseline.qps)})`],
    ['qps during the storm', `${fixed(storm.during.qps)} (${(storm.during.qps / storm.before.qps).toFixed(3)} of before), lost ${storm.during.lost}`],
    [
      `lateness of expiry (left DNS − deadline), ${fixed(storm.probed)} instances of ${PROBED.length} services asked for over and over (${fixed(storm.probeAnswers)} answers, one per service every ${fixed(storm.probeGap, 1)} ms)`,
      `p50 ${fixed(storm.latenessP50)} ms, p99 ${fixed(storm.latenessP99)} ms, max ${fixed(storm.latenessMax)} ms (bound: 100 ms); never left: ${storm.neverLeft}`,
    ],
    [
      `the probe's answers while leases were lapsing (the ${fixed(storm.deadlineSpreadMs)} ms from the first deadline to the last): time to answer, an upper bound's share of the lateness`,
      `p50 ${fixed(storm.probeMsP50, 1)} ms, p99 ${fixed(storm.probeMsP99, 1)} ms`,
    ],
    ['answers asked for after an instance\'s deadline that still held it', storm.staleAnswers === 0 ? '0' : `${fixed(storm.staleAnswers)} instances, the latest asked ${fixed(storm.staleMax)} ms after the deadline`],
    ['a stormed service afterwards', storm.afterward],
  ];
}

async function main(): Promise<void> {
  try {
    if (ONLY_LARGE) {
      const large = await largeService();
      console.log(JSON.stringify(large));
      console.log('\n' + textTable(['large service', ''], largeRows(large)));
      return;
    }
    console.log(`# ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Linux ${os.release()}, dnsperf ${dnsperfVersion()}`);
    const baseline = await launch('baseline', [path.join(ROOT, 'bench/baseline-server.ts')], 'baseline ready');
    const baselinePort = portOf(baseline.ready.dns);
    if (PINNED) pinToCpu(baseline.pid, SERVER_CPU);

    if (ONLY_STORM) {
      console.log('an expiry storm of 100,000 leases...');
      const storm = await expiryStorm(baselinePort);
      console.log(JSON.stringify({ ...storm, before: storm.before.qps, during: storm.during.qps, baseline: storm.baseline.qps }));
      console.log('\n' + textTable(['expiry storm', ''], stormRows(storm)));
      return;
    }
    const emptyDir = path.join(scratch, 'empty');
    mkdirSync(emptyDir);
    const empty = await launchSignpost('Signpost empty', ['--data-dir', emptyDir]);
    const emptyReady = rssBytes(empty.pid);
    await dnsperf(empty.dnsPort, queryFile(path.join(scratch, 'empty.txt'), 10), 2, load);
    const emptyRss = { ready: emptyReady, dns: rssBytes(empty.pid), startupS: empty.readyMs / 1000 };
    await stop(empty.child);
    console.log(`empty server: ready in ${emptyRss.startupS.toFixed(2)} s, RSS ${mib(emptyRss.ready)} MiB (${mib(emptyRss.dns)} MiB after DNS)`);

    const rows = await growth(baselinePort, baseline.pid, emptyRss);
    console.log('\nwhere the bytes go (one process, a store that keeps nothing in memory, heap after GC)...');
    const parts = await breakdown(Math.min(100_000, Math.max(...SIZES)));
    console.log(JSON.stringify(parts));
    console.log('\na service of 10,000 instances...');
    const large = await largeService();
    console.log(JSON.stringify(large));
    console.log('\nan expiry storm of 100,000 leases...');
    const storm = await expiryStorm(baselinePort);
    console.log(JSON.stringify({ ...storm, before: storm.before.qps, during: storm.during.qps, baseline: storm.baseline.qps }));
    await stop(baseline.child);

    const reference = (perService: number) => rows.find((row) => row.perService === perService && row.instances === Math.min(...rows.filter((r) => r.perService === perService).map((r) => r.instances)));
    const header = ['instances', 'services × size', 'write data dir s', 'start-up s', 'first query of every service s', 'RSS ready MiB', 'RSS after DNS MiB', 'bytes/instance (ready / after DNS)', 'write CPU µs', 'DNS qps / baseline', 'vs smallest'];
    const tableRows = rows.map((row) => [
      fixed(row.instances),
      `${fixed(row.instances / row.perService)} × ${fixed(row.perService)}`,
      fixed(row.populateS, 1),
      fixed(row.startupS, 2),
      fixed(row.warmS, 1),
      mib(row.rssReady),
      mib(row.rssDns),
      `${fixed(row.bytesPerInstance)} / ${fixed(row.bytesPerInstanceDns)}`,
      fixed(row.writeCpuUs),
      `${row.ratio.toFixed(3)} (${fixed(row.signpostQps)} / ${fixed(row.baselineQps)})`,
      (row.ratio / reference(row.perService)!.ratio).toFixed(3),
    ]);
    const partRows = Object.entries(parts).map(([part, bytes]) => [part, fixed(bytes)]);
    const largeRowsNow = largeRows(large);
    const stormTable = stormRows(storm);
    console.log('\n' + textTable(header, tableRows));
    console.log('\n' + textTable(['part', 'bytes per instance'], partRows));
    console.log('\n' + textTable(['large service', ''], largeRowsNow));
    console.log('\n' + textTable(['expiry storm', ''], stormTable));
    if (WRITE) {
      const command = (process.env.SCALE_SIZES ? `SCALE_SIZES=${SIZES.join(',')} ` : '') + 'npm run bench:scale';
      writeSection(
        SECTION_HEADING,
        [
          SECTION_HEADING,
          '',
          `Command: \`${command}\` (\`-- --write\` rewrites this section). Date: ${new Date().toISOString().slice(0, 10)}. ` +
            `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}, dnsperf ${dnsperfVersion()}` +
            (PINNED ? `; servers on CPU ${SERVER_CPU}, dnsperf on CPU ${DNSPERF_CPU}.` : '.'),
          '',
          `Growth: the data directory written through the store (batches of ${fixed(BATCH)}), then \`signpost serve\` from it. ` +
            `Bytes per instance: RSS over an empty server's (${mib(emptyRss.ready)} MiB at ready, ${mib(emptyRss.dns)} MiB after DNS), ` +
            `after DNS = once every service has been asked for (its records built; the time that took is its own column). Write CPU: the server's CPU time per durable write ` +
            `(${fixed(WRITES)} registrations into existing services, then their deregistrations, ${WRITE_CONCURRENCY} at a time). ` +
            `DNS: \`dnsperf -c ${load.clients} -q ${load.outstanding} -l ${SECONDS}\`, ${ROUNDS} rounds alternating with the bare-socket baseline, ` +
            `${fixed(QUERIES)} queries over every service (half A, a quarter \`_svc._tcp\` SRV, a quarter SRV, 5% unknown); medians. ` +
            `"vs smallest" is the ratio over the smallest size's ratio with the same service size.`,
          '',
          markdownTable(header, tableRows),
          '',
          `Where an instance's bytes go (\`bench/scale-breakdown.ts\`, ${fixed(Math.min(100_000, Math.max(...SIZES)))} instances in services of 100, one process, heap after a forced GC):`,
          '',
          markdownTable(['part', 'bytes per instance'], partRows),
          '',
          'A service of 10,000 instances (weights 1-100), beside 200 services of 3:',
          '',
          markdownTable(['', ''], largeRowsNow),
          '',
          `An expiry storm: 100,000 instances (1,000 services × 100, ttl ${40} s) restored at start-up, so their leases lapse within the same second or two; ` +
            'dnsperf asks for 200 other services (no lease) before (5 s) and across it (11 s, from 8 s before the last lease lapses), ' +
            `while a client of its own (bench/scale-storm-probe.ts) asks for ${PROBED.length} of the stormed services over and over across it, over TCP: ` +
            'an instance left DNS between the last answer that held it (asked) and the first that did not (received):',
          '',
          markdownTable(['', ''], stormTable),
          '',
        ].join('\n'),
      );
      console.log(`\nwrote "${SECTION_HEADING}" in BENCHMARKS.md`);
    }
  } finally {
    await stopAllAndRemove(scratch);
  }
}

stopOnInterrupt(() => stopAllAndRemove(scratch));

try {
  await main();
} catch (error) {
  console.error(`bench: ${(error as Error).stack}`);
  process.exitCode = 1;
}
