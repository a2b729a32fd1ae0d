// The registry: instances, their leases, their health and the per-service settings, kept durable
// by a store. Knows nothing of DNS or HTTP.
import { isDeepStrictEqual } from 'node:util';
import { KeyedQueue } from '../lib/keyed-queue.ts';
import { registrationFingerprint } from './check-coordinator.ts';
import { RegistryActivity } from './activity.ts';
import { isLeased, warmupProgress } from './health.ts';
import { LeaseDeadlines } from './lease-deadlines.ts';
import { DEFAULT_SETTINGS, PASSING, RegistryState, type RegistryOptions, type Report } from './state.ts';
import type { RemoteChange, ReplicatedStore, Store } from './store.ts';
import { registrationOf, type Instance, type Registration, type ServiceSettings } from './types.ts';


/**
 * Writes go to the store first and change memory only once the store has them, so nothing in
 * memory ever claims a registration the store does not hold. Writes to one instance are
 * serialised, so the store and memory agree on which of two racing writes came last.
 * Heartbeats touch memory only (with an embedded store): a lease is a deadline in memory.
 */
export class Registry extends RegistryState {
  readonly #store: Store;
  /**
   * Set for a store shared with other nodes (etcd). Then the store, not a local timer, decides when a
   * lease lapses (every node must agree), heartbeats renew the shared lease first, and changes made
   * by other nodes arrive through `#applyRemote`, emitting the same events as local ones.
   */
  readonly #replicated: ReplicatedStore | undefined;
  readonly #writes = new KeyedQueue();
  readonly #leaseDeadlines: LeaseDeadlines | undefined;
  /** Events and heartbeats counted since start. */
  readonly activity = new RegistryActivity();

  constructor(store: Store, options: RegistryOptions) {
    super(options, store.replicated !== undefined);
    this.#store = store;
    this.#replicated = store.replicated;
    this.#leaseDeadlines = this.#replicated && new LeaseDeadlines(this.#replicated);
    this.onEvent((event) => this.activity.count(event));
  }

  /** Loads every stored registration (each starts with a fresh lease of one ttl) and every service's settings. */
  async start(): Promise<number> {
    for (const [service, settings] of await this.#store.loadSettings()) this.restoreSettings(service, settings);
    const restore = (registrations: readonly Registration[]) => this.restore(registrations, Date.now());
    let restored: number;
    if (this.#store.loadInPages) {
      restored = await this.#store.loadInPages(restore);
    } else {
      const rows = await this.#store.load();
      restore(rows);
      restored = rows.length;
    }
    if (this.#replicated) this.loadedAt(this.#replicated.follow((change) => (change.kind === 'check' ? this.#applyCheck(change) : this.#applyRemote(change))));
    return restored;
  }

  async register(registration: Registration): Promise<Instance> {
    return this.#writes.run(keyOf(registration.service, registration.id), async () => {
      // An operator's maintenance flag outlives the instance re-registering itself.
      const previous = this.get(registration.service, registration.id);
      const maintenance = registration.maintenance ?? previous?.maintenance ?? null;
      const stored = this.#withRegisteredAt({ ...registration, maintenance }, previous);
      const revision = await this.#store.put(stored);
      return this.atRevision(revision ?? undefined, () => this.put(stored, Date.now()));
    });
  }

  /**
   * Renews the instance's lease and records the status it reports (default passing). With a shared
   * store the shared lease is renewed first (rejects with a StoreError when the store cannot be
   * reached). Undefined for an unknown instance: the client should register again.
   */
  async heartbeat(service: string, id: string, report: Report = PASSING): Promise<Instance | undefined> {
    const instance = this.get(service, id);
    if (!instance) return undefined;
    // Registered with ttl 0: no lease to renew (callers say so to their clients).
    if (instance.ttl === 0) return instance;
    let revision: number | undefined;
    if (this.#replicated && !instance.check) {
      const renewed = await this.#replicated.renew(service, id, instance.ttl, report);
      if (renewed === false) return undefined;
      if (typeof renewed === 'number') revision = renewed;
      // The instance may have been replaced or removed while the store answered.
      if (this.get(service, id) !== instance) return this.get(service, id);
    }
    this.atRevision(revision, () => this.renew(instance, report, Date.now()));
    this.activity.heartbeats++;
    return instance;
  }

