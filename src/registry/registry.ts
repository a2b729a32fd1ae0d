import type { RemoteChange, ReplicatedStore, Store } from './store.ts';
import { instanceStatus, isServable, warmupWeight, type HealthPolicy } from './health.ts';
import type {
  Answerable,
  HealthSource,
  HealthStatus,
  Instance,
  Registration,
  RegistryEvent,
  RegistryView,
  ReportedStatus,
  ServiceSettings,
} from './types.ts';

export interface RegistryOptions extends HealthPolicy {
  /** Seconds an instance may stay critical before it is deleted, unless its registration says otherwise. */
  gracePeriod: number;
}

export const DEFAULT_SETTINGS: Readonly<ServiceSettings> = Object.freeze({ protectionThreshold: 0, warmup: 0 });

/** Warm-up re-weights in about this many steps, each at least this far apart. */
const WARMUP_STEPS = 20;
const WARMUP_MIN_STEP_MS = 100;

interface Timers {
  /** Fires when the lease lapses; `refresh()`ed by every heartbeat. */
  lease?: NodeJS.Timeout;
  /** Set while the instance is critical: deletes it when `deregisterCriticalAfter` ends. */
  critical?: NodeJS.Timeout;
}

/**
 * Instances, their leases, their health and the per-service settings. Knows nothing of DNS or HTTP.
 *
 * Writes go to the store first and change memory only once the store has them, so nothing in
 * memory ever claims a registration the store does not hold. Writes to one instance are
 * serialised, so the store and memory agree on which of two racing writes came last.
 * Heartbeats touch memory only: a lease is a deadline, renewed by `Timeout.refresh()`.
 *
 * Every visible change takes the next value of one index, so watchers can ask "anything after N?".
 * The index starts at the start time in microseconds, so it keeps growing across restarts.
 */
export class Registry implements RegistryView {
  readonly #store: Store;
  /**
   * Set for a store shared with other nodes (etcd). Then the store, not a local timer, decides when a
   * lease lapses (every node must agree), heartbeats go through `beat()` to renew the shared lease,
   * and changes made by other nodes arrive through `#applyRemote`, emitting the same events as local ones.
   */
  readonly #replicated: ReplicatedStore | undefined;
  readonly #options: RegistryOptions;
  readonly #services = new Map<string, Map<string, Instance>>();
  readonly #settings = new Map<string, ServiceSettings>();
  /** Index of the last visible change per service; kept after a service is gone, so indexes never go back. */
  readonly #serviceIndex = new Map<string, number>();
  readonly #timers = new Map<Instance, Timers>();
  readonly #warmupTimers = new Map<string, NodeJS.Timeout>();
  readonly #protectionTripped = new Set<string>();
  readonly #writes = new Map<string, Promise<unknown>>();
  readonly #eventListeners = new Set<(event: RegistryEvent) => void>();
  readonly #changeListeners = new Set<(service: string) => void>();
  readonly #protectionListeners = new Set<(service: string, tripped: boolean, healthyShare: number) => void>();
  #index = Date.now() * 1000;

  constructor(store: Store, options: RegistryOptions) {
    this.#store = store;
    this.#replicated = store.replicated;
    this.#options = options;
  }

