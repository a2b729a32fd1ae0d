// Active checks in a cluster: one node probes each check, every node shows its results. Real etcd
// (test/helpers/etcd.ts), real Signpost nodes (child processes where one is killed), a real HTTP
// backend that counts the probes it gets.
import http from 'node:http';
import { once } from 'node:events';
import { addresses } from './helpers/dns.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { spawnSignpost, type SignpostProcess } from './helpers/process.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { eventually } from './helpers/wait.ts';
import { shardOf } from '../src/store/etcd/check-owners.ts';

let prefixes = 0;
const freshPrefix = () => `/signpost-checks-${process.pid}-${++prefixes}/`;

/** An HTTP backend for checks: answers 200 while healthy, 503 otherwise, and remembers when it was probed. */
interface Backend {
  url: string;
  healthy: boolean;
  probes: number[];
  /** Resolves once `count` more probes than now have come. */
  probesAfter(count: number): Promise<void>;
  close(): Promise<void>;
}

async function startBackend(): Promise<Backend> {
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const backend: Backend = {
    url: '',
    healthy: true,
    probes: [],
    probesAfter(count) {
      const target = backend.probes.length + count;
      return new Promise((resolve) => waiters.push({ count: target, resolve }));
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server = http.createServer((request, response) => {
    backend.probes.push(Date.now());
    for (const waiter of [...waiters]) {
      if (backend.probes.length < waiter.count) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    response.writeHead(backend.healthy ? 200 : 503).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  backend.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
  return backend;
}


const put = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });

interface ShownInstance {
  id: string;
  status: string;
  health: Record<string, { status: string; note: string; since: string }>;
  registeredAt: string;
  warmingUp: { since: string } | null;
  maintenance: { reason: string } | null;
}

/** What a node shows of a service that every node must show alike, times to the ms included. */
async function view(url: string, service: string) {
  const body = (await (await fetch(`${url}/v1/services/${service}`)).json()) as { protection: { tripped: boolean }; instances: ShownInstance[] };
  return {
    tripped: body.protection.tripped,
    instances: body.instances.map(({ id, status, health, registeredAt, warmingUp, maintenance }) => ({
      id,
      status,
      health,
      registeredAt,
      warmingSince: warmingUp?.since ?? null,
      maintenance,
    })),
  };
}

/** Polls until every node shows the same view and `accept` takes it; returns it. */
async function agreed(urls: string[], service: string, accept: (shown: Awaited<ReturnType<typeof view>>) => boolean, what: string) {
  return eventually(async () => {
    const views = await Promise.all(urls.map((url) => view(url, service)));
    if (!accept(views[0])) return undefined;
    for (const other of views.slice(1)) if (JSON.stringify(other) !== JSON.stringify(views[0])) return undefined;
    return views[0];
  }, 20_000, what);
}

describe('active checks on three nodes', () => {
  let etcd: EtcdCluster;
  let backend: Backend;
  const processes: SignpostProcess[] = [];
  const nodes: TestSignpost[] = [];

  beforeAll(async () => {
    [etcd, backend] = await Promise.all([startEtcd(1), startBackend()]);
  }, 30_000);

  afterAll(async () => {
    for (const child of processes) await child.stop('SIGKILL');
    for (const node of nodes) await node.close();
    await backend?.close();
    await etcd?.close();
  });

  it('one node probes each check; all agree on GET and DNS; a killed owner is replaced and probing resumes', async () => {
    const prefix = freshPrefix();
    const args = (name: string) => ['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', etcd.storeUrl, '--etcd-prefix', prefix, '--no-recursion', '--node-name', name];
    const started = await Promise.all(['n1', 'n2', 'n3'].map((name) => spawnSignpost(args(name))));
    processes.push(...started);
    const urls = started.map((node) => node.url);
    const registered = await put(urls[0], '/v1/services/web/instances/w1', { address: '127.0.4.1', port: 80, check: { http: backend.url, interval: 1, timeout: 0.5 } });
    expect(registered.status).toBe(200);
    const passing = await agreed(urls, 'web', (shown) => shown.instances[0]?.status === 'passing', 'every node to show w1 passing');
    expect(passing.instances[0].health.check.note).toMatch(/200/);
    for (const node of started) expect(await addresses(node.dnsPort, 'web.service.local')).toEqual(['127.0.4.1']);

    // About one probe a second, not three: twelve probes take at least eleven intervals from one
    // prober; three nodes probing each would send them in about four seconds.
    await backend.probesAfter(1);
    const from = backend.probes.at(-1)!;
    await backend.probesAfter(12);
    const rate = 12 / ((backend.probes.at(-1)! - from) / 1000);
    console.log(`three nodes, one check every 1 s: ${rate.toFixed(2)} probes/s`);
    expect(rate).toBeLessThan(2);

    // The backend fails: every node turns it critical with the same note and time, and DNS drops it everywhere.
    backend.healthy = false;
    const critical = await agreed(urls, 'web', (shown) => shown.instances[0]?.status === 'critical', 'every node to show w1 critical');
    expect(critical.instances[0].health.check.note).toMatch(/503/);
    for (const node of started) expect(await addresses(node.dnsPort, 'web.service.local')).toEqual([]);
    backend.healthy = true;
    await agreed(urls, 'web', (shown) => shown.instances[0]?.status === 'passing', 'every node to show w1 passing again');

    // Kill the node that owns the check (etcd says which): another node takes over and probing resumes.
    const client = new Etcd3({ hosts: `http://${etcd.members[0].endpoint}` });
    let ownerName: string;
    try {
      ownerName = JSON.parse((await client.get(`${prefix}owners/${shardOf('web', 'w1')}`).string())!).node as string;
    } finally {
      client.close();
    }
    const owner = started[['n1', 'n2', 'n3'].indexOf(ownerName)];
    await owner.stop('SIGKILL');
    const killedAt = Date.now();
    const survivors = started.filter((node) => node !== owner);
    // A probe from the new owner, then the backend failing is seen by the survivors: the new owner probes and shares.
    await backend.probesAfter(1);
    await eventually(() => (backend.probes.at(-1)! > killedAt ? true : undefined), 15_000, 'probes to resume');
    const resumed = backend.probes.find((time) => time > killedAt)!;
    console.log(`owner killed: probes resumed after ${resumed - killedAt} ms (lease ttl 3 s + interval 1 s)`);
    backend.healthy = false;
    await agreed(survivors.map((node) => node.url), 'web', (shown) => shown.instances[0]?.status === 'critical', 'the survivors to show w1 critical');
    for (const node of survivors) expect(await addresses(node.dnsPort, 'web.service.local')).toEqual([]);
    backend.healthy = true;
    // Still one prober among the two survivors.
    await backend.probesAfter(1);
    const again = backend.probes.at(-1)!;
    await backend.probesAfter(8);
    expect(8 / ((backend.probes.at(-1)! - again) / 1000)).toBeLessThan(2);

    // Deregistered: its stored result goes with it, and probing stops.
    expect((await fetch(`${survivors[0].url}/v1/services/web/instances/w1`, { method: 'DELETE' })).status).toBe(204);
    const reader = new Etcd3({ hosts: `http://${etcd.members[0].endpoint}` });
    try {
      expect(await reader.getAll().prefix(`${prefix}checks/`).keys()).toEqual([]);
    } finally {
      reader.close();
    }
    await eventually(async () => ((await Promise.all(survivors.map((node) => fetch(`${node.url}/v1/services/web/instances/w1`)))).every((r) => r.status === 404) ? true : undefined), 10_000, 'w1 gone everywhere');
  }, 90_000);

  it('warm-up, protection and maintenance read the same on every node, one started later included', async () => {
    const prefix = freshPrefix();
    const down = await startBackend();
    down.healthy = false;
    try {
      const node = (name: string) => startTestSignpost({ store: etcd.storeUrl as `etcd://${string}`, etcdPrefix: prefix, nodeName: name, httpMaxEventLoopDelay: 0 });
      const [a, b] = await Promise.all([node('a'), node('b')]);
      nodes.push(a, b);
      expect((await put(a.url, '/v1/services/api/settings', { warmup: 600, protectionThreshold: 0.5 })).status).toBe(200);
      const check = (url: string) => ({ http: url, interval: 1, timeout: 0.5 });
      expect((await put(a.url, '/v1/services/api/instances/up', { address: '127.0.5.1', port: 80, check: check(backend.url) })).status).toBe(200);
      expect((await put(b.url, '/v1/services/api/instances/down', { address: '127.0.5.2', port: 80, check: check(down.url) })).status).toBe(200);
      // Half healthy, at the threshold: protection trips, and DNS serves both, on every node.
      const first = await agreed([a.url, b.url], 'api', (shown) => shown.instances.find((i) => i.id === 'up')?.status === 'passing' && shown.instances.find((i) => i.id === 'down')?.health.check.note.includes('503') === true, 'a and b to agree');
      expect(first.tripped).toBe(true);
      expect(first.instances.find((i) => i.id === 'up')!.warmingSince).not.toBeNull();
      // A node started now reads the same: the registration time and the check's results come from etcd, not from its start.
      const c = await node('c');
      nodes.push(c);
      const urls = [a.url, b.url, c.url];
      const all = await agreed(urls, 'api', (shown) => shown.instances.length === 2, 'c to agree with a and b');
      expect(all).toEqual(first);
      for (const signpost of [a, b, c]) expect(await addresses(signpost.dns.port, 'api.service.local')).toEqual(['127.0.5.1', '127.0.5.2']);
      // The published weight ramps from the same moment on every node (reads a few ms apart: within one unit).
      const weights = await Promise.all(urls.map(async (url) => ((await (await fetch(`${url}/v1/services/api/instances/up`)).json()) as { effectiveWeight: number }).effectiveWeight));
      expect(Math.max(...weights) - Math.min(...weights)).toBeLessThanOrEqual(1);
      expect(Math.max(...weights)).toBeLessThan(100);
      // Maintenance through c: out of DNS on every node; protection no longer counts it.
      expect((await put(c.url, '/v1/services/api/instances/down/maintenance', { enabled: true, reason: 'disk swap' })).status).toBe(200);
      const maintained = await agreed(urls, 'api', (shown) => shown.instances.find((i) => i.id === 'down')?.status === 'maintenance', 'maintenance everywhere');
      expect(maintained.tripped).toBe(false);
      for (const signpost of [a, b, c]) expect(await addresses(signpost.dns.port, 'api.service.local')).toEqual(['127.0.5.1']);
    } finally {
      await down.close();
    }
  }, 60_000);
});

describe('active checks while etcd is away', () => {
  it('every node keeps the last stored result (none applies what it could not store); when etcd is back, results flow again', async () => {
    const etcd = await startEtcd(1);
    const backend = await startBackend();
    const prefix = freshPrefix();
    const started: TestSignpost[] = [];
    try {
      const node = (name: string) => startTestSignpost({ store: etcd.storeUrl as `etcd://${string}`, etcdPrefix: prefix, nodeName: name, httpMaxEventLoopDelay: 0 });
      started.push(await node('a'), await node('b'));
      const urls = started.map((signpost) => signpost.url);
      expect((await put(urls[0], '/v1/services/db/instances/d1', { address: '127.0.6.1', port: 80, check: { http: backend.url, interval: 0.5, timeout: 0.4 } })).status).toBe(200);
      await agreed(urls, 'db', (shown) => shown.instances[0]?.status === 'passing', 'd1 passing on both');
      await etcd.members[0].stop('SIGKILL');
      try {
        backend.healthy = false;
        // The owner probes and sees the failure, but cannot store it: no node applies it.
        await backend.probesAfter(1);
        for (const signpost of started) {
          await eventually(async () => ((await (await fetch(`${signpost.url}/healthz`)).json()) as { store: string }).store === 'unavailable' || undefined, 10_000, 'store unavailable');
        }
        const during = await Promise.all(urls.map((url) => view(url, 'db')));
        expect(during.map((shown) => shown.instances[0].status)).toEqual(['passing', 'passing']);
        for (const signpost of started) expect(await addresses(signpost.dns.port, 'db.service.local')).toEqual(['127.0.6.1']);
      } finally {
        await etcd.members[0].start();
      }
      const critical = await agreed(urls, 'db', (shown) => shown.instances[0]?.status === 'critical', 'd1 critical on both once etcd is back');
      expect(critical.instances[0].health.check.note).toMatch(/503/);
      for (const signpost of started) expect(await addresses(signpost.dns.port, 'db.service.local')).toEqual([]);
    } finally {
      for (const signpost of started) await signpost.close();
      await backend.close();
      await etcd.close();
    }
  }, 60_000);
});
