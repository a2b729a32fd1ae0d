// The clustered store: registrations in etcd, shared by every Signpost node pointed at it.
//
// Why two keys per instance (keys.ts) rather than the registration itself bound to the lease:
// Signpost's health model turns an instance whose lease lapsed `critical` (visible in the API, out
// of DNS) and deletes it only after its grace period. With the registration on the lease, expiry
// would delete it at once and the critical state would be lost. Here etcd alone decides expiry (the
// lease key's delete event reaches every node at once, so they agree); every node then turns the
// instance critical, and after the grace period the first node whose timer fires deletes the
// registration (a second delete is a no-op).
//
// Heartbeats are not etcd writes (keepalive.ts); only a changed status or a lapsed lease writes the
// lease key. Writes of one event-loop turn share one transaction (txn-batch.ts), and registrations
// take their leases from a stock granted ahead, or keep the one they have (leases.ts). Every node keeps its view fresh with one watch on the prefix (watch.ts); a node's own
// writes come back on it and are recognised by revision (mirror.ts): read-your-writes on the node
// that wrote.
import { Buffer } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import type { IKeyValue, IRequestOp } from 'etcd3';
import { StoreError, type RemoteChange, type ReplicatedStore, type Store } from '../../registry/store.ts';
import { initialReport, isLeased } from '../../registry/health.ts';
import type { Registration, ReportedStatus, ServiceSettings } from '../../registry/types.ts';
import type { CheckCoordinator } from '../../registry/check-coordinator.ts';
import type { EtcdTls } from '../../config/tls.ts';
import { EtcdCheckOwners } from './check-owners.ts';
import { CheckResults } from './check-results.ts';
import { EtcdConnection } from './connection.ts';
import { KeepAlive } from './keepalive.ts';
import { EtcdKeys } from './keys.ts';
import { LeaseStock } from './leases.ts';
import { EtcdMirror, type LeaseState } from './mirror.ts';
import { startFailure } from './start-failure.ts';
import { TxnBatcher } from './txn-batch.ts';
import { PrefixWatch } from './watch.ts';

export class EtcdStore implements Store, ReplicatedStore {
  readonly replicated: ReplicatedStore = this;
  readonly #etcd: EtcdConnection;
  readonly #keys: EtcdKeys;
  readonly #mirror: EtcdMirror;
  readonly #keepAlive: KeepAlive;
  readonly #leases: LeaseStock;
  readonly #txns: TxnBatcher;
  readonly #watch: PrefixWatch;
  readonly #checks: CheckResults;
  #snapshot: { revision: number; kvs: IKeyValue[] } | undefined;

  /** Connects and reads the whole prefix once; rejects with a StoreError if etcd does not answer. */
  static async open(hosts: string[], prefix: string, tls?: EtcdTls): Promise<EtcdStore> {
    const store = new EtcdStore(hosts, prefix, tls);
    try {
      await store.#readSnapshot();
    } catch (error) {
      await store.close();
      const reason = error instanceof StoreError ? error.message.replace(/^.*? unavailable: /, '') : (error as Error).message;
      throw new StoreError(startFailure(hosts, reason, tls !== undefined), { cause: error });
    }
    return store;
  }