  /** Loads every stored registration (each starts with a fresh lease of one ttl) and every service's settings. */
  async start(): Promise<number> {
    for (const [service, settings] of await this.#store.loadSettings()) this.#settings.set(service, settings);
    const rows = await this.#store.load();
    for (const registration of rows) this.#put(registration, Date.now());
    this.#replicated?.follow((change) => this.#applyRemote(change));
    return rows.length;
  }

  /** The index of the last visible change anywhere. */
  get index(): number {
    return this.#index;
  }

  /** The index of the last visible change to `service` (or the current index if it never existed). */
  serviceIndex(service: string): number {
    return this.#serviceIndex.get(service) ?? this.#index;
  }

  async register(registration: Registration): Promise<Instance> {
    return this.#serialise(registration.service, registration.id, async () => {
      // An operator's maintenance flag outlives the instance re-registering itself.
      const maintenance = registration.maintenance ?? this.get(registration.service, registration.id)?.maintenance ?? null;
      const stored = { ...registration, maintenance };
      await this.#store.put(stored);
      return this.#put(stored, Date.now());
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

  /**
   * A heartbeat as the HTTP API takes it: with a shared store, the shared lease is renewed first
   * (rejects with a StoreError if the store cannot be reached); then as `heartbeat()`.
   */
  async beat(service: string, id: string, report: { status: ReportedStatus; note: string } = { status: 'passing', note: '' }): Promise<Instance | undefined> {
    const instance = this.get(service, id);
    if (!instance) return undefined;
    if (this.#replicated && !instance.check) {
      if (!(await this.#replicated.renew(service, id, instance.ttl, report))) return undefined;
    }
    return this.heartbeat(service, id, report);
  }

  /**
   * Renews the lease and records the status the instance reports (default passing).
   * Returns undefined for an unknown instance (the client should register again).
   */
  heartbeat(service: string, id: string, report: { status: ReportedStatus; note: string } = { status: 'passing', note: '' }): Instance | undefined {
    const instance = this.get(service, id);
    if (!instance) return undefined;
    const now = Date.now();
    instance.expiresAt = now + instance.ttl * 1000;
    const timers = this.#timers.get(instance)!;
    // With a shared store there is no local lease timer: the store decides expiry.
    if (!this.#replicated) {
      if (timers.lease) timers.lease.refresh();
      else timers.lease = this.#leaseTimer(instance);
    }
    this.#setSource(instance, 'lease', report.status, report.note, now);
    return instance;
  }

  /** Reports an active check's result for `instance` (ignored if it was replaced or removed meanwhile). */
  reportCheck(instance: Instance, status: ReportedStatus, note: string): void {
    if (this.get(instance.service, instance.id) !== instance) return;
    this.#setSource(instance, 'check', status, note, Date.now());
  }

  /** Takes an instance out of (or back into) service; stored like the registration. Undefined if unknown. */
  async setMaintenance(service: string, id: string, enabled: boolean, reason: string): Promise<Instance | undefined> {
    return this.#serialise(service, id, async () => {
      const instance = this.get(service, id);
      if (!instance) return undefined;
      const maintenance = enabled ? { reason } : null;
      await this.#store.put({ ...registrationOf(instance), maintenance });
      instance.maintenance = maintenance;
      const previous = instance.status;
      if (enabled) instance.health.maintenance = { status: 'maintenance', note: reason, since: Date.now() };
      else delete instance.health.maintenance;
      this.#afterHealthChange(instance, previous);
      return instance;
    });
  }

  /** Deletes an instance. Resolves false if it was not registered. */
  async deregister(service: string, id: string): Promise<boolean> {
    return this.#serialise(service, id, async () => {
      const instance = this.get(service, id);
      if (!instance) return false;
      await this.#store.delete(service, id);
      this.#remove(instance, 'request');
      return true;
    });
  }

  settings(service: string): ServiceSettings {
    return this.#settings.get(service) ?? DEFAULT_SETTINGS;
  }

