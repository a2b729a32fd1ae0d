// The registry's rules, without sockets: a memory store and fake timers (time moves when the
// test says so). Expiry, heartbeats, health sources, maintenance, warm-up, protection, the grace
// period, indexes and events.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry } from '../src/registry/registry.ts';
import { StoreError } from '../src/registry/store.ts';
import type { Registration, RegistryEvent } from '../src/registry/types.ts';
import { MemoryStore } from '../src/store/memory.ts';

const GRACE_SECONDS = 60;

function registration(id: string, fields: Partial<Registration> = {}): Registration {
  return { service: 'web', id, address: '10.0.0.1', port: 8080, weight: 100, priority: 0, ttl: 10, tags: [], meta: {}, ...fields };
}

/** A memory store whose writes can be made to fail, as a full disk or an unreachable etcd would. */
class FlakyStore extends MemoryStore {
  failing = false;
  override async put(value: Registration): Promise<void> {
    if (this.failing) throw new StoreError('disk full');
    return super.put(value);
  }
  override async delete(service: string, id: string): Promise<void> {
    if (this.failing) throw new StoreError('disk full');
    return super.delete(service, id);
  }
}

let store: FlakyStore;
let registry: Registry;
let events: RegistryEvent[];

async function start(options: { onlyPassing?: boolean } = {}) {
  store = new FlakyStore();
  registry = new Registry(store, { gracePeriod: GRACE_SECONDS, onlyPassing: options.onlyPassing ?? false });
  await registry.start();
  events = [];
  registry.onEvent((event) => events.push(event));
}

const answerable = (service = 'web') => (registry.answerable(service) ?? []).map(({ instance }) => instance.id).sort();
const weights = (service = 'web') => Object.fromEntries((registry.answerable(service) ?? []).map(({ instance, weight }) => [instance.id, weight]));
/** Moves the fake clock, running the timers that fall due (and the promises they start). */
const advance = (seconds: number) => vi.advanceTimersByTimeAsync(seconds * 1000);

beforeEach(async () => {
  vi.useFakeTimers();
  await start();
});

afterEach(async () => {
  await registry.close();
  vi.useRealTimers();
});

describe('leases', () => {
  it('a lapsed lease makes the instance critical at its deadline, out of DNS, and deleted after the grace period', async () => {
    await registry.register(registration('a', { ttl: 10 }));
    expect(registry.get('web', 'a')?.status).toBe('passing');
    await advance(9.9);
    expect(answerable()).toEqual(['a']);
    await advance(0.1);
    const instance = registry.get('web', 'a')!;
    expect(instance.status).toBe('critical');
    expect(instance.health.lease).toMatchObject({ status: 'critical', note: 'TTL expired: no heartbeat for 10s' });
    expect(answerable()).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'health', previous: 'passing' });
    await advance(GRACE_SECONDS - 0.1);
    expect(registry.get('web', 'a')).toBeDefined();
    await advance(0.1);
    expect(registry.get('web', 'a')).toBeUndefined();
    expect(registry.hasService('web')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'deregister', reason: 'critical' });
    expect(await store.load()).toEqual([]);
  });

  it('heartbeats keep an instance alive; one within the grace period brings it back', async () => {
    await registry.register(registration('a', { ttl: 10 }));
    for (let i = 0; i < 5; i++) {
      await advance(8);
      expect((await registry.heartbeat('web', 'a'))?.status).toBe('passing');
    }
    expect(registry.get('web', 'a')?.expiresAt).toBe(Date.now() + 10_000);
    await advance(10);
    expect(registry.get('web', 'a')?.status).toBe('critical');
    await advance(30);
    expect((await registry.heartbeat('web', 'a'))?.status).toBe('passing');
    expect(answerable()).toEqual(['a']);
    // The deletion deadline was cancelled: heartbeated on, it outlives the grace period.
    for (let elapsed = 0; elapsed < GRACE_SECONDS + 10; elapsed += 8) {
      await advance(8);
      await registry.heartbeat('web', 'a');
    }
    expect(registry.get('web', 'a')?.status).toBe('passing');
  });

  it('a heartbeat that changes nothing visible takes no index and wakes nobody', async () => {
    await registry.register(registration('a'));
    const index = registry.index;
    const before = events.length;
    await registry.heartbeat('web', 'a');
    expect(registry.index).toBe(index);
    expect(events.length).toBe(before);
    await registry.heartbeat('web', 'a', { status: 'warning', note: 'slow disk' });
    expect(registry.index).toBe(index + 1);
    expect(events.at(-1)).toMatchObject({ type: 'health', previous: 'passing' });
  });

  it('a heartbeat for an unknown instance says so (the client registers again)', async () => {
    expect(await registry.heartbeat('web', 'ghost')).toBeUndefined();
  });

  it('a lease past its deadline is out of DNS before its lapse is handed out; a late heartbeat or a read hands it out first, critical since the deadline', async () => {
    await registry.register(registration('late', { ttl: 10 }));
    await registry.register(registration('read', { ttl: 10, address: '10.0.0.2' }));
    await registry.register(registration('stays', { ttl: 30, address: '10.0.0.3' }));
    const deadline = registry.get('web', 'late')!.expiresAt!;
    expect(registry.nextLeaseDeadline('web', 0)).toBe(deadline);
    // The clock moves on without the timers running: the lapses are due and not handed out yet (a storm's backlog).
    vi.setSystemTime(deadline + 500);
    expect(answerable()).toEqual(['stays']);
    expect(registry.get('web', 'late')!.status).toBe('passing');
    expect(registry.nextLeaseDeadline('web', deadline + 500)).toBe(registry.get('web', 'stays')!.expiresAt);

    await registry.heartbeat('web', 'late');
    expect(events.flatMap((event) => (event.type === 'health' ? [[event.instance.id, event.previous, event.lapsed]] : []))).toEqual([
      ['late', 'passing', true],
      ['late', 'critical', false],
    ]);
    expect(answerable()).toEqual(['late', 'stays']);

    await registry.refreshLeases('web');
    expect(registry.get('web', 'read')!.status).toBe('critical');
    expect(registry.get('web', 'read')!.health.lease).toMatchObject({ status: 'critical', since: deadline });
    // Handed out once: the clock's timer, when it runs, has nothing left to hand out.
    const before = events.length;
    await advance(0);
    expect(events.length).toBe(before);
  });
});

