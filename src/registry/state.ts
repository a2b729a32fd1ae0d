// The registry in memory: instances, their leases and health transitions, per-service settings,
// and everything read from them. Durability (the store) is added by Registry (registry.ts).
import { isDeepStrictEqual } from 'node:util';
import { answerableAlone, answerableOf } from './answerable.ts';
import { ChangeFeed } from './changes.ts';
import {
  initialHealth,
  initialReport,
  instanceStatus,
  isLeased,
  startsPassing,
  isCriticalBelowMaintenance,
  isServable,
  leaseLapsedNote,
  maintenanceSource,
  statusAfterLapse,
  countStatuses,
  warmupWeight,
  type HealthPolicy,
} from './health.ts';
import { protectionOf, TrippedServices } from './protection.ts';
import { InstanceTimers } from './timers.ts';
import { Warmups } from './warmup.ts';
import { registrationOf, type Answerable, type HealthSource, type HealthStatus, type Instance, type Registration, type RegistryEvent, type RegistryView, type ReportedStatus, type ServiceSettings } from './types.ts';

export interface RegistryOptions extends HealthPolicy {
  /** Seconds an instance may stay critical before it is deleted, unless its registration says otherwise. */
  gracePeriod: number;
}

/** What a heartbeat or a check reports. */
export interface Report {
  status: ReportedStatus;
  note: string;
}

export const PASSING: Report = Object.freeze({ status: 'passing', note: '' });

export const DEFAULT_SETTINGS: Readonly<ServiceSettings> = Object.freeze({ protectionThreshold: 0, warmup: 0 });

/**
 * Every visible change takes the next value of one index (changes.ts). A lease is a deadline on the
 * timers' one clock (timers.ts), moved by heartbeats; when it lapses the instance turns critical at
 * once, and after its grace period `deadlinePassed` is called to delete it. With shared leases (a
 * replicated store) no lease deadline runs: the store says when a lease lapsed (registry.ts applies it).
 */
export abstract class RegistryState implements RegistryView {
  readonly #options: RegistryOptions;
  readonly #services = new Map<string, Map<string, Instance>>();
  readonly #settings = new Map<string, ServiceSettings>();
  readonly #feed: ChangeFeed;
  readonly #timers: InstanceTimers<Instance>;
  readonly #warmups = new Warmups((service) => this.#services.get(service)?.values() ?? [], (service) => this.settings(service).warmup, (service) => this.#changed(service));
  readonly #tripped = new TrippedServices();