  async setSettings(service: string, settings: ServiceSettings): Promise<ServiceSettings> {
    return this.#serialise(service, '', async () => {
      const stored = { ...settings };
      await this.#store.putSettings(service, stored);
      this.#settings.set(service, stored);
      this.#emit({ type: 'settings', index: this.#bump(service), service, settings: stored });
      this.#startWarmupTicks(service);
      this.#changed(service);
      return stored;
    });
  }

  get(service: string, id: string): Instance | undefined {
    return this.#services.get(service)?.get(id);
  }

  instances(service: string): readonly Instance[] | undefined {
    const instances = this.#services.get(service);
    return instances ? [...instances.values()] : undefined;
  }

  serviceNames(): IterableIterator<string> {
    return this.#services.keys();
  }

  hasService(service: string): boolean {
    return this.#services.has(service);
  }

  /** Every instance of every service, for subsystems that start after the registry (active checks). */
  *allInstances(): IterableIterator<Instance> {
    for (const instances of this.#services.values()) yield* instances.values();
  }

  /** Instances by status, for metrics: a plain walk, no generator (100,000 instances in a few ms). */
  statusCounts(): Record<HealthStatus, number> {
    const counts: Record<HealthStatus, number> = { passing: 0, warning: 0, critical: 0, maintenance: 0 };
    for (const instances of this.#services.values()) for (const instance of instances.values()) counts[instance.status]++;
    return counts;
  }

  get serviceCount(): number {
    return this.#services.size;
  }

  /** Services whose protection threshold has tripped. */
  get protectionTrippedCount(): number {
    return this.#protectionTripped.size;
  }

  answerable(service: string): readonly Answerable[] | undefined {
    const instances = this.#services.get(service);
    if (!instances) return undefined;
    const { candidates, servable, tripped } = this.#protection(service, instances);
    const now = Date.now();
    const warmup = this.settings(service).warmup;
    return (tripped ? candidates : servable).map((instance) => ({ instance, weight: warmupWeight(instance, warmup, now) }));
  }

  /** Whether the protection threshold has tripped for `service`, and its healthy share (1 when empty). */
  protection(service: string): { tripped: boolean; healthyShare: number } {
    const instances = this.#services.get(service);
    if (!instances) return { tripped: false, healthyShare: 1 };
    const { tripped, healthyShare } = this.#protection(service, instances);
    return { tripped, healthyShare };
  }

  /** Whether an instance's health lets DNS serve it (before protection). */
  isServable(instance: Instance): boolean {
    return isServable(instance.status, this.#options);
  }

  /** The weight DNS publishes for an instance right now (warm-up applied). */
  effectiveWeight(instance: Instance): number {
    return warmupWeight(instance, this.settings(instance.service).warmup, Date.now());
  }

  /** Every registry event (register, deregister, health, settings), for logs and watches. */
  onEvent(listener: (event: RegistryEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  onChange(listener: (service: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Fires when a service's protection threshold trips or clears. */
  onProtection(listener: (service: string, tripped: boolean, healthyShare: number) => void): () => void {
    this.#protectionListeners.add(listener);
    return () => this.#protectionListeners.delete(listener);
  }

  /** Stops every timer and waits for writes in flight. The store is closed by its owner. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#writes.values());
    for (const timers of this.#timers.values()) {
      clearTimeout(timers.lease);
      clearTimeout(timers.critical);
    }
    this.#timers.clear();
    for (const timer of this.#warmupTimers.values()) clearInterval(timer);
    this.#warmupTimers.clear();
  }

  #put(registration: Registration, now: number): Instance {
    let instances = this.#services.get(registration.service);
    if (!instances) this.#services.set(registration.service, (instances = new Map()));
    const previous = instances.get(registration.id);
    // Registering the same body again (a client restarting, a retried PUT) renews the lease and
    // keeps the health the instance has earned: nothing a watcher could see changes.
    if (previous && JSON.stringify(registrationOf(previous)) === JSON.stringify(registration)) {
      if (this.#replicated ? previous.health.lease : this.#timers.get(previous)?.lease) this.heartbeat(previous.service, previous.id);
      return previous;
    }
    if (previous) this.#clearTimers(previous);
    const health: Instance['health'] = {};
    // A heartbeat-only instance starts passing on its lease; one with a check starts critical
    // until the check passes: no traffic to an instance that has not proven itself.
    if (registration.check) health.check = { status: 'critical', note: 'awaiting the first check', since: now };
    else health.lease = { status: 'passing', note: '', since: now };
    if (registration.maintenance) health.maintenance = { status: 'maintenance', note: registration.maintenance.reason, since: now };
    const instance: Instance = {
      ...registration,
      maintenance: registration.maintenance ?? null,
      status: instanceStatus(health),
      health,
      registeredAt: now,
      expiresAt: registration.check ? null : now + registration.ttl * 1000,
      warmingSince: null,
      index: 0,
    };
    instances.set(instance.id, instance);
    this.#timers.set(instance, { lease: registration.check || this.#replicated ? undefined : this.#leaseTimer(instance) });
    if (isServable(instance.status, this.#options) && this.settings(instance.service).warmup > 0) {
      instance.warmingSince = now;
      this.#startWarmupTicks(instance.service);
    }
    this.#updateCriticalTimer(instance);
    instance.index = this.#bump(instance.service);
    this.#emit({ type: 'register', index: instance.index, instance, replaced: previous !== undefined });
    this.#changed(instance.service);
    return instance;
  }

  /** A change another node made to the shared store (or a lease the store let lapse): memory only, same events. */
  #applyRemote(change: RemoteChange): void {
    const now = Date.now();
    if (change.kind === 'settings') {
      if (JSON.stringify(this.#settings.get(change.service)) === JSON.stringify(change.settings)) return;
      this.#settings.set(change.service, change.settings);
      this.#emit({ type: 'settings', index: this.#bump(change.service), service: change.service, settings: change.settings });
      this.#startWarmupTicks(change.service);
      this.#changed(change.service);
      return;
    }
    if (change.kind === 'put') {
      const registration = { ...change.registration, maintenance: change.registration.maintenance ?? null };
      const previous = this.get(registration.service, registration.id);
      if (previous) {
        const known = registrationOf(previous);
        if (JSON.stringify(known) === JSON.stringify(registration)) return;
        if (JSON.stringify({ ...known, maintenance: null }) === JSON.stringify({ ...registration, maintenance: null })) {
          // Only the maintenance flag changed: as setMaintenance, without resetting health.
          const before = previous.status;
          previous.maintenance = registration.maintenance;
          if (registration.maintenance) previous.health.maintenance = { status: 'maintenance', note: registration.maintenance.reason, since: now };
          else delete previous.health.maintenance;
          this.#afterHealthChange(previous, before);
          return;
        }
      }
      this.#put(registration, now);
      return;
    }
    const instance = this.get(change.service, change.id);
    if (!instance) return;
    if (change.kind === 'delete') {
      this.#remove(instance, instance.status === 'critical' ? 'critical' : 'request');
      return;
    }
    if (instance.check) return;
    if (change.status === 'expired') {
      this.#setSource(instance, 'lease', 'critical', `TTL expired: no heartbeat for ${instance.ttl}s`, now);
    } else {
      instance.expiresAt = now + instance.ttl * 1000;
      this.#setSource(instance, 'lease', change.status, change.note, now);
    }
  }

  #leaseTimer(instance: Instance): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const ttl = instance.ttl;
      this.#setSource(instance, 'lease', 'critical', `TTL expired: no heartbeat for ${ttl}s`, Date.now());
    }, instance.ttl * 1000);
    timer.unref();
    return timer;
  }

  #setSource(instance: Instance, source: 'lease' | 'check', status: ReportedStatus, note: string, now: number): void {
    const current = instance.health[source];
    if (current && current.status === status && current.note === note) return;
    const previous = instance.status;
    instance.health[source] = { status, note, since: now } satisfies HealthSource;
    this.#afterHealthChange(instance, previous);
  }

  /** After any health source changed visibly: new status, index, warm-up, critical timer, events. */
  #afterHealthChange(instance: Instance, previous: HealthStatus): void {
    instance.status = instanceStatus(instance.health);
    const wasServable = isServable(previous, this.#options);
    const servable = isServable(instance.status, this.#options);
    if (!wasServable && servable && this.settings(instance.service).warmup > 0) {
      instance.warmingSince = Date.now();
      this.#startWarmupTicks(instance.service);
    }
    this.#updateCriticalTimer(instance);
    instance.index = this.#bump(instance.service);
    this.#emit({ type: 'health', index: instance.index, instance, previous });
    this.#changed(instance.service);
  }

  /** Critical (maintenance aside) for longer than `deregisterCriticalAfter` → deleted. */
  #updateCriticalTimer(instance: Instance): void {
    const timers = this.#timers.get(instance);
    if (!timers) return;
    const critical = instanceStatus({ lease: instance.health.lease, check: instance.health.check }) === 'critical';
    if (critical && !timers.critical) {
      const after = instance.deregisterCriticalAfter ?? this.#options.gracePeriod;
      timers.critical = setTimeout(() => void this.#deleteCritical(instance), after * 1000);
      timers.critical.unref();
    } else if (!critical && timers.critical) {
      clearTimeout(timers.critical);
      timers.critical = undefined;
    }
  }

  async #deleteCritical(instance: Instance): Promise<void> {
    await this.#serialise(instance.service, instance.id, async () => {
      // A heartbeat or a new registration may have come in while this waited its turn.
      if (this.get(instance.service, instance.id) !== instance || !this.#timers.get(instance)?.critical) return;
      await this.#store.delete(instance.service, instance.id);
      this.#remove(instance, 'critical');
    }).catch(() => {
      // The store refused the delete: keep the instance (critical, out of DNS) and try again later.
      const timers = this.#timers.get(instance);
      if (!timers) return;
      timers.critical = undefined;
      this.#updateCriticalTimer(instance);
    });
  }

  #remove(instance: Instance, reason: 'request' | 'critical'): void {
    const instances = this.#services.get(instance.service);
    // Already gone: with a shared store, this node's own deletion can come back on the watch (and be
    // applied) before the store call that made it returns.
    if (instances?.get(instance.id) !== instance) return;
    this.#clearTimers(instance);
    instances.delete(instance.id);
    if (instances.size === 0) this.#services.delete(instance.service);
    this.#emit({ type: 'deregister', index: this.#bump(instance.service), instance, reason });
    this.#changed(instance.service);
  }

  #clearTimers(instance: Instance): void {
    const timers = this.#timers.get(instance);
    if (!timers) return;
    clearTimeout(timers.lease);
    clearTimeout(timers.critical);
    this.#timers.delete(instance);
  }

  #protection(service: string, instances: Map<string, Instance>) {
    const candidates: Instance[] = [];
    const servable: Instance[] = [];
    for (const instance of instances.values()) {
      if (instance.status === 'maintenance') continue;
      candidates.push(instance);
      if (isServable(instance.status, this.#options)) servable.push(instance);
    }
    const healthyShare = candidates.length === 0 ? 1 : servable.length / candidates.length;
    const threshold = this.settings(service).protectionThreshold;
    const tripped = threshold > 0 && candidates.length > 0 && healthyShare <= threshold;
    return { candidates, servable, tripped, healthyShare };
  }

  /** Re-weights warming instances in steps until every one is at full weight. */
  #startWarmupTicks(service: string): void {
    const warmupMs = this.settings(service).warmup * 1000;
    if (warmupMs <= 0 || this.#warmupTimers.has(service)) return;
    const timer = setInterval(() => {
      const now = Date.now();
      let warming = false;
      for (const instance of this.#services.get(service)?.values() ?? []) {
        if (instance.warmingSince === null) continue;
        if (now - instance.warmingSince >= this.settings(service).warmup * 1000) instance.warmingSince = null;
        else warming = true;
      }
      if (!warming) {
        clearInterval(timer);
        this.#warmupTimers.delete(service);
      }
      // Weights are not a visible change for watchers (no index), but DNS must re-read them.
      this.#changed(service);
    }, Math.max(WARMUP_MIN_STEP_MS, warmupMs / WARMUP_STEPS));
    timer.unref();
    this.#warmupTimers.set(service, timer);
  }

  #bump(service: string): number {
    this.#index++;
    this.#serviceIndex.set(service, this.#index);
    return this.#index;
  }

  #changed(service: string): void {
    for (const listener of this.#changeListeners) listener(service);
    // Counting healthy instances is O(n): skip it for the (default) services without a threshold.
    if (this.settings(service).protectionThreshold === 0 && !this.#protectionTripped.has(service)) return;
    const instances = this.#services.get(service);
    const { tripped, healthyShare } = instances ? this.#protection(service, instances) : { tripped: false, healthyShare: 1 };
    if (tripped === this.#protectionTripped.has(service)) return;
    if (tripped) this.#protectionTripped.add(service);
    else this.#protectionTripped.delete(service);
    for (const listener of this.#protectionListeners) listener(service, tripped, healthyShare);
  }

  #emit(event: RegistryEvent): void {
    for (const listener of this.#eventListeners) listener(event);
  }

  /** Runs `write` after every earlier write to the same key has settled. */
  #serialise<T>(service: string, id: string, write: () => Promise<T>): Promise<T> {
    const key = `${service}/${id}`;
    const previous = this.#writes.get(key) ?? Promise.resolve();
    const next = previous.then(write, write);
    const settled = next.catch(() => {});
    this.#writes.set(key, settled);
    void settled.then(() => {
      if (this.#writes.get(key) === settled) this.#writes.delete(key);
    });
    return next;
  }
}

/** The stored part of an instance. */
export function registrationOf(instance: Instance): Registration {
  const { status, health, registeredAt, expiresAt, warmingSince, index, ...registration } = instance;
  return registration;
}
