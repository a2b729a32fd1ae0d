// The clustered store: registrations in etcd, shared by every Signpost node pointed at it.
//
// Keys, under the prefix (--etcd-prefix, default /signpost/):
//   instances/<service>/<id>  the registration JSON; no lease: it lives until deleted
//   leases/<service>/<id>     {"status","note"} of the last heartbeat, bound to an etcd lease of the
//                             instance's ttl; etcd deletes it when the lease lapses
//   settings/<service>        the service's settings JSON
//
// Why two keys per instance rather than the registration itself bound to the lease: Signpost's
// health model (issue 2) turns an instance whose lease lapsed `critical` (visible in the API,
// out of DNS) and deletes it only after its grace period. With the registration on the lease,
// expiry would delete it at once and the critical state would be lost. Here etcd alone decides
// expiry (the lease key's delete event reaches every node at once, so they agree); every node
// then turns the instance critical, and after the grace period the first node whose timer fires
// deletes the registration (a second delete is a no-op).
//
// Heartbeats are not etcd writes: a heartbeat whose reported status did not change is one
// LeaseKeepAlive message on one long-lived stream per node; every renewal asked for in one
// event-loop turn goes out together, and two renewals of the same lease in a turn are sent once.
// Only a changed status (passing → warning, say) or a lapsed lease writes the lease key.
//
// Every node keeps its view fresh with one watch on the prefix, from the revision of the snapshot
// it loaded; the etcd3 client resumes a broken watch from the last revision it saw. If that
// revision was compacted meanwhile, the store re-reads the whole prefix and hands the registry the
// difference. A node's own writes come back on the watch too: they are recognised by revision and
// dropped, since the registry already applied them (read-your-writes on the node that wrote).
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type IRequestOp, type Watcher } from 'etcd3';
import type { Registration, ReportedStatus, ServiceSettings } from '../registry/types.ts';
import { StoreError, type RemoteChange, type ReplicatedStore, type Store } from '../registry/store.ts';

/** How long one etcd call may take before the write fails with 503 (never a hang). */
export const ETCD_CALL_TIMEOUT_MS = 2_000;
/** While etcd is unreachable, how often the store checks whether it is back. */
const PROBE_INTERVAL_MS = 500;

interface LeaseState {
  /** etcd lease id (decimal string), '0' when unknown. */
  id: string;
  status: ReportedStatus;
  note: string;
  ttl: number;
}

interface Pending {
  resolve(ttl: number): void;
  reject(error: StoreError): void;
}

export class EtcdStore implements Store, ReplicatedStore {
  readonly replicated: ReplicatedStore = this;
  readonly #client: Etcd3;
  readonly #hosts: string[];
  readonly #prefix: string;
  /** Registrations as last written or seen, by instance key: decides what a put must write. */
  readonly #registrations = new Map<string, Registration>();
  /** Lease keys as last written or seen, by instance key (`service/id`). */
  readonly #leases = new Map<string, LeaseState>();
  /** The revision of this node's last write to a key: watch events up to it are already applied. */
  readonly #written = new Map<string, number>();
  readonly #availability = new Set<(up: boolean) => void>();
  /** Renewals waiting for this turn's flush, and those sent and waiting for their answer, by lease id. */
  #queued = new Map<string, Pending[]>();
  readonly #inFlight = new Map<string, Pending[]>();
  #keepAlive: Promise<import('etcd3').IDuplexStream<{ ID?: string }, { ID: string; TTL: string }>> | undefined;
  #snapshot: { revision: number; kvs: IKeyValue[] } | undefined;
  #watcher: Watcher | undefined;
  #apply: ((change: RemoteChange) => void) | undefined;
  #lastRevision = 0;
  #available = true;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;

