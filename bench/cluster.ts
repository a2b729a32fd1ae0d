// Benchmark of the clustered store, reported in BENCHMARKS.md "## Clustering on etcd".
//
// One etcd member (Debian etcd-server, on loopback, data in a temp dir) and NODES `signpost serve`
// child processes on it, beside one embedded node (SQLite, the default store) in the same run:
//  - registrations/s (new instances, and registering known ones again) and heartbeats/s (autocannon,
//    CONNECTIONS connections) through one node, through all nodes at once, and through the embedded
//    node, with the clustered/embedded ratio of the same round; the share of answers that were not
//    2xx; and how many etcd writes the heartbeats cost (etcd's revision before and after, and the
//    lease keys written, counted on a watch) and how many etcd revisions (transactions) the
//    registrations took;
//  - cross-node propagation: PROPAGATION_SAMPLES registrations on node 0, each timed from its HTTP 200
//    until node 1 answers it over DNS (polled over UDP as fast as answers come back);
//  - DNS qps (dnsperf) on a clustered node and on the embedded node, ROUNDS rounds alternating.
//
// Run: npm run bench:cluster [-- --duration SECONDS --rounds N]
import autocannon from 'autocannon';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { EtcdConnection } from '../src/store/etcd/connection.ts';
import { KeepAlive } from '../src/store/etcd/keepalive.ts';
import { TxnBatcher } from '../src/store/etcd/txn-batch.ts';
import { startEtcd, type EtcdCluster } from '../test/helpers/etcd.ts';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, dnsperf, launchSignpost, markdownTable, median, percentile, stopAll, stopOnInterrupt, writeSection } from './lib.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' } } });
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const NODES = 3;
const CONNECTIONS = 64;
const INSTANCES = 5_000;
const SERVICES = 100;
const PROPAGATION_SAMPLES = 300;
const refused: string[] = [];
/** 503s met while registering the instances the loads use (set-up, retried). */
let setupRefusals = 0;
/** Answers per load, 2xx and not, summed over the rounds. */
const answers: Record<string, { ok: number; other: number }> = {};

const scratch = mkdtempSync(join(tmpdir(), 'signpost-bench-cluster-'));
let etcd: EtcdCluster | undefined;
const cleanUp = async () => {
  await stopAll();
  await etcd?.close();
  rmSync(scratch, { recursive: true, force: true });
};
stopOnInterrupt(cleanUp);

const path = (i: number) => `/v1/services/svc-${i % SERVICES}/instances/i${i}`;
const body = (i: number, version: number) => JSON.stringify({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1 + (version % 60000), ttl: 60 });

type Kind = 'register' | 'register-new' | 'heartbeat';

/** Requests/s answered 2xx by `urls` together, each loaded by CONNECTIONS connections for DURATION s. */
async function load(name: string, urls: string[], kind: Kind, version: number): Promise<number> {
  const results = await Promise.all(
    urls.map((url, node) => {
      let sent = 0;
      return autocannon({
        url,
        connections: CONNECTIONS,
        duration: DURATION,
        requests: [
          {
            method: 'PUT',
            setupRequest: (request) => {
              // Each node gets its own share of the instances (node, node + nodes, …), so nodes never write
              // the same key at once, and a heartbeat client keeps to one node, as real ones do.
              const share = Math.floor(INSTANCES / urls.length);
              const i = node + urls.length * (sent++ % share);
              if (kind === 'register-new') {
                // An instance never registered before: a new lease and two new keys.
                return { ...request, path: `/v1/services/new-${sent % SERVICES}/instances/n${version}-${node}-${sent}`, headers: { 'content-type': 'application/json' }, body: body(i, version) };
              }
              return kind === 'register'
                ? { ...request, path: path(i), headers: { 'content-type': 'application/json' }, body: body(i, version + sent) }
                : { ...request, path: `${path(i)}/heartbeat` };
            },
          },
        ],
      });
    }),
  );
  // Only 2xx answers count; the others (503: an etcd call or keep-alive over its limit under this load) are reported beside.
  const tally = (answers[name] ??= { ok: 0, other: 0 });
  for (const result of results) {
    if (result.errors > 0) throw new Error(`${result.errors} connection errors: ${JSON.stringify(result.statusCodeStats)}`);
    tally.ok += result['2xx'];
    tally.other += result.non2xx;
    if (result.non2xx > 0) {
      console.error(`${name}: non-2xx: ${JSON.stringify(result.statusCodeStats)}`);
      refused.push(`${name}: ${result.non2xx} non-2xx of ${result.non2xx + result['2xx']}`);
    }
  }
  return results.reduce((sum, result) => sum + result['2xx'] / result.duration, 0);
}

