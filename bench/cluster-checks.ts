// Benchmark of active checks in a cluster, reported in BENCHMARKS.md "## Clustering on etcd: active checks".
//
// One etcd member and NODES `signpost serve` child processes on it; CHECKS instances each with an HTTP
// check (interval 1 s) against one local backend that counts the probes per check path. Measures:
//  - probes per check per second over WINDOW s, with all nodes up (1.0 is one prober per check; every
//    node probing would be NODES), and how the shards spread over the nodes (etcd's owners/ keys);
//  - takeover: the owner of one check is killed (SIGKILL); the time until that check is probed again,
//    TAKEOVERS times (a fresh node replaces the killed one between takeovers), against the bound of
//    the owner-lease ttl plus one interval.
//
// Run: npm run bench:cluster-checks [-- --checks N --window SECONDS --takeovers N]
import http from 'node:http';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { CHECK_OWNERSHIP } from '../src/config/limits.ts';
import { shardOf } from '../src/store/etcd/check-owners.ts';
import { startEtcd, type EtcdCluster } from '../test/helpers/etcd.ts';
import { launchSignpost, markdownTable, median, stopAll, stopOnInterrupt, writeSection } from './lib.ts';

const { values } = parseArgs({ options: { checks: { type: 'string', default: '300' }, window: { type: 'string', default: '10' }, takeovers: { type: 'string', default: '3' } } });
const CHECKS = Number(values.checks);
const WINDOW = Number(values.window);
const TAKEOVERS = Number(values.takeovers);
const NODES = 3;
const PREFIX = '/signpost-bench-checks/';
const NOTE =
  'Before shared checks every node probed every check (3.0 here). A takeover is the killed owner\'s lease lapsing in etcd ' +
  '(the 3 s ttl; etcd looks for expired leases every 500 ms), the survivors seeing its owner keys deleted on their watch ' +
  'and taking the shards (one create-if-absent transaction each), then the check\'s next turn on the new owner (within one interval). ' +
  'A node stopped with SIGTERM revokes its lease, and the others take its shards at once.';

let etcd: EtcdCluster | undefined;
stopOnInterrupt(async () => {
  await stopAll();
  await etcd?.close();
});

/** Probe times per check path. */
const probes = new Map<string, number[]>();
const backend = http.createServer((request, response) => {
  const times = probes.get(request.url!) ?? [];
  times.push(Date.now());
  probes.set(request.url!, times);
  response.writeHead(200).end();
});
backend.listen(0, '127.0.0.1');
await once(backend, 'listening');
const backendPort = (backend.address() as { port: number }).port;
const total = () => [...probes.values()].reduce((sum, times) => sum + times.length, 0);

try {
  etcd = await startEtcd(1);
  const flags = (name: string) => ['--store', etcd!.storeUrl, '--etcd-prefix', PREFIX, '--no-recursion', '--node-name', name];
  let serial = 0;
  const names = Array.from({ length: NODES }, () => `n${serial++}`);
  const nodes = await Promise.all(names.map((name) => launchSignpost(name, flags(name))));
  for (let i = 0; i < CHECKS; i++) {
    const response = await fetch(`${nodes[0].url}/v1/services/svc-${i % 10}/instances/c${i}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: '127.0.0.1', port: 80, check: { http: `http://127.0.0.1:${backendPort}/c${i}`, interval: 1, timeout: 0.5 } }),
    });
    if (response.status !== 200) throw new Error(`registration ${i}: ${response.status}`);
  }
  // Two intervals to settle (first runs are spread over the first interval), then count.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const before = total();
  const began = Date.now();
  await new Promise((resolve) => setTimeout(resolve, WINDOW * 1000));
  const perCheck = (total() - before) / ((Date.now() - began) / 1000) / CHECKS;

  const client = new Etcd3({ hosts: `http://${etcd.members[0].endpoint}` });
  const ownerOf = async (shard: number) => JSON.parse((await client.get(`${PREFIX}owners/${shard}`).string()) ?? '{"node":null}').node as string | null;
  const owners = await client.getAll().prefix(`${PREFIX}owners/`).strings();
  const spread = new Map<string, number>();
  for (const value of Object.values(owners)) spread.set(JSON.parse(value).node, (spread.get(JSON.parse(value).node) ?? 0) + 1);

  const takeovers: number[] = [];
  for (let round = 0; round < TAKEOVERS; round++) {
    const path = `/c${round}`;
    const name = await ownerOf(shardOf(`svc-${round % 10}`, `c${round}`));
    const index = names.indexOf(name!);
    const victim = nodes[index];
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    for (;;) {
      const last = probes.get(path)!.at(-1)!;
      if (last > killedAt) {
        takeovers.push(last - killedAt);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // A fresh node in its place, so every round starts with NODES nodes.
    names[index] = `n${serial++}`;
    nodes[index] = await launchSignpost(names[index], flags(names[index]));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  client.close();

  const bound = CHECK_OWNERSHIP.leaseTtlSeconds * 1000 + 1000;
  const rows = [
    ['probes per check per second, all nodes up', perCheck.toFixed(3), `1.0 = one prober per check; ${NODES}.0 = every node probing`],
    ['shards per node', [...spread.entries()].map(([node, count]) => `${node}: ${count}`).join(', '), `${spread.size} nodes hold ${owners ? Object.keys(owners).length : 0} shards`],
    ['takeover after SIGKILL of the owner, ms', `median ${median(takeovers).toFixed(0)}, max ${Math.max(...takeovers).toFixed(0)}`, `each: ${takeovers.join(', ')}; bound: lease ttl + interval = ${bound}`],
  ];
  const table = markdownTable(['measure', 'value', 'notes'], rows);
  console.log(table);
  writeSection(
    '## Clustering on etcd: active checks',
    [
      '## Clustering on etcd: active checks',
      '',
      `\`npm run bench:cluster-checks -- --checks ${CHECKS} --window ${WINDOW} --takeovers ${TAKEOVERS}\` (bench/cluster-checks.ts), ${new Date().toISOString().slice(0, 10)}: one etcd member, ${NODES} Signpost nodes, ${CHECKS} instances with an HTTP check every 1 s against one local backend counting probes per check (${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} at the end).`,
      '',
      table,
      '',
      NOTE,
      '',
    ].join('\n'),
  );
} finally {
  await stopAll();
  await etcd?.close();
  backend.close();
}
