// The timers of registered instances: a lease deadline, and a deletion due after a critical spell.

interface Timers {
  /** Fires when the lease lapses; `refresh()`ed by every heartbeat. */
  lease?: NodeJS.Timeout;
  /** Set while the instance is critical: deletes it when its grace period ends. */
  critical?: NodeJS.Timeout;
}

/**
 * One entry per registered instance object (a replacement is a new object with new timers). A
 * lease is one `setTimeout`, refreshed in place by heartbeats: no allocation per heartbeat. Timers
 * are unref'd: they never keep a process alive on their own.
 */
export class InstanceTimers<K extends object> {
  readonly #timers = new Map<K, Timers>();

  /** Starts tracking `key`, with no timer yet. */
  track(key: K): void {
    this.#timers.set(key, {});
  }

  isTracked(key: K): boolean {
    return this.#timers.has(key);
  }

  hasLease(key: K): boolean {
    return this.#timers.get(key)?.lease !== undefined;
  }

  /** (Re)starts the lease of `key`: `onLapse` runs `ms` from now unless renewed again. */
  renewLease(key: K, ms: number, onLapse: () => void): void {
    const timers = this.#timers.get(key);
    if (!timers) return;
    if (timers.lease) {
      timers.lease.refresh();
      return;
    }
    timers.lease = setTimeout(onLapse, ms);
    timers.lease.unref();
  }

  hasDeadline(key: K): boolean {
    return this.#timers.get(key)?.critical !== undefined;
  }

  /** Schedules `onDue` in `ms` unless a deadline is already set. */
  setDeadline(key: K, ms: number, onDue: () => void): void {
    const timers = this.#timers.get(key);
    if (!timers || timers.critical) return;
    timers.critical = setTimeout(onDue, ms);
    timers.critical.unref();
  }

  clearDeadline(key: K): void {
    const timers = this.#timers.get(key);
    if (!timers) return;
    clearTimeout(timers.critical);
    timers.critical = undefined;
  }

  /** Stops `key`'s timers and forgets it. */
  forget(key: K): void {
    const timers = this.#timers.get(key);
    if (!timers) return;
    clearTimeout(timers.lease);
    clearTimeout(timers.critical);
    this.#timers.delete(key);
  }

  clear(): void {
    for (const key of [...this.#timers.keys()]) this.forget(key);
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
