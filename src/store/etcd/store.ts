// The clustered store: registrations in etcd, shared by every Signpost node pointed at it.
//
// Why two keys per instance (keys.ts) rather than the registration itself bound to a lease:
// Signpost's health model turns an instance whose lease lapsed `critical` (visible in the API, out
// of DNS) and deletes it only after its grace period. With the registration on the lease, expiry
// would delete it at once and the critical state would be lost. Here the lease key alone lapses (its
// delete event reaches every node at once, so they agree); every node then turns the instance
// critical, and after the grace period the first node whose timer fires deletes the registration (a
// second delete is a no-op).
//
// Each instance's lease key has a holder: the node that last wrote it (registration, or a heartbeat
// through another node taking it over), bound to that node's etcd lease for the instance's ttl
// (node-leases.ts: one per node and ttl, granted once). The holder keeps the instance's deadline in
// memory and deletes the lease key when it passes (held-leases.ts); if the holder dies, etcd lets
// its lease lapse and deletes its lease keys. So a heartbeat through the holder is no etcd call at
// all, and one through another node is one write, once (it becomes the holder). Writes of one
// event-loop turn share one transaction (txn-batch.ts). Every node keeps its view fresh with one
// watch on the prefix (watch.ts); a node's own writes come back on it and are recognised by
// revision (mirror.ts): read-your-writes on the node that wrote.
import { Buffer } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import type { ICompare, IKeyValue, IRequestOp } from 'etcd3';
import { StoreError, type RemoteChange, type ReplicatedStore, type Store } from '../../registry/store.ts';
import { initialReport, isLeased } from '../../registry/health.ts';
import type { Registration, ReportedStatus, ServiceSettings } from '../../registry/types.ts';
import type { CheckCoordinator } from '../../registry/check-coordinator.ts';
import type { EtcdTls } from '../../config/tls.ts';
import { EtcdCheckOwners } from './check-owners.ts';
import { CheckResults } from './check-results.ts';
import { ETCD_CALL_TIMEOUT_MS, EtcdConnection } from './connection.ts';
import { HeldLeases } from './held-leases.ts';
import { KeepAlive, RENEWAL_TIMEOUT_MS } from './keepalive.ts';
import { EtcdKeys } from './keys.ts';
import { EtcdMirror, type LeaseValue } from './mirror.ts';
import { NodeLeases } from './node-leases.ts';
import { startFailure } from './start-failure.ts';
import { TxnBatcher } from './txn-batch.ts';
import { PrefixWatch } from './watch.ts';

export class EtcdStore implements Store, ReplicatedStore {
  readonly replicated: ReplicatedStore = this;
  readonly #etcd: EtcdConnection;
  readonly #keys: EtcdKeys;
  readonly #mirror: EtcdMirror;
  readonly #keepAlive: KeepAlive;
  readonly #nodeLeases: NodeLeases;
  readonly #held: HeldLeases;
  readonly #txns: TxnBatcher;
  /** This node's --node-name, written into the lease keys it holds (for people: nodes tell leases apart by id). */
  readonly #node: string;
  readonly #watch: PrefixWatch;
  readonly #checks: CheckResults;
  #snapshot: { revision: number; kvs: IKeyValue[] } | undefined;

  /** Connects and reads the whole prefix once; rejects with a StoreError if etcd does not answer. */
  static async open(hosts: string[], prefix: string, node: string, tls?: EtcdTls): Promise<EtcdStore> {
    const store = new EtcdStore(hosts, prefix, node, tls);
    try {
      await store.#readSnapshot();
    } catch (error) {
      await store.close();
      const reason = error instanceof StoreError ? error.message.replace(/^.*? unavailable: /, '') : (error as Error).message;
      throw new StoreError(startFailure(hosts, reason, tls !== undefined), { cause: error });
    }
    return store;
  }

