// The timers of registered instances: a lease deadline, and a deletion due after a critical spell.
import { LeaseClock } from './lease-clock.ts';

/**
 * The timers of registered instances (a replacement is a new object with new timers): the lease,
 * and the deletion due after a critical spell. Both are deadlines on a LeaseClock (one timer for
 * all of them, lapses handed out in slices) rather than a setTimeout each: a heartbeat moves a
 * deadline and allocates nothing, and a million leases cost no million Timeout objects. The clock's
 * timer is unref'd: it never keeps a process alive on its own.
 */
export class InstanceTimers<K extends object> {
  /** Whether `key` is still registered (its timers may run): asked, rather than kept in a set of a million keys. */
  readonly #isCurrent: (key: K) => boolean;
  #stopped = false;
  readonly #leases: LeaseClock<K>;
  readonly #deadlines: LeaseClock<K>;
  /** Keys whose deletion deadline came: it counts as set until cleared (the deletion may be retried). */
  readonly #passed = new Set<K>();

  readonly #localLeases: boolean;

  /**
   * `onLapse(key)` when a lease lapses; `onDue(key)` when a deletion deadline comes; `isCurrent(key)`
   * while it is registered; `localLeases` false: a shared store decides expiry (no lease runs here).
   */
  constructor(onLapse: (key: K) => void, onDue: (key: K) => void, isCurrent: (key: K) => boolean, localLeases = true) {
    this.#isCurrent = isCurrent;
    this.#localLeases = localLeases;
    this.#leases = new LeaseClock(onLapse);
    this.#deadlines = new LeaseClock((key) => {
      this.#passed.add(key);
      onDue(key);
    });
  }

  /** Whether `key` may have timers: registered, and the timers not stopped. */
  isTracked(key: K): boolean {
    return !this.#stopped && this.#isCurrent(key);
  }

  hasLease(key: K): boolean {
    return this.#leases.has(key);
  }

  /** (Re)starts the lease of `key`: it lapses at `deadline` (epoch ms) unless renewed again. */
  renewLease(key: K, deadline: number | null): void {
    if (this.#localLeases && deadline !== null && this.isTracked(key)) this.#leases.set(key, deadline);
  }

  /** Ends the lease of `key` without handing its lapse out (the caller deals with it). */
  endLease(key: K): void {
    this.#leases.delete(key);
  }

  /** Whether the lease of `key` has passed its deadline at `now` and its lapse is still to be handed out. */
  isLapseDue(key: K, now: number): boolean {
    const deadline = this.#leases.dueAt(key);
    return deadline !== undefined && deadline <= now;
  }

  /** The earliest lease deadline later than `after` (epoch ms) among `keys`; Infinity without one. */
  nextLeaseDeadline(keys: Iterable<K | undefined>, after: number): number {
    let next = Infinity;
    for (const key of keys) {
      const deadline = key === undefined ? undefined : this.#leases.dueAt(key);
      if (deadline !== undefined && deadline > after && deadline < next) next = deadline;
    }
    return next;
  }

  /** Whether a deletion deadline is set (whether or not it has come). */
  hasDeadline(key: K): boolean {
    return this.#deadlines.has(key) || this.#passed.has(key);
  }

  /** Sets `key`'s deletion deadline `ms` from now, unless one is already set. */
  setDeadline(key: K, ms: number): void {
    if (this.isTracked(key) && !this.hasDeadline(key)) this.#deadlines.set(key, Date.now() + ms);
  }

  clearDeadline(key: K): void {
    this.#deadlines.delete(key);
    this.#passed.delete(key);
  }

  /** Stops `key`'s timers (before it is replaced or removed). */
  forget(key: K): void {
    this.#leases.delete(key);
    this.clearDeadline(key);
  }

  /** Stops every timer, for good. */
  clear(): void {
    this.#stopped = true;
    this.#passed.clear();
    this.#leases.clear();
    this.#deadlines.clear();
  }
}

/**
 * Re-runs `tick(key)` every `intervalMs` while it returns true, one interval per key: the
 * warm-up of a service re-weights its warming instances in steps until none is warming.
 */
export class Ticker {
  readonly #intervals = new Map<string, NodeJS.Timeout>();
  readonly #tick: (key: string) => boolean;

  constructor(tick: (key: string) => boolean) {
    this.#tick = tick;
  }

  /** Starts ticking `key` unless it already is. */
  start(key: string, intervalMs: number): void {
    if (this.#intervals.has(key)) return;
    const interval = setInterval(() => {
      if (this.#tick(key)) return;
      clearInterval(interval);
      this.#intervals.delete(key);
    }, intervalMs);
    interval.unref();
    this.#intervals.set(key, interval);
  }

  clear(): void {
    for (const interval of this.#intervals.values()) clearInterval(interval);
    this.#intervals.clear();
  }
}
