import type { Store } from '../store/store.ts';
import type { HealthStatus, Instance, Registration, RegistryEvent, RegistryView } from './types.ts';

export interface RegistryOptions {
  /** Seconds an expired instance stays (as critical) before it is deleted. */
  gracePeriod: number;
}

interface Lease {
  /** Fires when the lease lapses; `refresh()`ed by every heartbeat. */
  expiry: NodeJS.Timeout;
  /** Set while the instance is critical: deletes it when the grace period ends. */
  grace?: NodeJS.Timeout;
}

/**
 * Instances, their leases and their health. Knows nothing of DNS or HTTP.
 *
 * Writes go to the store first and change memory only once the store has them, so nothing in
 * memory ever claims a registration the store does not hold. Writes to one instance are
 * serialised, so the store and memory agree on which of two racing writes came last.
 * Heartbeats touch memory only: a lease is a deadline, renewed by `Timeout.refresh()`.
 */
export class Registry implements RegistryView {
  readonly #store: Store;
  readonly #gracePeriodMs: number;
  readonly #services = new Map<string, Map<string, Instance>>();
  readonly #leases = new Map<Instance, Lease>();
  readonly #writes = new Map<string, Promise<unknown>>();
  readonly #eventListeners = new Set<(event: RegistryEvent) => void>();
  readonly #changeListeners = new Set<(service: string) => void>();

  constructor(store: Store, options: RegistryOptions) {
    this.#store = store;
    this.#gracePeriodMs = options.gracePeriod * 1000;
  }

  /** Loads every stored registration; each starts passing with a fresh lease of one ttl. */
  async start(): Promise<number> {
    const rows = await this.#store.load();
    for (const registration of rows) this.#put(registration, Date.now());
    return rows.length;
  }

  async register(registration: Registration): Promise<Instance> {
    return this.#serialise(registration.service, registration.id, async () => {
      await this.#store.put(registration);
      return this.#put(registration, Date.now());
    });
  }

  /** Renews the lease. Returns undefined for an unknown instance (the client should register again). */
  heartbeat(service: string, id: string): Instance | undefined {
    const instance = this.#services.get(service)?.get(id);
    if (!instance) return undefined;
    const lease = this.#leases.get(instance)!;
    instance.expiresAt = Date.now() + instance.ttl * 1000;
    lease.expiry.refresh();
    if (lease.grace) {
      clearTimeout(lease.grace);
      lease.grace = undefined;
    }
    if (instance.status !== 'passing') this.#setStatus(instance, 'passing');
    return instance;
  }

  /** Deletes an instance. Resolves false if it was not registered. */
  async deregister(service: string, id: string): Promise<boolean> {
    return this.#serialise(service, id, async () => {
      const instance = this.#services.get(service)?.get(id);
      if (!instance) return false;
      await this.#store.delete(service, id);
      this.#remove(instance, 'request');
      return true;
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

  /** Every registry event (register, deregister, health), for logs and watches. */
  onEvent(listener: (event: RegistryEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  onChange(listener: (service: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Stops every lease timer and waits for writes in flight. The store is closed by its owner. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#writes.values());
    for (const lease of this.#leases.values()) {
      clearTimeout(lease.expiry);
      clearTimeout(lease.grace);
    }
    this.#leases.clear();
  }

  #put(registration: Registration, now: number): Instance {
    let instances = this.#services.get(registration.service);
    if (!instances) this.#services.set(registration.service, (instances = new Map()));
    const previous = instances.get(registration.id);
    if (previous) this.#clearLease(previous);
    const instance: Instance = {
      ...registration,
      status: 'passing',
      registeredAt: now,
      expiresAt: now + registration.ttl * 1000,
    };
    instances.set(instance.id, instance);
    const expiry = setTimeout(() => this.#expire(instance), registration.ttl * 1000);
    expiry.unref();
    this.#leases.set(instance, { expiry });
    this.#emit({ type: 'register', instance, replaced: previous !== undefined });
    return instance;
  }

  #expire(instance: Instance): void {
    const lease = this.#leases.get(instance);
    if (!lease || instance.status === 'critical') return;
    this.#setStatus(instance, 'critical');
    lease.grace = setTimeout(() => void this.#deleteExpired(instance), this.#gracePeriodMs);
    lease.grace.unref();
  }

  async #deleteExpired(instance: Instance): Promise<void> {
    await this.#serialise(instance.service, instance.id, async () => {
      // A heartbeat or a new registration may have come in while this waited its turn.
      if (this.get(instance.service, instance.id) !== instance || instance.status !== 'critical') return;
      await this.#store.delete(instance.service, instance.id);
      this.#remove(instance, 'expired');
    }).catch(() => {
      // The store refused the delete: keep the instance (critical, out of DNS) and try again later.
      const lease = this.#leases.get(instance);
      if (lease) {
        lease.grace = setTimeout(() => void this.#deleteExpired(instance), this.#gracePeriodMs);
        lease.grace.unref();
      }
    });
  }

  #remove(instance: Instance, reason: 'request' | 'expired'): void {
    this.#clearLease(instance);
    const instances = this.#services.get(instance.service)!;
    instances.delete(instance.id);
    if (instances.size === 0) this.#services.delete(instance.service);
    this.#emit({ type: 'deregister', instance, reason });
  }

  #clearLease(instance: Instance): void {
    const lease = this.#leases.get(instance);
    if (!lease) return;
    clearTimeout(lease.expiry);
    clearTimeout(lease.grace);
    this.#leases.delete(instance);
  }

  #setStatus(instance: Instance, status: HealthStatus): void {
    const previous = instance.status;
    instance.status = status;
    this.#emit({ type: 'health', instance, previous });
  }

  #emit(event: RegistryEvent): void {
    for (const listener of this.#changeListeners) listener(event.instance.service);
    for (const listener of this.#eventListeners) listener(event);
  }

  /** Runs `write` after every earlier write to the same instance has settled. */
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