describe('health sources', () => {
  it('a heartbeat may report warning (served unless only passing is served) or critical (not served)', async () => {
    await registry.register(registration('a'));
    await registry.heartbeat('web', 'a', { status: 'warning', note: 'queue deep' });
    expect(registry.get('web', 'a')?.status).toBe('warning');
    expect(answerable()).toEqual(['a']);
    await registry.heartbeat('web', 'a', { status: 'critical', note: 'db down' });
    expect(answerable()).toEqual([]);
    await registry.close();
    await start({ onlyPassing: true });
    await registry.register(registration('b'));
    await registry.heartbeat('web', 'b', { status: 'warning', note: '' });
    expect(answerable()).toEqual([]);
  });

  it('an instance with a check starts critical until the check passes; the worst source counts', async () => {
    const instance = await registry.register(registration('a', { check: { http: 'http://10.0.0.1/h', interval: 5, timeout: 1, successBeforePassing: 1, failuresBeforeCritical: 1 } }));
    expect(instance.status).toBe('critical');
    expect(instance.health.check?.note).toBe('awaiting the first check');
    expect(instance.expiresAt).toBeNull();
    registry.reportCheck(instance, 'passing', 'HTTP GET: 200 OK');
    expect(answerable()).toEqual(['a']);
    // It heartbeats too: now it has a lease, and the worse of both counts.
    await registry.heartbeat('web', 'a', { status: 'warning', note: 'degraded' });
    expect(registry.get('web', 'a')).toMatchObject({ status: 'warning', health: { check: { status: 'passing' }, lease: { status: 'warning' } } });
    // A check result for a replaced instance is ignored.
    await registry.register(registration('a', { port: 9090 }));
    registry.reportCheck(instance, 'critical', 'late result for the old one');
    expect(registry.get('web', 'a')?.health.check).toBeUndefined();
  });
});

describe('maintenance', () => {
  it('takes an instance out of DNS, is stored, and outlives re-registration', async () => {
    await registry.register(registration('a'));
    await registry.register(registration('b'));
    await registry.setMaintenance('web', 'a', true, 'kernel upgrade');
    expect(registry.get('web', 'a')).toMatchObject({ status: 'maintenance', maintenance: { reason: 'kernel upgrade' } });
    expect(answerable()).toEqual(['b']);
    expect((await store.load()).find((row) => row.id === 'a')?.maintenance).toEqual({ reason: 'kernel upgrade' });
    await registry.register(registration('a', { port: 9999 }));
    expect(registry.get('web', 'a')?.status).toBe('maintenance');
    await registry.setMaintenance('web', 'a', false, '');
    expect(answerable()).toEqual(['a', 'b']);
    expect(await registry.setMaintenance('web', 'ghost', true, '')).toBeUndefined();
  });

  it('an instance in maintenance whose lease lapsed is still deleted after the grace period', async () => {
    await registry.register(registration('a', { ttl: 5 }));
    await registry.setMaintenance('web', 'a', true, 'parked');
    await advance(5 + GRACE_SECONDS);
    expect(registry.get('web', 'a')).toBeUndefined();
  });
});

