// The health model on the running server: reported statuses, active HTTP and TCP checks against
// real servers, maintenance, deregistration after critical, protection threshold and warm-up.
// Every step awaits the registry event that marks it; DNS is then asked with Node's resolver.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../src/registry/types.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const servers: TestSignpost[] = [];
const targets: Array<http.Server | net.Server> = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const target of targets.splice(0)) {
    (target as http.Server).closeAllConnections?.();
    await new Promise((resolve) => target.close(resolve));
  }
});

async function start(config: Parameters<typeof startTestSignpost>[0] = {}) {
  const signpost = await startTestSignpost(config);
  servers.push(signpost);
  return signpost;
}

const put = (signpost: TestSignpost, path: string, body?: unknown) =>
  fetch(`${signpost.url}${path}`, {
    method: 'PUT',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });

const healthOf = (id: string, status: string) => (event: RegistryEvent) =>
  event.type === 'health' && event.instance.id === id && event.instance.status === status;

async function addresses(signpost: TestSignpost, service: string): Promise<string[]> {
  try {
    return (await signpost.resolver().resolve4(`${service}.service.local`)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTFOUND') return [];
    throw error;
  }
}

/** An HTTP check target whose answer the test sets: a status code, or 'closed' (not listening). */
async function httpTarget() {
  let code = 200;
  let requests = 0;
  const server = http.createServer((_request, response) => {
    requests++;
    response.writeHead(code).end();
  });
  targets.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/health`,
    requests: () => requests,
    set: (next: number) => {
      code = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

describe('reported status', () => {
  it('a heartbeat may report warning (still served) or critical (not served), with a note', async () => {
    const signpost = await start();
    await signpost.register('api', 'a', { address: '10.3.0.1', port: 80 });
    await signpost.register('api', 'b', { address: '10.3.0.2', port: 80 });

    const warning = await put(signpost, '/v1/services/api/instances/a/heartbeat', { status: 'warning', note: 'disk 91% full' });
    expect(await warning.json()).toMatchObject({ status: 'warning' });
    expect(await addresses(signpost, 'api')).toEqual(['10.3.0.1', '10.3.0.2']);

    await put(signpost, '/v1/services/api/instances/b/heartbeat', { status: 'critical', note: 'db unreachable' });
    expect(await addresses(signpost, 'api')).toEqual(['10.3.0.1']);
    const listed = await (await fetch(`${signpost.url}/v1/services/api`)).json();
    const b = listed.instances.find((instance: { id: string }) => instance.id === 'b');
    expect(b.status).toBe('critical');
    expect(b.health.lease).toMatchObject({ status: 'critical', note: 'db unreachable' });

    // No body means passing again.
    expect((await (await put(signpost, '/v1/services/api/instances/b/heartbeat')).json()).status).toBe('passing');
    expect(await addresses(signpost, 'api')).toEqual(['10.3.0.1', '10.3.0.2']);
  });

  it('--only-passing serves passing instances only', async () => {
    const signpost = await start({ onlyPassing: true });
    await signpost.register('api', 'a', { address: '10.3.0.1', port: 80 });
    await signpost.register('api', 'b', { address: '10.3.0.2', port: 80 });
    await put(signpost, '/v1/services/api/instances/a/heartbeat', { status: 'warning' });
    expect(await addresses(signpost, 'api')).toEqual(['10.3.0.2']);
  });

  it('400 for a heartbeat status that is not passing, warning or critical', async () => {
    const signpost = await start();
    await signpost.register('api', 'a', { address: '10.3.0.1', port: 80 });
    const response = await put(signpost, '/v1/services/api/instances/a/heartbeat', { status: 'maintenance' });
    expect(response.status).toBe(400);
    expect((await response.json()).field).toBe('status');
  });
});

describe('active checks', () => {
  it('HTTP: starts critical, then follows 200 → 429 → 500 → closed → 200', async () => {
    const signpost = await start();
    const target = await httpTarget();
    const firstPass = signpost.nextEvent(healthOf('web-1', 'passing'));
    const registered = await (await signpost.register('web', 'web-1', { address: '10.4.0.1', port: 80, check: { http: target.url, interval: 0.2, timeout: 0.2 } })).json();
    // No traffic before the first check passed.
    expect(registered.status).toBe('critical');
    expect(registered.expiresAt).toBeNull();
    expect(await addresses(signpost, 'web')).toEqual([]);

    await firstPass;
    expect(await addresses(signpost, 'web')).toEqual(['10.4.0.1']);

    const warned = signpost.nextEvent(healthOf('web-1', 'warning'));
    target.set(429);
    await warned;
    expect(await addresses(signpost, 'web')).toEqual(['10.4.0.1']);

    const failed = signpost.nextEvent(healthOf('web-1', 'critical'));
    target.set(500);
    const event = await failed;
    expect(event.type === 'health' && event.instance.health.check?.note).toMatch(/500/);
    expect(await addresses(signpost, 'web')).toEqual([]);

    const recovered = signpost.nextEvent(healthOf('web-1', 'passing'));
    target.set(200);
    await recovered;
    expect(await addresses(signpost, 'web')).toEqual(['10.4.0.1']);

    const refused = signpost.nextEvent(healthOf('web-1', 'critical'));
    await target.close();
    const closedEvent = await refused;
    expect(closedEvent.type === 'health' && closedEvent.instance.health.check?.note).toMatch(/ECONNREFUSED/);
    expect(await addresses(signpost, 'web')).toEqual([]);
  });

  it('HTTP: a target slower than the timeout is critical', async () => {
    const signpost = await start();
    const slow = http.createServer(() => {
      // never answers
    });
    targets.push(slow);
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(slow.address() as net.AddressInfo).port}/`;
    const timedOut = signpost.nextEvent((event) => event.type === 'health' && /timed out/.test(event.instance.health.check?.note ?? ''));
    await signpost.register('slow', 's', { address: '10.4.0.9', port: 80, check: { http: url, interval: 0.2, timeout: 0.1 } });
    const event = await timedOut;
    expect(event.type === 'health' && event.instance.status).toBe('critical');
  });

  it('TCP: passing while the port accepts, critical once it is closed', async () => {
    const signpost = await start();
    const server = net.createServer((socket) => socket.destroy());
    targets.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const passing = signpost.nextEvent(healthOf('db-1', 'passing'));
    await signpost.register('db', 'db-1', { address: '10.4.1.1', port: 5432, check: { tcp: `127.0.0.1:${port}`, interval: 0.2, timeout: 0.2 } });
    await passing;
    expect(await addresses(signpost, 'db')).toEqual(['10.4.1.1']);
    const critical = signpost.nextEvent(healthOf('db-1', 'critical'));
    await new Promise((resolve) => server.close(resolve));
    await critical;
    expect(await addresses(signpost, 'db')).toEqual([]);
  });

  it('successBeforePassing and failuresBeforeCritical count consecutive results', async () => {
    const signpost = await start();
    const target = await httpTarget();
    const passing = signpost.nextEvent(healthOf('c', 'passing'));
    await signpost.register('counted', 'c', {
      address: '10.4.2.1',
      port: 80,
      check: { http: target.url, interval: 0.1, timeout: 0.1, successBeforePassing: 3, failuresBeforeCritical: 2 },
    });
    await passing;
    expect(target.requests()).toBeGreaterThanOrEqual(3);

    let noteChangedWhilePassing = false;
    const off = signpost.registry.onEvent((event) => {
      if (event.type === 'health' && event.instance.status === 'passing' && /500/.test(event.instance.health.check!.note)) {
        noteChangedWhilePassing = true;
      }
    });
    const critical = signpost.nextEvent(healthOf('c', 'critical'));
    target.set(500);
    const before = target.requests();
    await critical;
    off();
    // The first failure only changed the note; it took a second to make it critical.
    expect(noteChangedWhilePassing).toBe(true);
    expect(target.requests() - before).toBeGreaterThanOrEqual(2);
  });

  it('an instance with a check also heartbeating: the worse of both counts', async () => {
    const signpost = await start();
    const target = await httpTarget();
    const passing = signpost.nextEvent(healthOf('both', 'passing'));
    await signpost.register('mixed', 'both', { address: '10.4.3.1', port: 80, ttl: 60, check: { http: target.url, interval: 0.2, timeout: 0.2 } });
    await passing;
    const response = await put(signpost, '/v1/services/mixed/instances/both/heartbeat', { status: 'critical', note: 'queue stuck' });
    expect((await response.json()).status).toBe('critical');
    expect(await addresses(signpost, 'mixed')).toEqual([]);
    const listed = await (await fetch(`${signpost.url}/v1/services/mixed`)).json();
    expect(listed.instances[0].health).toMatchObject({ check: { status: 'passing' }, lease: { status: 'critical', note: 'queue stuck' } });
  });

  it('400 for a check with neither or both of http and tcp, or a timeout over the interval', async () => {
    const signpost = await start();
    for (const [check, field] of [
      [{ interval: 1 }, 'check'],
      [{ http: 'http://127.0.0.1:1/', tcp: '127.0.0.1:1' }, 'check'],
      [{ http: 'ftp://x/' }, 'check.http'],
      [{ tcp: 'no-port' }, 'check.tcp'],
      [{ http: 'http://127.0.0.1:1/', interval: 1, timeout: 5 }, 'check.timeout'],
      [{ http: 'http://127.0.0.1:1/', interval: 0 }, 'check.interval'],
    ] as const) {
      const response = await signpost.register('bad', 'x', { address: '10.0.0.1', port: 80, check });
      expect(response.status, JSON.stringify(check)).toBe(400);
      expect((await response.json()).field).toBe(field);
    }
  });
});