  private constructor(hosts: string[], prefix: string, tls?: EtcdTls) {
    this.#keys = new EtcdKeys(prefix);
    this.#etcd = new EtcdConnection(hosts, `${prefix}probe`, tls);
    this.#mirror = new EtcdMirror(this.#keys);
    this.#keepAlive = new KeepAlive(this.#etcd);
    this.#leases = new LeaseStock(this.#etcd, this.#keepAlive);
    this.#txns = new TxnBatcher(this.#etcd);
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
    const ops: IRequestOp[] = [putOp(instanceKey, JSON.stringify(registration))];
    const sameBody = known !== undefined && isDeepStrictEqual(withoutMaintenance(known), withoutMaintenance(registration));
    const onlyMaintenance = sameBody && !isDeepStrictEqual(known.maintenance ?? null, registration.maintenance ?? null);
    let lease: LeaseState | undefined;
    // Taking an instance in or out of maintenance rewrites the registration only: its lease is untouched.
    if (!onlyMaintenance) {
      if (!isLeased(registration)) {
        // Checked instances (and those registered with ttl 0) have no lease.
        ops.push({ request_delete_range: { key: Buffer.from(leaseKey) } });
      } else {
        // Registering reports the instance alive, at the status it starts with, as the registry takes
        // it: its lease runs a whole ttl from now (the one it has, renewed, or a new one for a new ttl).
        lease = { id: await this.#leases.lease(registration.ttl, this.#mirror.leases.get(name)), ...initialReport(registration), ttl: registration.ttl };
        ops.push(putOp(leaseKey, JSON.stringify({ status: lease.status, note: lease.note }), lease.id));
      }
    }
    const keys = onlyMaintenance ? [instanceKey] : [instanceKey, leaseKey];
    const revision = await this.#txns.write(ops, keys);
    this.#mirror.wrote(keys, revision);
    this.#mirror.registrations.set(name, registration);
    if (lease) this.#mirror.leases.set(name, lease);
    else if (!isLeased(registration)) this.#mirror.leases.delete(name);
    return revision;
  }

  async delete(service: string, id: string): Promise<number> {
    const name = `${service}/${id}`;
    const keys = [this.#keys.key('instances/', name), this.#keys.key('leases/', name), this.#keys.key('checks/', name)];
    const revision = await this.#txns.write(keys.map((key) => ({ request_delete_range: { key: Buffer.from(key) } })), keys);
    this.#mirror.wrote(keys, revision);
    this.#mirror.registrations.delete(name);
    this.#mirror.leases.delete(name);
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
    let alive = false;
    if (known && known.id !== '0' && known.ttl === ttl) alive = (await this.#keepAlive.renew(known.id)) > 0;
    if (alive && known!.status === report.status && known!.note === report.note) return true;
    // The lease lapsed (or the status changed): write the lease key, if the instance is still registered.
    const leaseId = alive ? known!.id : await this.#leases.take(ttl);
    const instanceKey = this.#keys.key('instances/', name);
    const leaseKey = this.#keys.key('leases/', name);
    const response = await this.#etcd.call((client) =>
      client.kv.txn({
        compare: [{ key: Buffer.from(instanceKey), target: 'Version', result: 'Greater', version: 0 }],
        success: [putOp(leaseKey, JSON.stringify({ status: report.status, note: report.note }), leaseId)],
        failure: [],
      }),
    );
    if (!response.succeeded) return false;
    const revision = Number(response.header.revision);
    this.#mirror.wrote([leaseKey], revision);
    this.#mirror.leases.set(name, { id: leaseId, status: report.status, note: report.note, ttl });
    return revision;
  }

  async leaseRemaining(service: string, id: string): Promise<number | undefined> {
    const known = this.#mirror.leases.get(`${service}/${id}`);
    if (!known || known.id === '0') return undefined;
    const response = await this.#etcd.call((client) => client.leaseClient.leaseTimeToLive({ ID: known.id }));
    const seconds = Number(response.TTL);
    if (seconds < 0) return undefined;
    // etcd truncates what is left to whole seconds ("expires in under TTL+1 seconds"): take the middle
    // of that second, but never more than a whole lease.
    return Math.min(Number(response.grantedTTL) * 1000, seconds * 1000 + 500);
  }

  // ---- etcd ----

  async #readSnapshot(): Promise<{ revision: number; kvs: IKeyValue[] }> {
    if (this.#snapshot) return this.#snapshot;
    const response = await this.#etcd.call((client) => client.kv.range(this.#keys.range()));
    this.#snapshot = { revision: Number(response.header.revision), kvs: response.kvs };
    return this.#snapshot;
  }

}

function putOp(key: string, value: string, lease?: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) } };
}

function withoutMaintenance(registration: Registration): Registration {
  return { ...registration, maintenance: null };
}