  private constructor(hosts: string[], prefix: string, node: string, tls?: EtcdTls) {
    this.#node = node;
    this.#keys = new EtcdKeys(prefix);
    this.#etcd = new EtcdConnection(hosts, `${prefix}probe`, tls);
    this.#mirror = new EtcdMirror(this.#keys);
    this.#keepAlive = new KeepAlive(this.#etcd);
    this.#nodeLeases = new NodeLeases(this.#etcd, this.#keepAlive);
    this.#txns = new TxnBatcher(this.#etcd);
    this.#held = new HeldLeases(this.#keys, this.#mirror, this.#txns);
    // A lease key another node wrote (or a deleted one) is no longer this node's to expire. One bound
    // to this node's lease is its own write, seen again (a re-read after a compaction): kept.
    this.#mirror.leaseChanged = (name, lease) => {
      if (!lease || !this.#nodeLeases.owns(lease.id)) this.#held.release(name);
    };
    this.#watch = new PrefixWatch(this.#etcd, this.#keys, this.#mirror);
    this.#checks = new CheckResults(this.#etcd, this.#keys, this.#mirror);
  }

  // ---- Store ----

  async load(): Promise<Registration[]> {
    return this.#mirror.load((await this.#readSnapshot()).kvs).registrations;
  }

  async loadSettings(): Promise<Map<string, ServiceSettings>> {
    return this.#mirror.load((await this.#readSnapshot()).kvs).settings;
  }

