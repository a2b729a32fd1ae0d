// Clustered Signpost on a real etcd: several nodes, one registry. etcd runs as child processes on
// loopback ports (test/helpers/etcd.ts); Signpost nodes run in-process, or as child processes where
// one must be killed. Every wait is for a condition (bounded by a deadline), never a blind sleep.
import { addresses } from './helpers/dns.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { eventually } from './helpers/wait.ts';
import { spawnSignpost, type SignpostProcess } from './helpers/process.ts';
import type { RemoteChange } from '../src/registry/store.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let prefixes = 0;
/** A fresh key prefix per test: the tests share one etcd but never each other's registrations. */
const freshPrefix = () => `/signpost-test-${process.pid}-${++prefixes}/`;

async function node(etcd: EtcdCluster, prefix: string, extra: Record<string, unknown> = {}): Promise<TestSignpost> {
  return startTestSignpost({ store: etcd.storeUrl as `etcd://${string}`, etcdPrefix: prefix, ...extra });
}


const put = (url: string, path: string, body?: unknown) =>
  fetch(`${url}${path}`, {
    method: 'PUT',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });

describe('several nodes on one etcd', () => {
  let etcd: EtcdCluster;
  const nodes: TestSignpost[] = [];
  const processes: SignpostProcess[] = [];

  beforeAll(async () => {
    etcd = await startEtcd(1);
  }, 30_000);

  afterAll(async () => {
    for (const signpost of nodes) await signpost.close();
    for (const child of processes) await child.stop('SIGKILL');
    await etcd?.close();
  });

  it('register on A, resolve on B at once after the watch; deregister on B leaves A', async () => {
    const prefix = freshPrefix();
    const a = await node(etcd, prefix);
    const b = await node(etcd, prefix);
    nodes.push(a, b);
    expect((await a.register('api', 'one', { address: '127.0.0.11', port: 80, ttl: 30 })).status).toBe(200);
    // Read-your-writes on the node that took the write: no waiting.
    expect(await addresses(a.dns.port, 'api.service.local')).toEqual(['127.0.0.11']);
    await eventually(async () => ((await addresses(b.dns.port, 'api.service.local')).length === 1 ? true : undefined), 5_000, 'B to see the registration');
    // Settings and maintenance are shared too.
    expect((await put(b.url, '/v1/services/api/instances/one/maintenance', { enabled: true, reason: 'disk swap' })).status).toBe(200);
    await eventually(() => (a.registry.get('api', 'one')?.status === 'maintenance' ? true : undefined), 5_000, 'A to see maintenance');
    expect(await addresses(a.dns.port, 'api.service.local')).toEqual([]);
    expect((await put(a.url, '/v1/services/api/instances/one/maintenance', { enabled: false, reason: '' })).status).toBe(200);
    await eventually(() => (b.registry.get('api', 'one')?.status === 'passing' ? true : undefined), 5_000, 'B to see maintenance end');
    const deleted = await fetch(`${b.url}/v1/services/api/instances/one`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    await eventually(async () => ((await addresses(a.dns.port, 'api.service.local')).length === 0 ? true : undefined), 5_000, 'A to drop it');
    // A third node started now loads what is there (nothing for api).
    const c = await node(etcd, prefix);
    nodes.push(c);
    expect(c.registry.get('api', 'one')).toBeUndefined();
  });

  it('a heartbeat on B keeps an instance registered through A alive; without heartbeats it leaves DNS everywhere', async () => {
    const prefix = freshPrefix();
    const a = await node(etcd, prefix, { gracePeriod: 60, nodeName: 'node-a' });
    const b = await node(etcd, prefix, { gracePeriod: 60, nodeName: 'node-b' });
    nodes.push(a, b);
    const started = Date.now();
    expect((await a.register('web', 'w1', { address: '127.0.0.21', port: 80, ttl: 2 })).status).toBe(200);
    await eventually(() => b.registry.get('web', 'w1'), 5_000, 'B to see w1');
    // Heartbeats on B only, for three TTLs.
    while (Date.now() - started < 6_000) {
      const beat = await put(b.url, '/v1/services/web/instances/w1/heartbeat');
      expect(beat.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await addresses(a.dns.port, 'web.service.local')).toEqual(['127.0.0.21']);
    expect(await addresses(b.dns.port, 'web.service.local')).toEqual(['127.0.0.21']);
    // B holds the lease since its first heartbeat took it over, and counts the heartbeats it takes
    // without writing them: B's API has the last one (under a second ago); A's says B holds it.
    const [seenByB] = (await (await fetch(`${b.url}/v1/services/web`)).json()).instances;
    expect(Date.parse(seenByB.lastHeartbeatAt)).toBeGreaterThan(started + 4_000);
    expect(Date.parse(seenByB.expiresAt)).toBeGreaterThan(Date.now());
    expect(seenByB.leaseHolder).toBeNull();
    const [seenByA] = (await (await fetch(`${a.url}/v1/services/web`)).json()).instances;
    expect(seenByA.leaseHolder).toBe('node-b');
    // A status report through a heartbeat reaches the other node (it is a write, unlike a plain renewal).
    expect((await put(b.url, '/v1/services/web/instances/w1/heartbeat', { status: 'warning', note: 'slow disk' })).status).toBe(200);
    await eventually(() => (a.registry.get('web', 'w1')?.status === 'warning' ? true : undefined), 5_000, 'A to see warning');
    // No more heartbeats: etcd lets the lease lapse, and both nodes take it out of DNS (critical, kept for the grace period).
    for (const signpost of [a, b]) {
      await eventually(async () => ((await addresses(signpost.dns.port, 'web.service.local')).length === 0 ? true : undefined), 8_000, 'expiry');
      expect(signpost.registry.get('web', 'w1')?.status).toBe('critical');
      expect(signpost.registry.get('web', 'w1')?.health.lease?.note).toMatch(/TTL expired/);
    }
    // A heartbeat after expiry revives it everywhere (a new lease).
    expect((await put(a.url, '/v1/services/web/instances/w1/heartbeat')).status).toBe(200);
    await eventually(() => (b.registry.get('web', 'w1')?.status === 'passing' ? true : undefined), 5_000, 'B to see it passing again');
  }, 30_000);

  it('an expired instance is deleted cluster-wide after its grace period', async () => {
    const prefix = freshPrefix();
    const a = await node(etcd, prefix, { gracePeriod: 1 });
    const b = await node(etcd, prefix, { gracePeriod: 1 });
    nodes.push(a, b);
    expect((await a.register('gone', 'g1', { address: '127.0.0.31', port: 80, ttl: 1 })).status).toBe(200);
    await eventually(() => b.registry.get('gone', 'g1'), 5_000, 'B to see g1');
    for (const signpost of [a, b]) await eventually(() => (signpost.registry.get('gone', 'g1') ? undefined : true), 10_000, 'deletion');
    const client = new Etcd3({ hosts: `http://${etcd.members[0].endpoint}` });
    try {
      expect(await client.getAll().prefix(prefix).keys()).toEqual([]);
    } finally {
      client.close();
    }
  }, 20_000);

  it('kill node A: B keeps serving everything, and takes writes', async () => {
    const prefix = freshPrefix();
    const args = ['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', etcd.storeUrl, '--etcd-prefix', prefix, '--no-recursion'];
    const a = await spawnSignpost(args);
    processes.push(a);
    const b = await node(etcd, prefix);
    nodes.push(b);
    for (let i = 1; i <= 20; i++) {
      expect((await put(a.url, `/v1/services/db/instances/d${i}`, { address: `127.0.1.${i}`, port: 5432, ttl: 60 })).status).toBe(200);
    }
    await eventually(() => (b.registry.instances('db')?.length === 20 ? true : undefined), 5_000, 'B to see all 20');
    await a.stop('SIGKILL');
    expect((await addresses(b.dns.port, 'db.service.local')).length).toBe(20);
    expect((await put(b.url, '/v1/services/db/instances/d21', { address: '127.0.1.21', port: 5432, ttl: 60 })).status).toBe(200);
    expect((await put(b.url, '/v1/services/db/instances/d1/heartbeat')).status).toBe(200);
    expect((await addresses(b.dns.port, 'db.service.local')).length).toBe(21);
  }, 30_000);

  it('etcd stopped: DNS answers from every node, writes get 503 within seconds; etcd back: writes succeed and views converge', async () => {
    const prefix = freshPrefix();
    const a = await node(etcd, prefix);
    const b = await node(etcd, prefix);
    nodes.push(a, b);
    expect((await a.register('pay', 'p1', { address: '127.0.0.41', port: 80, ttl: 30 })).status).toBe(200);
    await eventually(() => b.registry.get('pay', 'p1'), 5_000, 'B to see p1');
    await etcd.members[0].stop('SIGKILL');
    try {
      for (const signpost of [a, b]) expect(await addresses(signpost.dns.port, 'pay.service.local')).toEqual(['127.0.0.41']);
      const began = Date.now();
      const refused = await a.register('pay', 'p2', { address: '127.0.0.42', port: 80, ttl: 30 });
      expect(refused.status).toBe(503);
      expect((await refused.json()).message).toMatch(/etcd .* unavailable/);
      const beat = await put(b.url, '/v1/services/pay/instances/p1/heartbeat');
      expect(beat.status).toBe(503);
      expect(Date.now() - began).toBeLessThan(10_000);
      for (const signpost of [a, b]) {
        const health = await eventually(async () => {
          const body = (await (await fetch(`${signpost.url}/healthz`)).json()) as { store: string; status: string };
          return body.store === 'unavailable' ? body : undefined;
        }, 5_000, '/healthz to say the store is unavailable');
        expect(health.status).toBe('degraded');
        // Fail static: still answering after the outage was noticed.
        expect(await addresses(signpost.dns.port, 'pay.service.local')).toEqual(['127.0.0.41']);
      }
    } finally {
      await etcd.members[0].start();
    }
    // Writes succeed again without restarting the nodes (retrying while the client reconnects).
    await eventually(async () => ((await a.register('pay', 'p2', { address: '127.0.0.42', port: 80, ttl: 30 })).status === 200 ? true : undefined), 15_000, 'writes to succeed again');
    await eventually(async () => ((await addresses(b.dns.port, 'pay.service.local')).length === 2 ? true : undefined), 10_000, 'B to converge');
    await eventually(async () => ((await (await fetch(`${b.url}/healthz`)).json()) as { store: string }).store === 'available' || undefined, 10_000, 'B healthy');
    expect((await put(b.url, '/v1/services/pay/instances/p1/heartbeat')).status).toBe(200);
  }, 60_000);
});

describe('a watch whose revision was compacted', () => {
  it('re-reads the prefix and hands the registry what changed meanwhile, then follows again', async () => {
    const etcd = await startEtcd(1);
    const prefix = freshPrefix();
    const a = await node(etcd, prefix);
    const hosts = etcd.members.map((member) => member.endpoint);
    const client = new Etcd3({ hosts: hosts.map((host) => `http://${host}`) });
    const { EtcdStore } = await import('../src/store/etcd/store.ts');
    let b: Awaited<ReturnType<typeof EtcdStore.open>> | undefined;
    try {
      await a.register('web', 'keep', { address: '127.0.3.1', port: 80, ttl: 60 });
      await a.register('web', 'gone', { address: '127.0.3.2', port: 80, ttl: 60 });
      // B reads its snapshot now, and starts watching from it only later, as a node whose watch broke would.
      b = await EtcdStore.open(hosts, prefix, 'test-node');
      expect((await b.load()).map((registration) => registration.id).sort()).toEqual(['gone', 'keep']);
      await a.register('web', 'new', { address: '127.0.3.3', port: 80, ttl: 60 });
      expect((await fetch(`${a.url}/v1/services/web/instances/gone`, { method: 'DELETE' })).status).toBe(204);
      // Compact the history past B's snapshot: those events can no longer be replayed to it.
      const revision = Number((await client.put(`${prefix}marker`).value('x').exec()).header.revision);
      await client.kv.compact({ revision: String(revision), physical: true });

      const changes: RemoteChange[] = [];
      b.follow((change) => changes.push(change));
      const saw = (kind: RemoteChange['kind'], id: string) =>
        changes.some((change) => change.kind === kind && (change.kind === 'put' ? change.registration.id : 'id' in change ? change.id : '') === id);
      await eventually(() => (saw('put', 'new') && saw('delete', 'gone') ? true : undefined), 10_000, 'the re-read to deliver the missed changes');
      // And the watch it re-established carries later changes.
      await a.register('web', 'later', { address: '127.0.3.4', port: 80, ttl: 60 });
      await eventually(() => (saw('put', 'later') ? true : undefined), 10_000, 'the new watch to deliver a later change');
    } finally {
      await b?.close();
      client.close();
      await a.close();
      await etcd.close();
    }
  }, 60_000);
});