describe('maintenance', () => {
  it('takes an instance out of DNS and brings it back; shows each source', async () => {
    const signpost = await start();
    await signpost.register('pay', 'p1', { address: '10.5.0.1', port: 80 });
    await signpost.register('pay', 'p2', { address: '10.5.0.2', port: 80 });
    const on = await put(signpost, '/v1/services/pay/instances/p1/maintenance', { enabled: true, reason: 'kernel upgrade' });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({
      status: 'maintenance',
      maintenance: { reason: 'kernel upgrade' },
      health: { lease: { status: 'passing' }, maintenance: { status: 'maintenance', note: 'kernel upgrade' } },
    });
    expect(await addresses(signpost, 'pay')).toEqual(['10.5.0.2']);
    // Heartbeats do not end maintenance; re-registering does not either.
    await put(signpost, '/v1/services/pay/instances/p1/heartbeat');
    await signpost.register('pay', 'p1', { address: '10.5.0.1', port: 81 });
    expect(await addresses(signpost, 'pay')).toEqual(['10.5.0.2']);
    const off = await put(signpost, '/v1/services/pay/instances/p1/maintenance', { enabled: false });
    expect((await off.json()).status).toBe('passing');
    expect(await addresses(signpost, 'pay')).toEqual(['10.5.0.1', '10.5.0.2']);
    expect((await put(signpost, '/v1/services/pay/instances/nope/maintenance', { enabled: true })).status).toBe(404);
    expect((await put(signpost, '/v1/services/pay/instances/p1/maintenance', { reason: 'x' })).status).toBe(400);
  });
});