describe('warm-up', () => {
  it('a new instance starts at 10% of its weight and ramps to 100% over the warm-up', async () => {
    await registry.register(registration('old', { weight: 100, ttl: 3600 }));
    await registry.setSettings('web', { protectionThreshold: 0, warmup: 20 });
    expect(weights()).toEqual({ old: 100 });
    await registry.register(registration('new', { weight: 100, ttl: 3600 }));
    expect(weights()).toEqual({ old: 100, new: 10 });
    await advance(10);
    expect(weights().new).toBe(55);
    expect(registry.effectiveWeight(registry.get('web', 'new')!)).toBe(55);
    await advance(10);
    expect(weights().new).toBe(100);
    expect(registry.get('web', 'new')?.warmingSince).toBeNull();
  });

  it('an instance that comes back to health warms up again', async () => {
    await registry.setSettings('web', { protectionThreshold: 0, warmup: 10 });
    await registry.register(registration('a', { weight: 50, ttl: 3600 }));
    await advance(10);
    expect(weights()).toEqual({ a: 50 });
    await registry.heartbeat('web', 'a', { status: 'critical', note: 'down' });
    await registry.heartbeat('web', 'a');
    expect(weights()).toEqual({ a: 5 });
  });
});

describe('protection threshold', () => {
  it('serves every instance not in maintenance while the healthy share is at or below it, and says when it trips and clears', async () => {
    const changes: Array<[boolean, number]> = [];
    registry.onProtection((_service, tripped, share) => changes.push([tripped, share]));
    await registry.setSettings('web', { protectionThreshold: 0.5, warmup: 0 });
    for (const id of ['a', 'b', 'c', 'd']) await registry.register(registration(id));
    await registry.setMaintenance('web', 'd', true, '');
    await registry.heartbeat('web', 'a', { status: 'critical', note: '' });
    expect(answerable()).toEqual(['b', 'c']);
    await registry.heartbeat('web', 'b', { status: 'critical', note: '' });
    expect(registry.protection('web')).toEqual({ tripped: true, healthyShare: 1 / 3 });
    expect(answerable()).toEqual(['a', 'b', 'c']);
    await registry.heartbeat('web', 'a');
    expect(registry.protection('web').tripped).toBe(false);
    expect(answerable()).toEqual(['a', 'c']);
    expect(changes).toEqual([
      [true, 1 / 3],
      [false, 2 / 3],
    ]);
    expect(registry.protectionTrippedCount).toBe(0);
  });
});

describe('registrations and indexes', () => {
  it('registering the same body again is a heartbeat: no event, health kept', async () => {
    await registry.register(registration('a', { ttl: 10 }));
    await advance(8);
    const index = registry.index;
    const before = events.length;
    await registry.register(registration('a', { ttl: 10 }));
    expect(registry.index).toBe(index);
    expect(events.length).toBe(before);
    await advance(8);
    expect(registry.get('web', 'a')?.status).toBe('passing');
  });

  it('a changed body replaces the instance: a new lease and fresh health, one register event', async () => {
    await registry.register(registration('a'));
    await registry.heartbeat('web', 'a', { status: 'warning', note: '' });
    await registry.register(registration('a', { port: 9090 }));
    expect(registry.get('web', 'a')).toMatchObject({ port: 9090, status: 'passing' });
    expect(events.at(-1)).toMatchObject({ type: 'register', replaced: true });
  });

  it('indexes only grow, per service and overall, also past a service that is gone', async () => {
    const start = registry.index;
    await registry.register(registration('a'));
    const web = registry.serviceIndex('web');
    expect(web).toBeGreaterThan(start);
    await registry.register(registration('x', { service: 'api' }));
    expect(registry.serviceIndex('web')).toBe(web);
    expect(registry.serviceIndex('api')).toBeGreaterThan(web);
    await registry.deregister('web', 'a');
    expect(registry.hasService('web')).toBe(false);
    expect(registry.serviceIndex('web')).toBe(registry.index);
    expect(events.map((event) => event.index)).toEqual([...events.map((event) => event.index)].sort((a, b) => a - b));
  });

  it('a write the store refuses changes nothing in memory; a deletion it refuses is tried again later', async () => {
    store.failing = true;
    await expect(registry.register(registration('a'))).rejects.toThrow(StoreError);
    expect(registry.get('web', 'a')).toBeUndefined();
    store.failing = false;
    await registry.register(registration('a', { ttl: 5 }));
    store.failing = true;
    await expect(registry.deregister('web', 'a')).rejects.toThrow(StoreError);
    expect(registry.get('web', 'a')).toBeDefined();
    await advance(5 + GRACE_SECONDS);
    expect(registry.get('web', 'a')?.status).toBe('critical');
    store.failing = false;
    await advance(GRACE_SECONDS);
    expect(registry.get('web', 'a')).toBeUndefined();
  });

  it('restores what the store holds at start, each with a fresh lease', async () => {
    await registry.register(registration('a', { ttl: 10 }));
    await registry.setSettings('web', { protectionThreshold: 0.3, warmup: 0 });
    const restarted = new Registry(store, { gracePeriod: GRACE_SECONDS, onlyPassing: false });
    expect(await restarted.start()).toBe(1);
    expect(restarted.get('web', 'a')).toMatchObject({ status: 'passing', expiresAt: Date.now() + 10_000 });
    expect(restarted.settings('web').protectionThreshold).toBe(0.3);
    await restarted.close();
  });
});
