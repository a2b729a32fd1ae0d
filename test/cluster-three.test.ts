// A production-shaped cluster: a real three-member etcd and three `signpost serve` processes on it.
// What a user does on one node holds on the others; the etcd leader killed under registration load
// loses nothing acknowledged, refuses with 503 rather than hanging, and takes writes again within
// 10 s; a Signpost node stopped under DNS load leaves the others answering without a gap; a node
// killed right after acknowledging registrations loses none of them.
import { addresses } from './helpers/dns.ts';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdCluster, type EtcdMember } from './helpers/etcd.ts';
import { runCli, spawnSignpost, type SignpostProcess } from './helpers/process.ts';
import { eventually } from './helpers/wait.ts';

/** Longer than any write may take when etcd fails (calls of 2 s, one retry): a request past it hangs. */
const HANG_MS = 10_000;
let prefixes = 0;
const freshPrefix = () => `/signpost-three-test-${process.pid}-${++prefixes}/`;

const request = (url: string, method: string, path: string, body?: unknown) =>
  fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(HANG_MS),
  });


async function etcdKeys(member: EtcdMember, prefix: string): Promise<string[]> {
  const client = new Etcd3({ hosts: `http://${member.endpoint}` });
  try {
    return await client.getAll().prefix(prefix).keys();
  } finally {
    client.close();
  }
}

