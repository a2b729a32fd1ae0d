// The etcd store on its own, against a real etcd member: two stores on one prefix play two nodes.
// What one writes the other is told (a node may also hear of its own write when the watch is faster
// than the write's reply; the registry applies changes idempotently); leases lapse
// in etcd and both hear of it; heartbeats renew (through another node, a write that moves the
// lease there, batched: a failed guard fails only its own); settings travel; an unreachable etcd is
// a StoreError, never a hang.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError, type RemoteChange } from '../src/registry/store.ts';
import type { Registration } from '../src/registry/types.ts';
import { EtcdStore } from '../src/store/etcd/store.ts';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { eventually } from './helpers/wait.ts';

let etcd: EtcdCluster;
let hosts: string[];
let prefixes = 0;

beforeAll(async () => {
  etcd = await startEtcd(1);
  hosts = etcd.members.map((member) => member.endpoint);
});

afterAll(async () => {
  await etcd?.close();
});

function registration(id: string, fields: Partial<Registration> = {}): Registration {
  return { service: 'web', id, address: '10.0.0.1', port: 8080, weight: 100, priority: 0, ttl: 30, tags: [], meta: {}, maintenance: null, ...fields };
}

/** A store following its prefix, with the changes it was told of and a way to await the next matching one. */
let nodes = 0;
async function node(prefix: string) {
  const store = await EtcdStore.open(hosts, prefix, `node-${++nodes}`);
  await store.load();
  await store.loadSettings();
  const changes: RemoteChange[] = [];
  const waiters: Array<{ match: (change: RemoteChange) => boolean; resolve: (change: RemoteChange) => void }> = [];
  store.follow((change) => {
    changes.push(change);
    for (const waiter of [...waiters]) {
      if (!waiter.match(change)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(change);
    }
  });
  return {
    store,
    changes,
    /** The first change (already seen or still to come) that matches. */
    next(match: (change: RemoteChange) => boolean): Promise<RemoteChange> {
      const seen = changes.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

const freshPrefix = () => `/signpost-store-test-${process.pid}-${++prefixes}/`;
const leaseOf = (id: string, status: string) => (change: RemoteChange) => change.kind === 'lease' && change.id === id && change.status === status;

describe('two nodes on one prefix', () => {
  it("each is told of the other's registrations, deregistrations and settings", async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    try {
      await a.store.put(registration('one', { tags: ['blue'] }));
      const put = await b.next((change) => change.kind === 'put' && change.registration.id === 'one');
      expect(put).toMatchObject({ registration: { id: 'one', tags: ['blue'] } });
      await b.next(leaseOf('one', 'passing'));
      await a.store.putSettings('web', { protectionThreshold: 0.5, warmup: 30 });
      expect(await b.next((change) => change.kind === 'settings')).toMatchObject({ service: 'web', settings: { warmup: 30 } });
      await a.store.delete('web', 'one');
      await b.next((change) => change.kind === 'delete' && change.id === 'one');
      await b.store.put(registration('two'));
      await a.next((change) => change.kind === 'put' && change.registration.id === 'two');
      // A third node reading the prefix now finds what is there.
      const c = await EtcdStore.open(hosts, prefix, 'test-node');
      expect((await c.load()).map((row) => row.id)).toEqual(['two']);
      expect((await c.loadSettings()).get('web')).toEqual({ protectionThreshold: 0.5, warmup: 30 });
      await c.close();
    } finally {
      await a.store.close();
      await b.store.close();
    }
  });

  it('a heartbeat on either node renews the lease (a write once, when it moves the lease to that node); a changed status reaches the other; an unknown instance is refused', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    try {
      await a.store.put(registration('beat', { ttl: 5 }));
      await b.next(leaseOf('beat', 'passing'));
      // A holds the lease (it registered it): a heartbeat there is memory only.
      expect(await a.store.renew('web', 'beat', 5, { status: 'passing', note: '' })).toBe(true);
      // The first heartbeat through B writes the lease key (B holds it from now on); A is told.
      const revision = await b.store.renew('web', 'beat', 5, { status: 'passing', note: '' });
      expect(revision).toBeGreaterThan(0);
      await a.next((change) => change.kind === 'lease' && change.id === 'beat' && change.revision === revision);
      expect(await b.store.renew('web', 'beat', 5, { status: 'passing', note: '' })).toBe(true);
      // A changed status is written: the renewal resolves the revision it was written at.
      expect(await b.store.renew('web', 'beat', 5, { status: 'warning', note: 'slow' })).toBeGreaterThan(0);
      expect(await a.next(leaseOf('beat', 'warning'))).toMatchObject({ note: 'slow' });
      expect(await a.store.renew('web', 'ghost', 5, { status: 'passing', note: '' })).toBe(false);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  });

  it('heartbeats through another node at the same moment share a transaction; one for an instance deregistered meanwhile fails alone', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    try {
      for (const id of ['stays', 'goes']) await a.store.put(registration(id, { ttl: 5 }));
      await b.next(leaseOf('goes', 'passing'));
      await a.store.delete('web', 'goes');
      // Both take the lease over from A; etcd refuses the one whose instance is gone, and only that one.
      const [stays, goes] = await Promise.all([b.store.renew('web', 'stays', 5, { status: 'passing', note: '' }), b.store.renew('web', 'goes', 5, { status: 'passing', note: '' })]);
      expect(stays).toBeGreaterThan(0);
      expect(goes).toBe(false);
      await a.next((change) => change.kind === 'lease' && change.id === 'stays' && change.revision === stays);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  });

  it('registering again through the node holding the lease renews it as a heartbeat does; it lapses a ttl after the last', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    try {
      await a.store.put(registration('again', { ttl: 2 }));
      await b.next(leaseOf('again', 'passing'));
      // Four times a ttl, a new port every half second: never expired on either node.
      const started = Date.now();
      for (let port = 9000; Date.now() - started < 8_000; port++) {
        await a.store.put(registration('again', { ttl: 2, port }));
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect([...a.changes, ...b.changes].filter(leaseOf('again', 'expired'))).toEqual([]);
      await Promise.all([a.next(leaseOf('again', 'expired')), b.next(leaseOf('again', 'expired'))]);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  }, 20_000);

  it('a lease nobody renews lapses in etcd, and both nodes hear it expired', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    try {
      await a.store.put(registration('lapse', { ttl: 2 }));
      await Promise.all([a.next(leaseOf('lapse', 'expired')), b.next(leaseOf('lapse', 'expired'))]);
      // The registration itself stays until someone deletes it (its grace period is the registry's).
      const c = await EtcdStore.open(hosts, prefix, 'test-node');
      expect((await c.load()).map((row) => row.id)).toEqual(['lapse']);
      await c.close();
    } finally {
      await a.store.close();
      await b.store.close();
    }
  }, 20_000);

  it('a node that loads a lapsed lease is told it expired at once', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    try {
      await a.store.put(registration('old', { ttl: 2 }));
      await a.next(leaseOf('old', 'expired'));
      const late = await node(prefix);
      await late.next(leaseOf('old', 'expired'));
      await late.store.close();
    } finally {
      await a.store.close();
    }
  }, 20_000);
});

describe('an etcd that cannot be reached', () => {
  it('fails writes with a StoreError, says it is unavailable, and recovers when etcd is back', async () => {
    const cluster = await startEtcd(1);
    const store = await EtcdStore.open(cluster.members.map((member) => member.endpoint), freshPrefix(), 'test-node');
    store.follow(() => {});
    const transitions: boolean[] = [];
    store.onAvailability((up) => transitions.push(up));
    try {
      await store.put(registration('before'));
      await cluster.members[0].stop('SIGKILL');
      await expect(store.put(registration('during'))).rejects.toBeInstanceOf(StoreError);
      expect(store.available).toBe(false);
      await cluster.members[0].start();
      await eventually(async () => {
        await store.put(registration('after'));
        return true;
      }, 15_000, 'writes to succeed again');
      expect(store.available).toBe(true);
      expect(transitions).toEqual([false, true]);
    } finally {
      await store.close();
      await cluster.close();
    }
  }, 30_000);
});