  /**
   * Brings the leases of `service`'s instances up to date before they are shown. With a shared
   * store, their deadlines (`expiresAt`): the node holding a lease counts heartbeats without telling
   * the others. Alone, the lapses past their deadline that the clock has not handed out yet (a storm
   * of them takes a while): they are handed out now, so the read shows them critical.
   */
  refreshLeases(service: string): void {
    const instances = this.instances(service);
    if (!this.#leaseDeadlines) this.settleLapses(service);
    else if (instances) this.#leaseDeadlines.refresh(instances);
  }

  /** With a shared store, the node holding the instance's lease when it is not this one; null otherwise. */
  leaseHeldElsewhere(instance: Instance): string | null {
    return (instance.expiresAt !== null && this.#replicated?.leaseHeldElsewhere(instance.service, instance.id)) || null;
  }

  /**
   * Services as the catalogue lists them: those with instances, and those declared ahead of (or
   * after) their instances by settings of their own (anything but the defaults). Sorted.
   */
  catalogue(): string[] {
    const names = new Set(this.serviceNames());
    for (const service of this.storedSettings().keys()) if (this.hasOwnSettings(service)) names.add(service);
    return [...names].sort();
  }

  /** Does `service` have settings other than the defaults (it is declared, instances or not)? */
  hasOwnSettings(service: string): boolean {
    const settings = this.storedSettings().get(service);
    return settings !== undefined && !isDeepStrictEqual({ ...DEFAULT_SETTINGS }, { ...settings });
  }

  /** How far an instance is through its service's warm-up (0-1); null when it is not warming. */
  warmupProgress(instance: Instance): number | null {
    return warmupProgress(instance, this.settings(instance.service).warmup, Date.now());
  }

  /** Takes an instance out of (or back into) service; stored like the registration. Undefined if unknown. */
  async setMaintenance(service: string, id: string, enabled: boolean, reason: string): Promise<Instance | undefined> {
    return this.#writes.run(keyOf(service, id), async () => {
      const instance = this.get(service, id);
      if (!instance) return undefined;
      const maintenance = enabled ? { reason, ...(this.#replicated ? { since: Date.now() } : {}) } : null;
      const revision = await this.#store.put(this.#withRegisteredAt({ ...registrationOf(instance), maintenance }, instance));
      this.atRevision(revision ?? undefined, () => this.applyMaintenance(instance, maintenance, Date.now()));
      return instance;
    });
  }

  /** Deletes an instance. Resolves false if it was not registered. */
  async deregister(service: string, id: string): Promise<boolean> {
    return this.#writes.run(keyOf(service, id), async () => {
      const instance = this.get(service, id);
      if (!instance) return false;
      const revision = await this.#store.delete(service, id);
      this.atRevision(revision ?? undefined, () => this.remove(instance, 'request'));
      return true;
    });
  }

  async setSettings(service: string, settings: ServiceSettings): Promise<ServiceSettings> {
    return this.#writes.run(keyOf(service, ''), async () => {
      const stored = { ...settings };
      const revision = await this.#store.putSettings(service, stored);
      this.atRevision(revision ?? undefined, () => this.applySettings(service, stored));
      return stored;
    });
  }

  /** False while a shared store cannot be reached (DNS keeps answering from memory meanwhile). */
  get storeAvailable(): boolean {
    return this.#replicated?.available ?? true;
  }

  /** Fires when a shared store becomes unreachable (false) or reachable again (true). */
  onStoreAvailability(listener: (up: boolean) => void): () => void {
    return this.#replicated?.onAvailability(listener) ?? (() => {});
  }

  /** Stops every timer and waits for writes in flight. The store is closed by its owner. */
  async close(): Promise<void> {
    await this.#writes.idle();
    this.stopTimers();
  }

  /**
   * With a shared store the registration carries its time, so that every node, one started later
   * too, counts from the same moment; the same body registered again (or put in maintenance) keeps
   * the first time, as it keeps the instance. Embedded stores keep no time (a restart is a new registration).
   */
  #withRegisteredAt(registration: Registration, previous: Instance | undefined): Registration {
    if (!this.#replicated) return registration;
    const same = previous !== undefined && isDeepStrictEqual({ ...registrationOf(previous), maintenance: null }, { ...registration, maintenance: null });
    return { ...registration, registeredAt: same ? previous.registeredAt : Date.now() };
  }

  /** A change another node made to the shared store (or a lease the store let lapse): memory only, same events. */
  #applyRemote(change: RemoteChange): void {
    this.atRevision(change.revision, () => this.#applyChange(change));
  }

  #applyChange(change: RemoteChange): void {
    const now = Date.now();
    if (change.kind === 'settings') {
      if (!isDeepStrictEqual(this.storedSettings().get(change.service), change.settings)) this.applySettings(change.service, change.settings);
      return;
    }
    if (change.kind === 'put') {
      const registration = { ...change.registration, maintenance: change.registration.maintenance ?? null };
      const previous = this.get(registration.service, registration.id);
      const { registeredAt, ...body } = registration;
      if (previous && isDeepStrictEqual({ ...registrationOf(previous), maintenance: null }, { ...body, maintenance: null })) {
        // The same registration, perhaps with the maintenance flag changed: health is kept.
        if (!isDeepStrictEqual(previous.maintenance, registration.maintenance)) this.applyMaintenance(previous, registration.maintenance, now);
        return;
      }
      this.put(registration, now);
      return;
    }
    const instance = this.get(change.service, change.id);
    if (!instance) return;
    if (change.kind === 'delete') {
      this.remove(instance, instance.status === 'critical' ? 'critical' : 'request');
    } else if (isLeased(instance)) {
      if (change.status === 'expired') this.remoteLapse(instance, now);
      else this.renew(instance, { status: change.status, note: change.note }, now);
    }
  }

  /** Another node's check result: applied to the registration it was for, never to a replacement. */
  #applyCheck(change: Extract<RemoteChange, { kind: 'check' }>): void {
    const instance = this.get(change.service, change.id);
    if (!instance?.check || registrationFingerprint(instance) !== change.fingerprint) return;
    this.reportCheck(instance, change.status, change.note, change.since, change.revision);
  }

  protected deadlinePassed(instance: Instance): void {
    void this.#writes
      .run(keyOf(instance.service, instance.id), async () => {
        // A heartbeat or a new registration may have come in while this waited its turn.
        if (!this.isDue(instance)) return;
        const revision = await this.#store.delete(instance.service, instance.id);
        this.atRevision(revision ?? undefined, () => this.remove(instance, 'critical'));
      })
      // The store refused the delete: keep the instance (critical, out of DNS) and try again later.
      .catch(() => this.retryDeadline(instance));
  }
}

function keyOf(service: string, id: string): string {
  return `${service}/${id}`;
}