  /** Connects and reads the whole prefix once; rejects with a StoreError if etcd does not answer. */
  static async open(hosts: string[], prefix: string): Promise<EtcdStore> {
    const store = new EtcdStore(hosts, prefix);
    try {
      await store.#readSnapshot();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private constructor(hosts: string[], prefix: string) {
    this.#hosts = hosts;
    this.#prefix = prefix;
    this.#client = new Etcd3({
      hosts: hosts.map((host) => `http://${host}`),
      dialTimeout: ETCD_CALL_TIMEOUT_MS,
      // Unary calls get a deadline; the watch and keep-alive streams live on.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      faultHandling: {
        // One failed member is skipped for 1 s (not the client's default 5 s): a restarted etcd is used again soon.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
        // One retry, on another member if there is one (a killed leader); two tries stay within a few seconds.
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        // A watch that broke is re-established within a second once etcd is back (the default backs off to 30 s).
        watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }).next(),
      },
    });
  }

  // ---- Store ----

  async load(): Promise<Registration[]> {
    const snapshot = await this.#readSnapshot();
    const registrations: Registration[] = [];
    for (const kv of snapshot.kvs) {
      const key = kv.key.toString();
      const name = this.#nameOf(key, 'instances/');
      if (name === undefined) continue;
      const registration = JSON.parse(kv.value.toString()) as Registration;
      this.#registrations.set(name, registration);
      registrations.push(registration);
    }
    return registrations;
  }

  async loadSettings(): Promise<Map<string, ServiceSettings>> {
    const snapshot = await this.#readSnapshot();
    const settings = new Map<string, ServiceSettings>();
    for (const kv of snapshot.kvs) {
      const service = this.#nameOf(kv.key.toString(), 'settings/');
      if (service !== undefined) settings.set(service, JSON.parse(kv.value.toString()) as ServiceSettings);
    }
    return settings;
  }

  async put(registration: Registration): Promise<void> {
    const name = `${registration.service}/${registration.id}`;
    const known = this.#registrations.get(name);
    const ops: IRequestOp[] = [this.#putOp(this.#key('instances/', name), JSON.stringify(registration))];
    let lease: LeaseState | undefined;
    // Taking an instance in or out of maintenance rewrites the registration only: its lease is untouched.
    if (!known || !sameExceptMaintenance(known, registration)) {
      if (registration.check) {
        // Checked instances have no lease: their health comes from the check, run by every node.
        ops.push({ request_delete_range: { key: Buffer.from(this.#key('leases/', name)) } });
      } else {
        // A new lease: registering again renews it, and a changed ttl needs a new one anyway.
        const previous = this.#leases.get(name);
        const keep = known && JSON.stringify({ ...known, maintenance: null }) === JSON.stringify({ ...registration, maintenance: null });
        lease = { id: await this.#grant(registration.ttl), status: keep && previous ? previous.status : 'passing', note: keep && previous ? previous.note : '', ttl: registration.ttl };
        ops.push(this.#putOp(this.#key('leases/', name), JSON.stringify({ status: lease.status, note: lease.note }), lease.id));
      }
    }
    const revision = await this.#txn(ops);
    this.#wrote([this.#key('instances/', name), this.#key('leases/', name)], revision);
    this.#registrations.set(name, registration);
    if (lease) this.#leases.set(name, lease);
    else if (registration.check) this.#leases.delete(name);
  }

  async delete(service: string, id: string): Promise<void> {
    const name = `${service}/${id}`;
    const keys = [this.#key('instances/', name), this.#key('leases/', name)];
    const revision = await this.#txn(keys.map((key) => ({ request_delete_range: { key: Buffer.from(key) } })));
    this.#wrote(keys, revision);
    this.#registrations.delete(name);
    this.#leases.delete(name);
  }

  async putSettings(service: string, settings: ServiceSettings): Promise<void> {
    const key = this.#key('settings/', service);
    const revision = await this.#txn([this.#putOp(key, JSON.stringify(settings))]);
    this.#wrote([key], revision);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#probe);
    const closed = new StoreError(`etcd ${this.#hosts.join(',')}: the store is closed`);
    for (const waiting of [...this.#queued.values(), ...this.#inFlight.values()]) for (const pending of waiting) pending.reject(closed);
    this.#queued.clear();
    this.#inFlight.clear();
    const stream = this.#keepAlive;
    this.#keepAlive = undefined;
    void stream?.then((s) => s.end(), () => {});
    await this.#watcher?.cancel().catch(() => {});
    this.#client.close();
  }

  // ---- ReplicatedStore ----

  get available(): boolean {
    return this.#available;
  }

  onAvailability(listener: (up: boolean) => void): () => void {
    this.#availability.add(listener);
    return () => this.#availability.delete(listener);
  }

  follow(apply: (change: RemoteChange) => void): void {
    this.#apply = apply;
    const snapshot = this.#snapshot!;
    // The lease state of the snapshot: live lease keys, and heartbeat instances whose lease is gone.
    const live = new Set<string>();
    for (const kv of snapshot.kvs) {
      const name = this.#nameOf(kv.key.toString(), 'leases/');
      if (name === undefined) continue;
      live.add(name);
      this.#applyLeaseKey(name, kv);
    }
    for (const [name, registration] of this.#registrations) {
      if (!registration.check && !live.has(name)) apply({ kind: 'lease', service: registration.service, id: registration.id, status: 'expired', note: '' });
    }
    this.#watch(snapshot.revision + 1);
  }

  async renew(service: string, id: string, ttl: number, report: { status: ReportedStatus; note: string }): Promise<boolean> {
    const name = `${service}/${id}`;
    const known = this.#leases.get(name);
    let alive = false;
    if (known && known.id !== '0' && known.ttl === ttl) alive = (await this.#renewLease(known.id)) > 0;
    if (alive && known!.status === report.status && known!.note === report.note) return true;
    // The lease lapsed (or the status changed): write the lease key, if the instance is still registered.
    const leaseId = alive ? known!.id : await this.#grant(ttl);
    const instanceKey = this.#key('instances/', name);
    const leaseKey = this.#key('leases/', name);
    const response = await this.#call(() =>
      this.#client.kv.txn({
        compare: [{ key: Buffer.from(instanceKey), target: 'Version', result: 'Greater', version: 0 }],
        success: [this.#putOp(leaseKey, JSON.stringify({ status: report.status, note: report.note }), leaseId)],
        failure: [],
      }),
    );
    if (!response.succeeded) return false;
    this.#wrote([leaseKey], Number(response.header.revision));
    this.#leases.set(name, { id: leaseId, status: report.status, note: report.note, ttl });
    return true;
  }

  // ---- etcd ----

  async #readSnapshot(): Promise<{ revision: number; kvs: IKeyValue[] }> {
    if (this.#snapshot) return this.#snapshot;
    const prefix = Buffer.from(this.#prefix);
    const response = await this.#call(() => this.#client.kv.range({ key: prefix, range_end: prefixEnd(prefix) }));
    this.#snapshot = { revision: Number(response.header.revision), kvs: response.kvs };
    return this.#snapshot;
  }

  #watch(fromRevision: number): void {
    if (this.#closed) return;
    this.#lastRevision = fromRevision - 1;
    void this.#client
      .watch()
      .prefix(this.#prefix)
      .startRevision(String(fromRevision))
      .create()
      .then(
        (watcher) => {
          if (this.#closed) return void watcher.cancel();
          this.#watcher = watcher;
          this.#setAvailable(true);
          watcher.on('data', (response) => {
            for (const event of response.events) this.#onEvent(event.type, event.kv);
            this.#lastRevision = Math.max(this.#lastRevision, Number(response.header.revision));
          });
          watcher.on('disconnected', () => this.#setAvailable(false));
          watcher.on('connected', () => this.#setAvailable(true));
          watcher.on('error', (error: Error) => {
            // Canceled by etcd: most likely the revision to resume from was compacted. Re-read everything.
            if (this.#closed) return;
            this.#watcher = undefined;
            void watcher.cancel().catch(() => {});
            void this.#resync(error);
          });
        },
        () => {
          // etcd is not answering: try again shortly.
          this.#setAvailable(false);
          setTimeout(() => this.#watch(fromRevision), PROBE_INTERVAL_MS).unref();
        },
      );
  }

  /** Re-reads the prefix and hands the registry the difference with what it was last told. */
  async #resync(cause: Error): Promise<void> {
    if (this.#closed) return;
    const apply = this.#apply!;
    let response;
    try {
      const prefix = Buffer.from(this.#prefix);
      response = await this.#call(() => this.#client.kv.range({ key: prefix, range_end: prefixEnd(prefix) }));
    } catch {
      setTimeout(() => void this.#resync(cause), PROBE_INTERVAL_MS).unref();
      return;
    }
    const seenInstances = new Set<string>();
    const seenLeases = new Set<string>();
    for (const kv of response.kvs) {
      const key = kv.key.toString();
      const instance = this.#nameOf(key, 'instances/');
      const lease = this.#nameOf(key, 'leases/');
      if (instance !== undefined) seenInstances.add(instance);
      if (lease !== undefined) seenLeases.add(lease);
      this.#onEvent('Put', kv, true);
    }
    for (const [name, registration] of [...this.#registrations]) {
      if (!seenInstances.has(name)) {
        this.#registrations.delete(name);
        apply({ kind: 'delete', service: registration.service, id: registration.id });
      } else if (!registration.check && !seenLeases.has(name)) {
        this.#leases.delete(name);
        apply({ kind: 'lease', service: registration.service, id: registration.id, status: 'expired', note: '' });
      }
    }
    this.#watch(Number(response.header.revision) + 1);
  }

  #onEvent(type: 'Put' | 'Delete', kv: IKeyValue, resync = false): void {
    const key = kv.key.toString();
    const revision = Number(kv.mod_revision);
    const written = this.#written.get(key);
    if (written !== undefined && revision <= written) {
      // This node's own write (or an older one): memory already has it.
      if (revision === written) this.#written.delete(key);
      if (!resync) return;
    }
    const apply = this.#apply!;
    const instance = this.#nameOf(key, 'instances/');
    if (instance !== undefined) {
      const [service, id] = splitName(instance);
      if (type === 'Put') {
        const registration = JSON.parse(kv.value.toString()) as Registration;
        this.#registrations.set(instance, registration);
        apply({ kind: 'put', registration });
      } else {
        this.#registrations.delete(instance);
        apply({ kind: 'delete', service, id });
      }
      return;
    }
    const lease = this.#nameOf(key, 'leases/');
    if (lease !== undefined) {
      if (type === 'Put') this.#applyLeaseKey(lease, kv);
      else {
        this.#leases.delete(lease);
        const [service, id] = splitName(lease);
        apply({ kind: 'lease', service, id, status: 'expired', note: '' });
      }
      return;
    }
    const service = this.#nameOf(key, 'settings/');
    if (service !== undefined && type === 'Put') apply({ kind: 'settings', service, settings: JSON.parse(kv.value.toString()) as ServiceSettings });
  }

  #applyLeaseKey(name: string, kv: IKeyValue): void {
    const { status, note } = JSON.parse(kv.value.toString()) as { status: ReportedStatus; note: string };
    const [service, id] = splitName(name);
    const ttl = this.#registrations.get(name)?.ttl ?? 0;
    this.#leases.set(name, { id: kv.lease, status, note, ttl });
    this.#apply!({ kind: 'lease', service, id, status, note });
  }

  async #grant(ttl: number): Promise<string> {
    const response = await this.#call(() => this.#client.leaseClient.leaseGrant({ TTL: ttl }));
    return response.ID;
  }

  /** Renews a lease over the shared keep-alive stream; resolves with its new TTL (0: the lease is gone). */
  #renewLease(leaseId: string): Promise<number> {
    if (this.#closed) return Promise.reject(new StoreError(`etcd ${this.#hosts.join(',')}: the store is closed`));
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const first = this.#queued.size === 0;
    let waiting = this.#queued.get(leaseId);
    if (!waiting) this.#queued.set(leaseId, (waiting = []));
    waiting.push({ resolve, reject });
    if (first) setImmediate(() => void this.#flushRenewals());
    return promise;
  }

  async #flushRenewals(): Promise<void> {
    const batch = this.#queued;
    this.#queued = new Map();
    const fail = (error: unknown) => {
      const failure = this.#failure(error);
      for (const [id, waiting] of batch) {
        for (const pending of waiting) pending.reject(failure);
        if (this.#inFlight.get(id) === waiting) this.#inFlight.delete(id);
      }
    };
    let stream;
    try {
      stream = await this.#stream();
    } catch (error) {
      fail(error);
      return;
    }
    for (const [id, waiting] of batch) {
      const already = this.#inFlight.get(id);
      if (already) already.push(...waiting);
      else {
        this.#inFlight.set(id, waiting);
        stream.write({ ID: id });
      }
    }
    // Answers that do not come in time fail the heartbeat (503) and drop the stream, so the next one reconnects.
    setTimeout(() => {
      let late = false;
      for (const [id, waiting] of batch) {
        if (this.#inFlight.get(id) !== waiting && !this.#inFlight.has(id)) continue;
        late = true;
        this.#inFlight.delete(id);
        for (const pending of waiting) pending.reject(new StoreError(`etcd ${this.#hosts.join(',')}: no answer to a lease renewal within ${ETCD_CALL_TIMEOUT_MS} ms`));
      }
      if (late) this.#dropStream(new Error('keep-alive timed out'));
    }, ETCD_CALL_TIMEOUT_MS).unref();
  }

  #stream() {
    this.#keepAlive ??= this.#call(() => this.#client.leaseClient.leaseKeepAlive()).then((stream) => {
      stream.on('data', (response: { ID: string; TTL: string }) => {
        const waiting = this.#inFlight.get(response.ID);
        this.#inFlight.delete(response.ID);
        for (const pending of waiting ?? []) pending.resolve(Number(response.TTL));
      });
      const broken = (error: Error) => this.#dropStream(error);
      stream.on('error', broken);
      stream.on('end', () => broken(new Error('the keep-alive stream ended')));
      return stream;
    });
    // A failed open is not kept: the next renewal tries again.
    this.#keepAlive.catch(() => (this.#keepAlive = undefined));
    return this.#keepAlive;
  }

  #dropStream(error: Error): void {
    const stream = this.#keepAlive;
    this.#keepAlive = undefined;
    void stream?.then((s) => (s as unknown as { destroy?: () => void }).destroy?.(), () => {});
    const failure = this.#failure(error);
    for (const waiting of this.#inFlight.values()) for (const pending of waiting) pending.reject(failure);
    this.#inFlight.clear();
  }

  async #txn(ops: IRequestOp[]): Promise<number> {
    const response = await this.#call(() => this.#client.kv.txn({ compare: [], success: ops, failure: [] }));
    return Number(response.header.revision);
  }

  /** Runs one etcd call; any failure becomes a StoreError (503) and marks etcd unavailable. */
  async #call<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(`etcd ${this.#hosts.join(',')}: the store is closed`);
    try {
      const result = await call();
      this.#setAvailable(true);
      return result;
    } catch (error) {
      throw this.#failure(error);
    }
  }

  #failure(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    this.#setAvailable(false);
    const reason = (error as Error).message.split('\n')[0];
    return new StoreError(`etcd ${this.#hosts.join(',')} unavailable: ${reason}`, { cause: error });
  }

  #setAvailable(up: boolean): void {
    if (this.#closed || up === this.#available) return;
    this.#available = up;
    for (const listener of this.#availability) listener(up);
    clearTimeout(this.#probe);
    if (!up) this.#scheduleProbe();
  }

  /** While unavailable: a cheap read every PROBE_INTERVAL_MS until etcd answers. */
  #scheduleProbe(): void {
    this.#probe = setTimeout(() => {
      this.#client.kv
        .range({ key: Buffer.from(`${this.#prefix}probe`) })
        .then(
          () => this.#setAvailable(true),
          () => {
            if (!this.#available) this.#scheduleProbe();
          },
        );
    }, PROBE_INTERVAL_MS);
    this.#probe.unref();
  }

  #wrote(keys: string[], revision: number): void {
    for (const key of keys) if (revision > (this.#written.get(key) ?? 0)) this.#written.set(key, revision);
    // Deletes of keys that did not exist produce no event to clear the entry: forget old ones.
    if (this.#written.size > 100_000) {
      for (const [key, written] of this.#written) if (written <= this.#lastRevision) this.#written.delete(key);
    }
  }

  #putOp(key: string, value: string, lease?: string): IRequestOp {
    return { request_put: { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) } };
  }

  #key(kind: string, name: string): string {
    return `${this.#prefix}${kind}${name}`;
  }

  /** `service/id` (or `service`) of a key of `kind`, undefined for keys of another kind. */
  #nameOf(key: string, kind: string): string | undefined {
    const start = this.#prefix + kind;
    return key.startsWith(start) ? key.slice(start.length) : undefined;
  }
}

function splitName(name: string): [string, string] {
  const slash = name.indexOf('/');
  return [name.slice(0, slash), name.slice(slash + 1)];
}

function sameExceptMaintenance(a: Registration, b: Registration): boolean {
  return JSON.stringify({ ...a, maintenance: null }) === JSON.stringify({ ...b, maintenance: null }) && JSON.stringify(a.maintenance ?? null) !== JSON.stringify(b.maintenance ?? null);
}

/** The end of the range of keys starting with `prefix` (etcd's prefix convention). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