  constructor(options: RegistryOptions, sharedLeases: boolean) {
    this.#options = options;
    // With an embedded store a lease is a local deadline; with a shared one the store decides expiry.
    this.#timers = new InstanceTimers<Instance>(
      (instance) => this.#lapse(instance),
      (instance) => this.deadlinePassed(instance),
      (instance) => this.#services.get(instance.service)?.get(instance.id) === instance,
      !sharedLeases,
    );
    // A shared store's changes are indexed by its revisions (changes.ts), from its snapshot on.
    this.#feed = new ChangeFeed(sharedLeases ? 0 : undefined);
  }

  /** Applies a change a shared store made at `revision` (undefined: a store without revisions). */
  protected atRevision<T>(revision: number | undefined, apply: () => T): T {
    return this.#feed.atRevision(revision, apply);
  }

  /** The snapshot a shared store loaded was at `revision`. */
  protected loadedAt(revision: number): void {
    this.#feed.loadedAt(revision);
  }

  /** An instance stayed critical through its grace period: delete it (durably), unless it recovered meanwhile. */
  protected abstract deadlinePassed(instance: Instance): void;

  /** Whether `instance` is still registered and past its deadline (nothing renewed it meanwhile). */
  protected isDue(instance: Instance): boolean {
    return this.get(instance.service, instance.id) === instance && this.#timers.hasDeadline(instance);
  }

  /** Settings as loaded at start-up: no event, nobody is listening yet. */
  protected restoreSettings(service: string, settings: ServiceSettings): void {
    this.#settings.set(service, settings);
  }

  /** Stops every timer. */
  protected stopTimers(): void {
    this.#timers.clear();
    this.#warmups.clear();
  }

  /**
   * Reports an active check's result for `instance` (ignored if it was replaced or removed meanwhile),
   * seen at `since`; `revision`: the shared store's revision that holds it.
   */
  reportCheck(instance: Instance, status: ReportedStatus, note: string, since = Date.now(), revision?: number): void {
    if (this.get(instance.service, instance.id) !== instance) return;
    this.#feed.atRevision(revision, () => this.#setSource(instance, 'check', status, note, since));
  }

  /** The index of the last visible change anywhere. */
  get index(): number {
    return this.#feed.index;
  }

  /** The index of the last visible change to `service` (or the current index if it never existed). */
  serviceIndex(service: string): number {
    return this.#feed.serviceIndex(service);
  }

  settings(service: string): ServiceSettings {
    return this.#settings.get(service) ?? DEFAULT_SETTINGS;
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
    return countStatuses(this.#services.values());
  }

  get serviceCount(): number {
    return this.#services.size;
  }

  /** Services whose protection threshold has tripped. */
  get protectionTrippedCount(): number {
    return this.#tripped.size;
  }

  /** A lease past its deadline counts as lapsed, handed out or not (a storm's take a while): DNS leaves it out from then on. */
  answerable(service: string, now = Date.now()): readonly Answerable[] | undefined {
    const instances = this.#services.get(service);
    return instances && answerableOf(instances.values(), this.settings(service), this.#options, now, (instance) => (this.#timers.isLapseDue(instance, now) ? statusAfterLapse(instance) : instance.status));
  }

  answerableInstance(service: string, id: string): Answerable | undefined {
    const instance = this.get(service, id);
    // With a threshold in play, whether one instance is answered with depends on all of them.
    if (!instance || this.#protectionInPlay(service)) return instance && this.answerable(service)?.find((entry) => entry.instance === instance);
    const now = Date.now();
    return this.#timers.isLapseDue(instance, now) ? undefined : answerableAlone(instance, this.settings(service), this.#options, now);
  }

  /** A threshold set, or one tripped (until the change that clears it): `answerable` then depends on every instance. */
  #protectionInPlay(service: string): boolean {
    return this.settings(service).protectionThreshold > 0 || this.#tripped.has(service);
  }

  nextLeaseDeadline(service: string, after: number): number {
    return this.#timers.nextLeaseDeadline(this.#services.get(service)?.values() ?? [], after);
  }

  leaseDeadline(service: string, id: string): number {
    return this.#timers.nextLeaseDeadline([this.get(service, id)], -Infinity);
  }

  /** Hands out now the lapses of `service` past their deadline that the clock has not reached yet, so a read shows them. */
  protected settleLapses(service: string): void {
    const now = Date.now();
    for (const instance of [...(this.#services.get(service)?.values() ?? [])]) if (this.#timers.isLapseDue(instance, now)) this.#lapse(instance);
  }

  /** The lease lapsed at its deadline, however late this runs: critical since then. */
  #lapse(instance: Instance): void {
    this.#timers.endLease(instance);
    this.#setSource(instance, 'lease', 'critical', leaseLapsedNote(instance.ttl), instance.expiresAt ?? Date.now(), true);
  }

  /** Whether the protection threshold has tripped for `service`, and its healthy share (1 when empty). */
  protection(service: string): { tripped: boolean; healthyShare: number } {
    const instances = this.#services.get(service);
    if (!instances) return { tripped: false, healthyShare: 1 };
    const { tripped, healthyShare } = protectionOf(instances.values(), this.settings(service).protectionThreshold, this.#options);
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

  // ---- subscriptions ----

  /** Every registry event (register, deregister, health, settings), for logs and watches. */
  onEvent(listener: (event: RegistryEvent) => void): () => void {
    return this.#feed.onEvent(listener);
  }

  /** Fires synchronously whenever what a consumer of `service` could see changed, weights included. */
  onChange(listener: (service: string, instanceId?: string) => void): () => void {
    return this.#feed.onChange(listener);
  }

  /** Fires when a service's protection threshold trips or clears. */
  onProtection(listener: (service: string, tripped: boolean, healthyShare: number) => void): () => void {
    return this.#tripped.onChange(listener);
  }

  // ---- memory ----

  protected put(stored: Registration, now: number): Instance {
    // A shared store keeps the registration time, so every node counts warm-up from the same moment.
    const { registeredAt = now, ...registration } = stored;
    let instances = this.#services.get(registration.service);
    if (!instances) this.#services.set(registration.service, (instances = new Map()));
    const previous = instances.get(registration.id);
    // Registering the same body again (a client restarting, a retried PUT) counts as a heartbeat
    // and keeps the rest of the health the instance has earned (a passing check stays passing).
    if (previous && isDeepStrictEqual(registrationOf(previous), registration)) {
      if (previous.health.lease) this.renew(previous, initialReport(registration), now);
      return previous;
    }
    if (previous) this.#timers.forget(previous);
    const health = initialHealth(registration, registeredAt);
    const instance: Instance = {
      ...registration,
      maintenance: registration.maintenance ?? null,
      status: instanceStatus(health),
      health,
      registeredAt,
      expiresAt: isLeased(registration) ? now + registration.ttl * 1000 : null,
      warmingSince: null,
      index: 0,
    };
    instances.set(instance.id, instance);
    if (isLeased(registration)) this.#timers.renewLease(instance, instance.expiresAt);
    if (isServable(instance.status, this.#options)) this.#warmups.start(instance, registeredAt);
    this.updateDeadline(instance);
    instance.index = this.#feed.bump(instance.service);
    this.#feed.emit({ type: 'register', index: instance.index, instance, replaced: previous !== undefined });
    this.#changed(instance.service, instance.id);
    return instance;
  }

  /**
   * Stored registrations at start-up, a page at a time: the instances `put` makes, less its work per
   * instance that nobody needs yet (none replaces another; a service's change is told once a page).
   * Any with other health to start with, a time of its own or met twice go through `put`.
   */
  protected restore(registrations: readonly Registration[], now: number): void {
    // Health sources are replaced when they change, never changed in place: the page shares one.
    const lease: HealthSource = { ...PASSING, since: now };
    const changed = new Set<string>();
    for (const registration of registrations) {
      let instances = this.#services.get(registration.service);
      if (!startsPassing(registration) || registration.registeredAt !== undefined || instances?.has(registration.id)) {
        this.put(registration, now);
        continue;
      }
      if (!instances) this.#services.set(registration.service, (instances = new Map()));
      const leased = isLeased(registration);
      const instance: Instance = {
        ...registration,
        maintenance: null,
        status: 'passing',
        health: leased ? { lease } : {},
        registeredAt: now,
        expiresAt: leased ? now + registration.ttl * 1000 : null,
        warmingSince: null,
        index: this.#feed.bump(registration.service),
      };
      instances.set(instance.id, instance);
      this.#timers.renewLease(instance, instance.expiresAt);
      this.#warmups.start(instance, now);
      this.#feed.emit({ type: 'register', index: instance.index, instance, replaced: false });
      changed.add(instance.service);
    }
    for (const service of changed) this.#changed(service);
  }

  /** A heartbeat taken: the lease runs again from `now`, and the reported status is recorded. */
  protected renew(instance: Instance, report: Report, now: number): void {
    // Late: the lease lapsed at its deadline (DNS left the instance out from then), so it comes back as after any lapse.
    if (this.#timers.isLapseDue(instance, now)) this.#lapse(instance);
    instance.expiresAt = now + instance.ttl * 1000;
    this.#timers.renewLease(instance, instance.expiresAt);
    this.#setSource(instance, 'lease', report.status, report.note, now);
  }


  /** The shared store let the lease lapse: the instance turns critical now. */
  protected remoteLapse(instance: Instance, now: number): void {
    this.#setSource(instance, 'lease', 'critical', leaseLapsedNote(instance.ttl), now, true);
  }

  /** The settings stored per service (`settings` gives the defaults for a service without). */
  protected storedSettings(): ReadonlyMap<string, ServiceSettings> {
    return this.#settings;
  }

  protected applySettings(service: string, settings: ServiceSettings): void {
    this.#settings.set(service, settings);
    this.#feed.emit({ type: 'settings', index: this.#feed.bump(service), service, settings });
    for (const instance of this.#services.get(service)?.values() ?? []) if (instance.warmingSince !== null) this.#warmups.start(instance, instance.warmingSince);
    this.#changed(service);
  }

  /** The one maintenance transition: flag and health source together, then what any health change does. */
  protected applyMaintenance(instance: Instance, maintenance: Instance['maintenance'], now: number): void {
    const previous = instance.status;
    instance.maintenance = maintenance;
    if (maintenance) instance.health.maintenance = maintenanceSource(maintenance.reason, maintenance.since ?? now);
    else delete instance.health.maintenance;
    this.#afterHealthChange(instance, previous, now);
  }

  #setSource(instance: Instance, source: 'lease' | 'check', status: ReportedStatus, note: string, now: number, lapsed = false): void {
    const current = instance.health[source];
    if (current && current.status === status && current.note === note) return;
    const previous = instance.status;
    instance.health[source] = { status, note, since: now };
    this.#afterHealthChange(instance, previous, now, lapsed);
  }

  /** After any health source changed visibly: new status, index, warm-up, deletion deadline, events. */
  #afterHealthChange(instance: Instance, previous: HealthStatus, now: number, lapsed = false): void {
    instance.status = instanceStatus(instance.health);
    if (!isServable(previous, this.#options) && isServable(instance.status, this.#options)) this.#warmups.start(instance, now);
    this.updateDeadline(instance);
    instance.index = this.#feed.bump(instance.service);
    this.#feed.emit({ type: 'health', index: instance.index, instance, previous, lapsed });
    this.#changed(instance.service, instance.id);
  }

  /** Critical (maintenance aside) for longer than `deregisterCriticalAfter` → deleted. */
  protected updateDeadline(instance: Instance): void {
    if (!this.#timers.isTracked(instance)) return;
    if (!isCriticalBelowMaintenance(instance)) {
      this.#timers.clearDeadline(instance);
      return;
    }
    const after = instance.deregisterCriticalAfter ?? this.#options.gracePeriod;
    this.#timers.setDeadline(instance, after * 1000);
  }

  protected remove(instance: Instance, reason: 'request' | 'critical'): void {
    const instances = this.#services.get(instance.service);
    // Already gone: with a shared store, this node's own deletion can come back on the watch (and be
    // applied) before the store call that made it returns.
    if (instances?.get(instance.id) !== instance) return;
    this.#timers.forget(instance);
    instances.delete(instance.id);
    if (instances.size === 0) this.#services.delete(instance.service);
    this.#feed.emit({ type: 'deregister', index: this.#feed.bump(instance.service), instance, reason });
    this.#changed(instance.service, instance.id);
  }

  /** Tells change listeners (naming the instance changed when no other's answers can have changed), then re-checks protection. */
  #changed(service: string, instanceId?: string): void {
    this.#feed.changed(service, instanceId !== undefined && !this.#protectionInPlay(service) ? instanceId : undefined);
    // Counting healthy instances is O(n): skip it for the (default) services without a threshold.
    if (!this.#protectionInPlay(service)) return;
    const threshold = this.settings(service).protectionThreshold;
    const instances = this.#services.get(service);
    const { tripped, healthyShare } = instances ? protectionOf(instances.values(), threshold, this.#options) : { tripped: false, healthyShare: 1 };
    this.#tripped.update(service, tripped, healthyShare);
  }

  /** Drops a deadline that could not be acted on, and sets it again from now. */
  protected retryDeadline(instance: Instance): void {
    this.#timers.clearDeadline(instance);
    this.updateDeadline(instance);
  }
}
