// The SQLite store's start-up read, in pages: every stored registration comes back exactly once,
// as it was put (field order and a null maintenance flag included), across page boundaries, and
// the registry restores them all while the store reads on, each as a fresh registration of its body.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Registry } from '../src/registry/registry.ts';
import { registrationOf, type Instance, type Registration, type RegistryEvent } from '../src/registry/types.ts';
import { SqliteStore } from '../src/store/sqlite.ts';

const root = mkdtempSync(join(tmpdir(), 'signpost-store-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// More than two pages (20,000 each), not a multiple of one.
const COUNT = 45_001;

function registration(k: number): Registration {
  return {
    service: `svc${k % 97}`,
    id: `i${k}`,
    address: k % 2 === 0 ? `10.${(k >> 16) & 0xff}.${(k >> 8) & 0xff}.${k & 0xff}` : `fd00::${k.toString(16)}`,
    port: 1 + (k % 65535),
    weight: k % 100,
    priority: k % 3,
    ttl: 30,
    tags: k % 5 === 0 ? ['blue', 'Mixed Case'] : [],
    meta: k % 7 === 0 ? { note: `ünïcode ${k}`, quote: '"}{,' } : {},
    maintenance: k % 11 === 0 ? { reason: `patch ${k}` } : null,
  };
}

it('gives back every registration exactly once, as it was put, across pages', async () => {
  const dir = join(root, 'pages');
  const store = await SqliteStore.open(dir);
  await Promise.all(Array.from({ length: COUNT }, (_, k) => store.put(registration(k))));
  await store.close();

  const reopened = await SqliteStore.open(dir);
  const pages: number[] = [];
  const seen = new Map<string, Registration>();
  const count = await reopened.loadInPages((page) => {
    pages.push(page.length);
    for (const row of page) seen.set(`${row.service}/${row.id}`, row);
  });
  expect(count).toBe(COUNT);
  expect(seen.size).toBe(COUNT);
  expect(pages.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...pages)).toBeLessThanOrEqual(20_000);
  for (const k of [0, 1, 7, 11, 19_999, 20_000, 40_000, COUNT - 1]) {
    const row = seen.get(`svc${k % 97}/i${k}`)!;
    expect(row).toEqual(registration(k));
    // The registration's own field order: service and id first, as registered.
    expect(Object.keys(row).slice(0, 2)).toEqual(['service', 'id']);
  }
  expect((await reopened.load()).length).toBe(COUNT);

  const registry = new Registry(reopened, { gracePeriod: 60, onlyPassing: false });
  expect(await registry.start()).toBe(COUNT);
  expect(registry.get('svc0', 'i0')?.maintenance).toEqual({ reason: 'patch 0' });
  expect(registry.get(`svc${(COUNT - 1) % 97}`, `i${COUNT - 1}`)?.address).toBe(registration(COUNT - 1).address);
  await registry.close();
  await reopened.close();
});

it('restores each instance as a fresh registration of its body: health, lease, maintenance; the same body again is a heartbeat; a restored lease lapses at its deadline', async () => {
  const dir = join(root, 'restore');
  const options = { gracePeriod: 60, onlyPassing: false };
  const base = { address: '10.9.0.1', port: 80, weight: 10, priority: 0, ttl: 30, tags: ['blue'], meta: { zone: 'eu' } };
  const check = { http: 'http://10.9.0.1/health', interval: 5, timeout: 1, successBeforePassing: 1, failuresBeforeCritical: 1 };
  const bodies: Registration[] = [
    { ...base, service: 'web', id: 'plain' },
    { ...base, service: 'web', id: 'twin', address: '10.9.0.2' },
    { ...base, service: 'web', id: 'checked', check },
    { ...base, service: 'web', id: 'warming-up', initialStatus: 'warning' },
    { ...base, service: 'web', id: 'forever', ttl: 0 },
    { ...base, service: 'web', id: 'extras', warningWeight: 3, deregisterCriticalAfter: 5 },
    { ...base, service: 'web', id: 'patched' },
    { ...base, service: 'api', id: 'short', ttl: 1 },
  ];
  const store = await SqliteStore.open(dir);
  const first = new Registry(store, options);
  await first.start();
  const registered = new Map<string, Instance>();
  for (const body of bodies) registered.set(body.id, await first.register(body));
  registered.set('patched', (await first.setMaintenance('web', 'patched', true, 'kernel update'))!);
  await first.close();
  await store.close();

  const reopened = await SqliteStore.open(dir);
  const registry = new Registry(reopened, options);
  const events: RegistryEvent[] = [];
  registry.onEvent((event) => events.push(event));
  const lapsed = new Promise<Instance>((resolve) => registry.onEvent((event) => event.type === 'health' && event.instance.id === 'short' && resolve(event.instance)));
  expect(await registry.start()).toBe(bodies.length);
  for (const [id, before] of registered) {
    const after = registry.get(before.service, id)!;
    expect(registrationOf(after)).toEqual(registrationOf(before));
    // A restart is a new registration: the same health as when first registered, a fresh lease of one ttl.
    expect(after.status).toBe(before.status);
    expect(Object.keys(after.health).sort()).toEqual(Object.keys(before.health).sort());
    for (const source of ['lease', 'check', 'maintenance'] as const) {
      expect(after.health[source] && { ...after.health[source], since: 0 }).toEqual(before.health[source] && { ...before.health[source], since: 0 });
    }
    expect(after.expiresAt).toBe(before.expiresAt === null ? null : after.registeredAt + after.ttl * 1000);
    expect(after.warmingSince).toBeNull();
  }
  expect(registry.get('web', 'checked')?.health.check).toMatchObject({ status: 'critical', note: 'awaiting the first check' });
  expect(registry.get('web', 'patched')).toMatchObject({ status: 'maintenance', maintenance: { reason: 'kernel update' } });
  expect(registry.get('web', 'warming-up')?.status).toBe('warning');
  expect(registry.get('web', 'forever')).toMatchObject({ status: 'passing', health: {}, expiresAt: null });

  // The same body registered again keeps the restored instance (and what it has earned): a heartbeat.
  const plain = registry.get('web', 'plain')!;
  events.length = 0;
  expect(await registry.register(bodies[0])).toBe(plain);
  expect(events.filter((event) => event.type === 'register')).toEqual([]);
  // Another body replaces it, as before the restart.
  const moved = await registry.register({ ...bodies[0], tags: ['green'] });
  expect(moved).not.toBe(plain);
  expect(moved.tags).toEqual(['green']);
  expect(registry.get('web', 'twin')?.tags).toEqual(['blue']);

  // The restored lease of one second lapses at its deadline, not before.
  const short = await lapsed;
  expect(short.status).toBe('critical');
  expect(short.health.lease!.since).toBeGreaterThanOrEqual(short.expiresAt!);
  await registry.close();
  await reopened.close();
});