async function registerAll(url: string): Promise<void> {
  for (let start = 0; start < INSTANCES; start += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, INSTANCES - start) }, (_, k) =>
        (async () => {
          // Set-up, not measured: a 503 under this burst is counted and the registration tried again.
          for (let attempt = 1; ; attempt++) {
            const r = await fetch(`${url}${path(start + k)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: body(start + k, 0) });
            if (r.status === 200) return;
            if (r.status !== 503 || attempt === 3) throw new Error(`register: ${r.status}`);
            setupRefusals++;
          }
        })(),
      ),
    );
  }
}

/** A UDP client that asks `name A` until an answer has at least one record; resolves with the time it took (ms). */
function dnsQuery(name: string): Buffer {
  const labels = name.split('.').flatMap((label) => [label.length, ...Buffer.from(label)]);
  return Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}

async function untilAnswered(socket: dgram.Socket, port: number, name: string, deadlineMs = 5_000): Promise<void> {
  const query = dnsQuery(name);
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const reply = await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        resolve(null);
      }, 200);
      const onMessage = (message: Buffer) => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve(message);
      };
      socket.on('message', onMessage);
      socket.send(query, port, '127.0.0.1');
    });
    if (reply && reply.readUInt16BE(6) > 0) return;
    if (Date.now() > deadline) throw new Error(`${name} not answered on port ${port} within ${deadlineMs} ms`);
  }
}

async function etcdRevision(client: Etcd3): Promise<number> {
  return Number((await client.kv.range({ key: Buffer.from('/bench-probe') })).header.revision);
}

/**
 * What one etcd operation costs a node in CPU (this process, the clustered store's own classes, 64
 * at a time, COST_SAMPLES each after as many to warm up): what a new registration pays beyond an
 * embedded one is a lease grant, a keep-alive and its share of a batched transaction.
 */
const COST_SAMPLES = 2_000;
async function clientCost(endpoint: string): Promise<Record<string, number>> {
  const connection = new EtcdConnection([endpoint], '/bench-probe');
  const keepAlive = new KeepAlive(connection);
  const txns = new TxnBatcher(connection);
  const leases: string[] = [];
  const value = Buffer.from(JSON.stringify({ address: '10.0.0.1', port: 80, ttl: 60, tags: [], meta: {} }));
  const operations: Record<string, (i: number) => Promise<unknown>> = {
    'lease grant': async () => leases.push((await connection.call((client) => client.leaseClient.leaseGrant({ TTL: 60 }))).ID),
    'keep-alive': (i) => keepAlive.renew(leases[i % leases.length]),
    'put in a batched transaction': (i) => txns.write([{ request_put: { key: Buffer.from(`/bench-cost/${i}`), value } }], [`/bench-cost/${i}`]),
  };
  const costs: Record<string, number> = {};
  try {
    for (const [name, operation] of Object.entries(operations)) {
      for (const measured of [false, true]) {
        let next = 0;
        const before = process.cpuUsage();
        await Promise.all(Array.from({ length: 64 }, async () => {
          while (next < COST_SAMPLES) await operation(next++);
        }));
        const used = process.cpuUsage(before);
        if (measured) costs[name] = (used.user + used.system) / COST_SAMPLES;
      }
    }
  } finally {
    keepAlive.close();
    connection.close();
  }
  return costs;
}

async function main(): Promise<void> {
  etcd = await startEtcd(1);
  const client = new Etcd3({ hosts: `http://${etcd.members[0].endpoint}` });
  // info: the ready line is at info (each registration is logged too, on every node alike).
  const flags = ['--no-recursion', '--log-level', 'info', '--http-write-rate-limit', '0', '--http-max-event-loop-delay', '0'];
  const clustered = [];
  for (let n = 0; n < NODES; n++) clustered.push(await launchSignpost(`node ${n}`, ['--store', etcd.storeUrl, ...flags]));
  const embedded = await launchSignpost('embedded', ['--data-dir', scratch, ...flags]);
  const urls = clustered.map((node) => node.url);

  const rows: string[][] = [];
  const results: Record<string, number[]> = {};
  const record = (name: string, value: number) => (results[name] ??= []).push(value);
  console.log(`etcd on ${etcd.members[0].endpoint}; ${NODES} clustered nodes, 1 embedded (SQLite)`);
  await registerAll(urls[0]);
  await registerAll(embedded.url);

  const processes: Array<[string, number]> = [
    ['etcd', etcd.members[0].child!.pid!],
    ...clustered.map((node, n) => [`node ${n}`, node.pid] as [string, number]),
    ['embedded', embedded.pid],
    ['autocannon', process.pid],
  ];
  const cpu: Record<string, string[]> = {};
  // Lease keys written while heartbeats run, counted on a watch (open only then: it is one more
  // watcher for etcd to feed): a heartbeat through the node holding the lease writes nothing; the
  // first one through another node moves the lease there (one write).
  let leaseKeyWrites = 0;
  const leaseWritesPerHeartbeat: Record<string, number[]> = {};
  const etcdWritesPerHeartbeat: number[] = [];
  const registrationsPerRevision: number[] = [];
  const ratios: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}/${ROUNDS}`);
    const version = round * 1_000_000;
    const measure = async (name: string, target: string[], kind: Kind) => {
      const ticks = processes.map(([, pid]) => cpuTicks(pid));
      const started = performance.now();
      const perSecond = await load(name, target, kind, version);
      const seconds = (performance.now() - started) / 1000;
      record(name, perSecond);
      // Where the machine's CPU went meanwhile (share of one core each), to say what bounds the rate.
      (cpu[name] ??= []).push(processes.map(([who, pid], i) => `${who} ${Math.round((100 * (cpuTicks(pid) - ticks[i])) / CLOCK_TICKS_PER_SECOND / seconds)} %`).join(', '));
      return perSecond;
    };
    const embeddedNew = await measure('register new: embedded node', [embedded.url], 'register-new');
    let before = await etcdRevision(client);
    const clusteredNew = await measure('register new: one clustered node', [urls[0]], 'register-new');
    registrationsPerRevision.push((clusteredNew * DURATION) / ((await etcdRevision(client)) - before));
    (ratios['register new'] ??= []).push(clusteredNew / embeddedNew);
    const embeddedAgain = await measure('register again: embedded node', [embedded.url], 'register');
    const clusteredAgain = await measure('register again: one clustered node', [urls[0]], 'register');
    (ratios['register again'] ??= []).push(clusteredAgain / embeddedAgain);
    await measure(`register again: all ${NODES} clustered nodes`, urls, 'register');
    const embeddedBeat = await measure('heartbeat: embedded node', [embedded.url], 'heartbeat');
    const leaseWatch = await client.watch().prefix('/signpost/leases/').create();
    leaseWatch.on('put', () => leaseKeyWrites++);
    before = await etcdRevision(client);
    let writesBefore = leaseKeyWrites;
    const one = await measure('heartbeat: one clustered node', [urls[0]], 'heartbeat');
    etcdWritesPerHeartbeat.push(((await etcdRevision(client)) - before) / (one * DURATION));
    (leaseWritesPerHeartbeat['one node'] ??= []).push((leaseKeyWrites - writesBefore) / (one * DURATION));
    (ratios['heartbeat, one node'] ??= []).push(one / embeddedBeat);
    writesBefore = leaseKeyWrites;
    const all = await measure(`heartbeat: all ${NODES} clustered nodes`, urls, 'heartbeat');
    (leaseWritesPerHeartbeat[`all ${NODES} nodes`] ??= []).push((leaseKeyWrites - writesBefore) / (all * DURATION));
    await leaseWatch.cancel();
  }
  const share = (name: string) => {
    const tally = answers[name];
    return tally ? `${((100 * tally.other) / Math.max(1, tally.ok + tally.other)).toFixed(3)} %` : '';
  };
  for (const [name, perSecond] of Object.entries(results)) {
    rows.push([name, Math.round(median(perSecond)).toLocaleString('en-US'), perSecond.map((v) => Math.round(v).toLocaleString('en-US')).join(', '), share(name)]);
  }

  // Propagation: node 0 writes, node 1 answers.
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const delays: number[] = [];
  for (let i = 0; i < PROPAGATION_SAMPLES; i++) {
    const response = await fetch(`${urls[0]}/v1/services/prop${i}/instances/x`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: '10.9.9.9', port: 80, ttl: 60 }) });
    if (response.status !== 200) throw new Error(`register: ${response.status}`);
    const acked = performance.now();
    await untilAnswered(socket, clustered[1].dnsPort, `prop${i}.service.local`);
    delays.push(performance.now() - acked);
  }
  socket.close();

  // DNS qps: a clustered node beside the embedded node.
  const queryFile = join(scratch, 'queries.txt');
  writeFileSync(queryFile, Array.from({ length: 10_000 }, (_, i) => `svc-${i % SERVICES}.service.local A`).join('\n') + '\n');
  const qps: Record<string, number[]> = { 'clustered node': [], 'embedded node': [] };
  for (const target of [clustered[1], embedded]) await dnsperf(target.dnsPort, queryFile, 2);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, target] of [['clustered node', clustered[1]], ['embedded node', embedded]] as const) {
      console.log(`dnsperf ${name}, round ${round}`);
      qps[name].push((await dnsperf(target.dnsPort, queryFile, DURATION * 2)).qps);
    }
  }
  client.close();
  const costs = await clientCost(etcd.members[0].endpoint);

  const p = (q: number) => percentile(delays, q).toFixed(1);
  const section = [
    '## Clustering on etcd',
    '',
    `\`npm run bench:cluster\` (bench/cluster.ts), ${new Date().toISOString().slice(0, 10)}: one etcd ${'3.4'} member and ${NODES} Signpost nodes on it, beside one embedded node (SQLite) in the same run, all on one machine (${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} at the end). The machine is shared with other work: the numbers are noisy, compare rows of the same run rather than across runs.`,
    '',
    `Writes: autocannon, ${CONNECTIONS} connections per node, ${DURATION} s per measurement, ${ROUNDS} rounds, over ${INSTANCES.toLocaleString('en-US')} instances in ${SERVICES} services (ttl 60 s). Median of the rounds, then each round.`,
    '',
    markdownTable(['load', 'requests/s (median)', 'rounds', 'not 2xx'], rows),
    '',
    'CPU per process during each load (last round; 100 % is one core of the 2):',
    '',
    ...Object.entries(cpu).map(([name, shares]) => `- ${name}: ${shares.at(-1)}`),
    '',
    `Clustered (one node) / embedded, per round: ${Object.entries(ratios)
      .map(([name, values]) => `${name} ${values.map((v) => v.toFixed(2)).join(', ')}`)
      .join('; ')}.`,
    '',
    `Refused under load (counted out of the rates above): ${refused.length ? refused.join('; ') : 'none'}. Refused while registering the ${INSTANCES.toLocaleString('en-US')} instances first, 200 at a time, then retried: ${setupRefusals}.`,
    '',
    `New registrations per etcd revision (one transaction is one revision): ${registrationsPerRevision.map((v) => v.toFixed(1)).join(', ')}. etcd revisions per clustered heartbeat through one node: ${etcdWritesPerHeartbeat.map((v) => v.toFixed(4)).join(', ')}. Lease keys written per heartbeat (counted on a watch): ${Object.entries(leaseWritesPerHeartbeat)
      .map(([name, values]) => `${name} ${values.map((v) => v.toFixed(4)).join(', ')}`)
      .join('; ')}. A heartbeat through the node holding the instance's lease is answered from that node's memory (no etcd call; the node keeps one etcd lease per ttl alive, 4 keep-alives a second); the first heartbeat through another node moves the lease there, one write (batched, one transaction per event-loop turn). Each load above starts with instances held by the node that last registered or heartbeated them, so part of its heartbeats move leases once.`,
    '',
    `What an etcd operation costs a node in CPU (etcd3 and grpc-js in one process, 64 at a time, ${COST_SAMPLES.toLocaleString('en-US')} each): ${Object.entries(costs)
      .map(([name, micros]) => `${name} ${Math.round(micros)} µs`)
      .join(', ')}.`,
    '',
    'What a clustered registration costs beyond an embedded one: no lease grant (the lease key is bound to the lease its node keeps for that ttl, granted once; the grant above is what each new instance paid when it had a lease of its own), its share of a batched transaction, the echo of its own write on the watch, and the other two nodes each applying it from their watch. etcd, three Signpost nodes, the embedded node and autocannon share the machine\'s 2 cores (the CPU lines above), with other work.',
    '',
    `Cross-node propagation, ${PROPAGATION_SAMPLES} registrations on node 0, from the HTTP 200 until node 1 answers over DNS (polled back to back over UDP): p50 ${p(50)} ms, p99 ${p(99)} ms, max ${p(100)} ms.`,
    '',
    `DNS (dnsperf, ${DURATION * 2} s per run, ${SERVICES} names with 50 A records each): ${Object.entries(qps)
      .map(([name, runs]) => `${name} ${Math.round(median(runs)).toLocaleString('en-US')} qps (${runs.map((v) => Math.round(v).toLocaleString('en-US')).join(', ')})`)
      .join('; ')}. Both answer from memory; the clustered node does no etcd round trip per query.`,
  ].join('\n');
  console.log(`\n${section}`);
  writeSection('## Clustering on etcd', section);
}

try {
  await main();
} finally {
  await cleanUp();
}