describe('deregisterCriticalAfter', () => {
  it('deletes an instance that stayed critical that long', async () => {
    const signpost = await start({ gracePeriod: 3600 });
    const critical = signpost.nextEvent(healthOf('doomed', 'critical'));
    await signpost.register('temp', 'doomed', { address: '10.6.0.1', port: 80, ttl: 1, deregisterCriticalAfter: 1 });
    await signpost.register('temp', 'kept', { address: '10.6.0.2', port: 80, ttl: 1 });
    await critical;
    const deleted = await signpost.nextEvent((event) => event.type === 'deregister');
    expect(deleted.type === 'deregister' && [deleted.instance.id, deleted.reason]).toEqual(['doomed', 'critical']);
    // `kept` has the server's grace period (an hour): still listed, as critical.
    const listed = await (await fetch(`${signpost.url}/v1/services/temp`)).json();
    expect(listed.instances.map((instance: { id: string; status: string }) => [instance.id, instance.status])).toEqual([['kept', 'critical']]);
  });
});

describe('protection threshold', () => {
  it('serves every instance not in maintenance when the healthy share falls to the threshold', async () => {
    const signpost = await start();
    for (let i = 1; i <= 4; i++) await signpost.register('cart', `c${i}`, { address: `10.7.0.${i}`, port: 80 });
    await put(signpost, '/v1/services/cart/instances/c4/maintenance', { enabled: true, reason: 'repair' });
    const settings = await put(signpost, '/v1/services/cart/settings', { protectionThreshold: 0.5 });
    expect(await settings.json()).toEqual({ protectionThreshold: 0.5, warmup: 0 });
    const tripped = new Promise<boolean>((resolve) => signpost.registry.onProtection((_service, state) => resolve(state)));
    await put(signpost, '/v1/services/cart/instances/c2/heartbeat', { status: 'critical' });
    // 2 of 3 healthy (0.67): not tripped.
    expect(await addresses(signpost, 'cart')).toEqual(['10.7.0.1', '10.7.0.3']);
    await put(signpost, '/v1/services/cart/instances/c3/heartbeat', { status: 'critical' });
    // 1 of 3 healthy (0.33 ≤ 0.5): tripped, every instance but the one in maintenance is served.
    expect(await tripped).toBe(true);
    expect(await addresses(signpost, 'cart')).toEqual(['10.7.0.1', '10.7.0.2', '10.7.0.3']);
    const listed = await (await fetch(`${signpost.url}/v1/services/cart`)).json();
    expect(listed.protection).toEqual({ tripped: true, healthyShare: 1 / 3 });
    // Off again: only the healthy one.
    await put(signpost, '/v1/services/cart/settings', { protectionThreshold: 0 });
    expect(await addresses(signpost, 'cart')).toEqual(['10.7.0.1']);
    expect((await (await fetch(`${signpost.url}/v1/services/cart`)).json()).protection.tripped).toBe(false);
  });

  it('400 for a threshold outside 0–1', async () => {
    const signpost = await start();
    const response = await put(signpost, '/v1/services/cart/settings', { protectionThreshold: 1.5 });
    expect(response.status).toBe(400);
    expect((await response.json()).field).toBe('protectionThreshold');
  });
});