  async put(registration: Registration): Promise<number> {
    const name = `${registration.service}/${registration.id}`;
    const known = this.#mirror.registrations.get(name);
    const instanceKey = this.#keys.key('instances/', name);
    const leaseKey = this.#keys.key('leases/', name);
    const puts: Array<[string, Buffer]> = [[instanceKey, Buffer.from(JSON.stringify(registration))]];
    const ops: IRequestOp[] = [putOp(instanceKey, puts[0][1])];
    // A new instance (the common write) has nothing to compare with.
    const onlyMaintenance = known !== undefined && !isDeepStrictEqual(known.maintenance ?? null, registration.maintenance ?? null) && isDeepStrictEqual(withoutMaintenance(known), withoutMaintenance(registration));
    let lease: LeaseValue & { id: string } | undefined;
    let renewedHere = false;
    // Taking an instance in or out of maintenance rewrites the registration only: its lease is untouched.
    if (!onlyMaintenance) {
      const report = initialReport(registration);
      if (!isLeased(registration)) {
        // Checked instances (and those registered with ttl 0) have no lease.
        ops.push({ request_delete_range: { key: Buffer.from(leaseKey) } });
      } else if (this.#holdsAlive(name, registration.ttl, report)) {
        // Registered again where its lease is held, with the same ttl and the status it starts with:
        // the lease key would not change, so it is renewed as a heartbeat is, in memory.
        renewedHere = true;
      } else {
        // Registering reports the instance alive, at the status it starts with, as the registry takes
        // it: its lease runs a whole ttl from now, held by this node.
        // Confirmed alive (almost always): taken as it is, without a turn through a promise.
        const id = this.#nodeLeases.confirmed(registration.ttl) ?? (await this.#nodeLeases.lease(registration.ttl, ETCD_CALL_TIMEOUT_MS));
        lease = { id, status: report.status, note: report.note, holder: this.#node, deadline: Date.now() + registration.ttl * 1000 };
        puts.push([leaseKey, Buffer.from(leaseValue(lease))]);
        ops.push(putOp(leaseKey, puts[1][1], id));
      }
    }
    const keys = onlyMaintenance || renewedHere ? [instanceKey] : [instanceKey, leaseKey];
    for (const [key, value] of puts) this.#mirror.sending(key, value);
    let revision: number;
    try {
      revision = await this.#write(ops, keys, lease?.id);
    } catch (error) {
      for (const [key, value] of puts) this.#mirror.sent(key, value, 0);
      throw error;
    }
    this.#mirror.wrote(keys, revision);
    for (const [key, value] of puts) this.#mirror.sent(key, value, revision);
    this.#mirror.registrations.set(name, registration);
    if (lease) this.#holdAt(name, lease, registration.ttl, revision);
    else if (renewedHere) this.#held.hold(name, Date.now() + registration.ttl * 1000);
    else if (!isLeased(registration)) this.#forgetLease(name);
    return revision;
  }

  async delete(service: string, id: string): Promise<number> {
    const name = `${service}/${id}`;
    const keys = [this.#keys.key('instances/', name), this.#keys.key('leases/', name), this.#keys.key('checks/', name)];
    const revision = await this.#txns.write(keys.map((key) => ({ request_delete_range: { key: Buffer.from(key) } })), keys);
    this.#mirror.wrote(keys, revision);
    this.#mirror.registrations.delete(name);
    this.#forgetLease(name);
    return revision;
  }

  async putSettings(service: string, settings: ServiceSettings): Promise<number> {
    const key = this.#keys.key('settings/', service);
    const revision = await this.#txns.write([putOp(key, JSON.stringify(settings))], [key]);
    this.#mirror.wrote([key], revision);
    return revision;
  }

  async close(): Promise<void> {
    if (this.#etcd.closed) return;
    // The node's leases are not revoked: the instances it holds stay alive their ttl, for their
    // clients to fail over to another node (a heartbeat there takes them over), as when it dies.
    this.#nodeLeases.close();
    this.#held.close();
    this.#keepAlive.close();
    await this.#watch.close();
    this.#etcd.close();
  }

  // ---- ReplicatedStore ----

  get available(): boolean {
    return this.#etcd.available;
  }

  onAvailability(listener: (up: boolean) => void): () => void {
    return this.#etcd.onAvailability(listener);
  }

  checkCoordinator(node: string): CheckCoordinator {
    return new EtcdCheckOwners(this.#etcd, this.#keys, this.#checks, node);
  }

  follow(apply: (change: RemoteChange) => void): number {
    const snapshot = this.#snapshot!;
    this.#mirror.apply = apply;
    this.#mirror.applySnapshotLeases(snapshot.kvs, snapshot.revision);
    this.#watch.start(snapshot.revision + 1);
    return snapshot.revision;
  }

  async renew(service: string, id: string, ttl: number, report: { status: ReportedStatus; note: string }): Promise<boolean | number> {
    const name = `${service}/${id}`;
    const known = this.#mirror.leases.get(name);
    // Held here, not lapsed, the same status: memory only, once this node's lease is confirmed alive
    // (as it is, but for an etcd that stopped answering: then a keep-alive first, and a 503 without one).
    if (known && this.#holds(name, ttl, report)) {
      const mine = this.#nodeLeases.confirmed(ttl) ?? (await withinRenewalTimeout(this.#nodeLeases.lease(ttl, RENEWAL_TIMEOUT_MS), this.#etcd.name));
      if (mine === known.id) {
        this.#held.hold(name, Date.now() + ttl * 1000);
        return true;
      }
    }
    // Held by another node (or by none: it lapsed), or a changed status: this node writes the lease
    // key and holds it from now on, if the instance is still registered. Within the bound a
    // heartbeat's answer has: a write etcd takes later still only keeps the instance alive longer.
    return withinRenewalTimeout(this.#takeOver(name, ttl, report), this.#etcd.name);
  }

  /** This node holds the lease of `name`, not lapsed, for `ttl`, at the status `report` says. */
  #holds(name: string, ttl: number, report: { status: ReportedStatus; note: string }): boolean {
    const known = this.#mirror.leases.get(name);
    return known !== undefined && known.ttl === ttl && this.#held.dueAt(name) !== undefined && known.status === report.status && known.note === report.note;
  }

  /** The same, with this node's lease for `ttl` confirmed alive now. */
  #holdsAlive(name: string, ttl: number, report: { status: ReportedStatus; note: string }): boolean {
    return this.#holds(name, ttl, report) && this.#mirror.leases.get(name)!.id === this.#nodeLeases.confirmed(ttl);
  }

  leaseRemaining(service: string, id: string): number | undefined {
    const name = `${service}/${id}`;
    // Exact on the holder. Elsewhere, heartbeats the holder took since it last wrote the lease key are
    // not known: the deadline the key carries is what this node knows (the instance lives at least that long).
    const due = this.#held.dueAt(name) ?? this.#mirror.leases.get(name)?.deadline;
    return due === undefined || due <= Date.now() ? undefined : due - Date.now();
  }

  leaseHeldElsewhere(service: string, id: string): string | undefined {
    const known = this.#mirror.leases.get(`${service}/${id}`);
    return known && !this.#nodeLeases.owns(known.id) ? known.holder : undefined;
  }

  async #takeOver(name: string, ttl: number, report: { status: ReportedStatus; note: string }): Promise<false | number> {
    const leaseId = await this.#nodeLeases.lease(ttl, RENEWAL_TIMEOUT_MS);
    const lease = { id: leaseId, status: report.status, note: report.note, holder: this.#node, deadline: Date.now() + ttl * 1000 };
    const instanceKey = this.#keys.key('instances/', name);
    const leaseKey = this.#keys.key('leases/', name);
    const registered = { key: Buffer.from(instanceKey), target: 'Version' as const, result: 'Greater' as const, version: 0 };
    const revision = await this.#write([putOp(leaseKey, leaseValue(lease), leaseId)], [leaseKey], leaseId, [registered]);
    if (revision === 0) return false;
    this.#mirror.wrote([leaseKey], revision);
    this.#holdAt(name, lease, ttl, revision);
    return revision;
  }

  /** A write through the batcher; a write bound to a lease etcd no longer has makes the node grant another. */
  async #write(ops: IRequestOp[], keys: string[], leaseId?: string, guard?: ICompare[]): Promise<number> {
    try {
      return await this.#txns.write(ops, keys, guard);
    } catch (error) {
      if (leaseId !== undefined && /lease not found/i.test(String((error as Error).cause ?? error))) this.#nodeLeases.lapsed(leaseId);
      throw error;
    }
  }

  /** The lease key of `name` as this node wrote it at `revision`: held here until a ttl from now. */
  #holdAt(name: string, lease: LeaseValue & { id: string }, ttl: number, revision: number): void {
    // Another node's later write, seen on the watch before this write's answer came back, wins.
    if ((this.#mirror.leases.get(name)?.revision ?? 0) > revision) return;
    this.#mirror.leases.set(name, { ...lease, ttl, revision });
    this.#held.hold(name, Date.now() + ttl * 1000);
  }

  #forgetLease(name: string): void {
    this.#mirror.leases.delete(name);
    this.#held.release(name);
  }

  // ---- etcd ----

  async #readSnapshot(): Promise<{ revision: number; kvs: IKeyValue[] }> {
    if (this.#snapshot) return this.#snapshot;
    const response = await this.#etcd.call((client) => client.kv.range(this.#keys.range()));
    this.#snapshot = { revision: Number(response.header.revision), kvs: response.kvs };
    return this.#snapshot;
  }

}

function putOp(key: string, value: string | Buffer, lease?: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: typeof value === 'string' ? Buffer.from(value) : value, ...(lease ? { lease } : {}) } };
}

function leaseValue({ status, note, holder, deadline }: LeaseValue): string {
  return JSON.stringify({ status, note, holder, deadline } satisfies LeaseValue);
}

/** `work`, or a StoreError once a heartbeat's answer is due (RENEWAL_TIMEOUT_MS); `work` carries on regardless. */
function withinRenewalTimeout<T>(work: Promise<T>, etcd: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreError(`${etcd}: no answer to a heartbeat within ${RENEWAL_TIMEOUT_MS} ms`)), RENEWAL_TIMEOUT_MS);
  });
  work.catch(() => {});
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function withoutMaintenance(registration: Registration): Registration {
  return { ...registration, maintenance: null };
}