describe('three etcd members, three Signpost nodes', () => {
  let etcd: EtcdCluster;
  const processes: SignpostProcess[] = [];

  beforeAll(async () => {
    etcd = await startEtcd(3);
  }, 30_000);

  afterAll(async () => {
    for (const child of processes) await child.stop('SIGKILL');
    await etcd?.close();
  });

  async function nodes(count: number, prefix: string): Promise<SignpostProcess[]> {
    const args = ['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', etcd.storeUrl, '--etcd-prefix', prefix, '--no-recursion', '--http-write-rate-limit', '0'];
    const started = await Promise.all(Array.from({ length: count }, () => spawnSignpost(args)));
    processes.push(...started);
    return started;
  }

  it('written on one node, read, heartbeated and changed on the others', async () => {
    const [a, b, c] = await nodes(3, freshPrefix());
    expect((await request(a.url, 'PUT', '/v1/services/shop/instances/s1', { address: '127.0.5.1', port: 80, ttl: 30, tags: ['blue'] })).status).toBe(200);
    // Read on B (API) and C (DNS), once their watch delivered it.
    const onB = await eventually(async () => {
      const response = await request(b.url, 'GET', '/v1/services/shop/instances/s1');
      return response.status === 200 ? ((await response.json()) as { tags: string[]; status: string }) : undefined;
    }, 5_000, 'B to know s1');
    expect(onB).toMatchObject({ tags: ['blue'], status: 'passing' });
    await eventually(async () => ((await addresses(c.dnsPort, 'shop.service.local')).length === 1 ? true : undefined), 5_000, 'C to answer for s1');
    // A heartbeat on C reporting a warning is seen by A.
    expect((await request(c.url, 'PUT', '/v1/services/shop/instances/s1/heartbeat', { status: 'warning', note: 'queue deep' })).status).toBe(200);
    await eventually(async () => {
      const instance = (await (await request(a.url, 'GET', '/v1/services/shop/instances/s1')).json()) as { status: string; health: { lease: { note: string } } };
      return instance.status === 'warning' && instance.health.lease.note === 'queue deep' ? true : undefined;
    }, 5_000, 'A to see the warning');
    // Maintenance set on B takes it out of DNS on A; a deregistration on C removes it everywhere.
    expect((await request(b.url, 'PUT', '/v1/services/shop/instances/s1/maintenance', { enabled: true, reason: 'upgrade' })).status).toBe(200);
    await eventually(async () => ((await addresses(a.dnsPort, 'shop.service.local')).length === 0 ? true : undefined), 5_000, 'A to drop it for maintenance');
    expect((await request(c.url, 'DELETE', '/v1/services/shop/instances/s1')).status).toBe(204);
    for (const node of [a, b]) {
      await eventually(async () => ((await request(node.url, 'GET', '/v1/services/shop/instances/s1')).status === 404 ? true : undefined), 5_000, 'the deregistration everywhere');
    }
  }, 60_000);

  it('the etcd leader killed under registration load: nothing acknowledged lost, 503 rather than a hang, writes again within 10 s', async () => {
    const prefix = freshPrefix();
    const all = await nodes(3, prefix);
    const acknowledged = new Set<string>();
    const refusals = new Map<number, number>();
    let killedAt = 0;
    let firstAfterKill = 0;
    let next = 0;
    let stop = false;
    // 24 clients, 8 per node, registering new instances back to back.
    const client = async (node: SignpostProcess) => {
      while (!stop) {
        const id = `r${next++}`;
        const started = Date.now();
        const response = await request(node.url, 'PUT', `/v1/services/load/instances/${id}`, { address: '127.0.5.2', port: 1000 + (next % 60_000), ttl: 60 });
        if (response.status === 200) {
          acknowledged.add(id);
          if (killedAt && started > killedAt && !firstAfterKill) firstAfterKill = Date.now();
        } else {
          refusals.set(response.status, (refusals.get(response.status) ?? 0) + 1);
        }
        await response.arrayBuffer();
      }
    };
    const clients = all.flatMap((node) => Array.from({ length: 8 }, () => client(node)));
    await eventually(() => (acknowledged.size >= 200 ? true : undefined), 30_000, '200 registrations before the kill');
    const leader = await etcd.leader();
    await leader.stop('SIGKILL');
    killedAt = Date.now();
    await eventually(() => (firstAfterKill ? true : undefined), 10_000, 'a write started after the kill to succeed');
    expect(firstAfterKill - killedAt).toBeLessThan(10_000);
    const countAfter = acknowledged.size;
    await eventually(() => (acknowledged.size >= countAfter + 100 ? true : undefined), 30_000, '100 more registrations after the election');
    stop = true;
    // A request that hangs fails the fetch (HANG_MS) and with it this await.
    await Promise.all(clients);
    // Every refusal was a clear 503.
    expect([...refusals.keys()].filter((status) => status !== 503)).toEqual([]);
    const survivor = etcd.members.find((member) => member !== leader)!;
    const keys = new Set(await etcdKeys(survivor, `${prefix}instances/load/`));
    const missing = [...acknowledged].filter((id) => !keys.has(`${prefix}instances/load/${id}`));
    expect(missing).toEqual([]);
    // Every node holds every acknowledged registration.
    for (const node of all) {
      await eventually(async () => {
        const body = (await (await request(node.url, 'GET', '/v1/services/load')).json()) as { instances: Array<{ id: string }> };
        const ids = new Set(body.instances.map((instance) => instance.id));
        return [...acknowledged].every((id) => ids.has(id)) ? true : undefined;
      }, 10_000, 'every node to hold every acknowledged registration');
    }
    console.log(`leader killed: ${acknowledged.size} acknowledged, refused ${JSON.stringify(Object.fromEntries(refusals))}, writes again after ${firstAfterKill - killedAt} ms`);
    await leader.start();
  }, 120_000);

  it('a Signpost node stopped under DNS load: the other two answer every query, without a gap', async () => {
    const [a, b, c] = await nodes(3, freshPrefix());
    for (let i = 1; i <= 5; i++) expect((await request(a.url, 'PUT', `/v1/services/dns/instances/d${i}`, { address: `127.0.6.${i}`, port: 53, ttl: 60 })).status).toBe(200);
    const expected = ['127.0.6.1', '127.0.6.2', '127.0.6.3', '127.0.6.4', '127.0.6.5'];
    for (const node of [b, c]) await eventually(async () => ((await addresses(node.dnsPort, 'dns.service.local')).length === 5 ? true : undefined), 5_000, 'every node to answer');
    let stop = false;
    const answered = { a: 0, b: 0 };
    const wrong: string[] = [];
    const load = async (node: SignpostProcess, name: 'a' | 'b') => {
      while (!stop) {
        try {
          const got = await addresses(node.dnsPort, 'dns.service.local');
          if (got.join() === expected.join()) answered[name]++;
          else wrong.push(`${name}: ${got.join()}`);
        } catch (error) {
          wrong.push(`${name}: ${(error as Error).message}`);
        }
      }
    };
    const loops = [...Array.from({ length: 4 }, () => load(a, 'a')), ...Array.from({ length: 4 }, () => load(b, 'b'))];
    await eventually(() => (answered.a > 50 && answered.b > 50 ? true : undefined), 10_000, 'load to run');
    await c.stop('SIGKILL');
    const before = { ...answered };
    await eventually(() => (answered.a > before.a + 200 && answered.b > before.b + 200 ? true : undefined), 20_000, '200 more answers from each survivor');
    stop = true;
    await Promise.all(loops);
    expect(wrong).toEqual([]);
    // The survivors still take writes, and share them.
    expect((await request(b.url, 'PUT', '/v1/services/dns/instances/d6', { address: '127.0.6.6', port: 53, ttl: 60 })).status).toBe(200);
    await eventually(async () => ((await addresses(a.dnsPort, 'dns.service.local')).length === 6 ? true : undefined), 5_000, 'A to answer with d6');
  }, 60_000);

  it('a node killed (SIGKILL) right after acknowledging registrations: every one of them is in etcd', async () => {
    const prefix = freshPrefix();
    const [node] = await nodes(1, prefix);
    const acknowledged: string[] = [];
    let next = 0;
    let killed = false;
    const client = async () => {
      while (!killed) {
        const id = `k${next++}`;
        try {
          const response = await request(node.url, 'PUT', `/v1/services/kill/instances/${id}`, { address: '127.0.7.1', port: 80, ttl: 60 });
          if (response.status === 200) acknowledged.push(id);
        } catch {
          // The connection died with the node: not acknowledged.
        }
      }
    };
    const clients = Array.from({ length: 64 }, client);
    await eventually(() => (acknowledged.length >= 500 ? true : undefined), 30_000, '500 acknowledged registrations');
    killed = true;
    await node.stop('SIGKILL');
    await Promise.all(clients);
    const keys = new Set(await etcdKeys(etcd.members.find((member) => member.child)!, prefix));
    expect(acknowledged.filter((id) => !keys.has(`${prefix}instances/kill/${id}`) || !keys.has(`${prefix}leases/kill/${id}`))).toEqual([]);
  }, 60_000);
});

describe('an etcd that cannot be reached at start', () => {
  it('is one line on stderr and exit status 1', async () => {
    const closed = `127.0.0.1:${await (await import('./helpers/etcd.ts')).freePort()}`;
    const { code, stdout, stderr } = await runCli(['serve', '--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--no-recursion', '--store', `etcd://${closed}`]);
    expect(code).toBe(1);
    expect(`${stdout}${stderr}`).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n')).toEqual([
      `signpost: cannot start: cannot reach etcd at ${closed} (connect ECONNREFUSED ${closed}): start it, or point --store etcd://HOST:PORT[,HOST:PORT…] at its members`,
    ]);
  }, 30_000);
});