describe('warm-up', () => {
  it('a new instance starts at 10% of its weight: in SRV weights, in first-position shares and in the API', async () => {
    const signpost = await start();
    await signpost.register('search', 'old', { address: '10.8.0.1', port: 80, weight: 100 });
    await put(signpost, '/v1/services/search/settings', { warmup: 600 });
    const fresh = await (await signpost.register('search', 'new', { address: '10.8.0.2', port: 80, weight: 100 })).json();
    expect(fresh).toMatchObject({ weight: 100, effectiveWeight: 10 });
    const srv = await signpost.resolver().resolveSrv('_search._tcp.service.local');
    expect(Object.fromEntries(srv.map((record) => [record.name.split('.')[0], record.weight]))).toEqual({ old: 100, new: 10 });
    let newFirst = 0;
    const rounds = 2000;
    const resolver = signpost.resolver();
    for (let batch = 0; batch < rounds / 100; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => resolver.resolveSrv('_search._tcp.service.local')));
      for (const answer of answers) if (answer[0].name.startsWith('new.')) newFirst++;
    }
    // 10 / 110 ≈ 0.09 (the ramp moves 4.5 points every 30 s; this sampling takes well under that).
    expect(Math.abs(newFirst / rounds - 10 / 110)).toBeLessThan(0.03);
  });

  it('ramps to the full weight by the end of the warm-up', async () => {
    const signpost = await start();
    await put(signpost, '/v1/services/search/settings', { warmup: 1 });
    const registered = await (await signpost.register('search', 'ramp', { address: '10.8.0.3', port: 80, weight: 200 })).json();
    expect(registered.effectiveWeight).toBe(20);
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      const off = signpost.registry.onChange(() => {
        seen.push(signpost.registry.effectiveWeight(signpost.registry.get('search', 'ramp')!));
        if (seen.at(-1) !== 200) return;
        off();
        resolve();
      });
    });
    expect(seen.length).toBeGreaterThan(3);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(seen.at(-1)).toBe(200);
    const srv = await signpost.resolver().resolveSrv('search.service.local');
    expect(srv[0].weight).toBe(200);
  });
});
