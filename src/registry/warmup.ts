// Warm-up: an instance that becomes servable while its service has a warm-up ramps up its weight.
import { endWarmups } from './health.ts';
import { Ticker } from './timers.ts';
import type { Instance } from './types.ts';

/** Warm-up re-weights in about this many steps, each at least this far apart. */
const WARMUP_STEPS = 20;
const WARMUP_MIN_STEP_MS = 100;

/**
 * The warming instances of every service, re-weighted in steps (one ticker per service) until none
 * is warming. Weights are read with `warmupWeight` (health.ts); this only says who is warming since when.
 */
export class Warmups {
  readonly #ticker = new Ticker((service) => this.#tick(service));
  readonly #instancesOf: (service: string) => Iterable<Instance>;
  readonly #warmupOf: (service: string) => number;
  readonly #changed: (service: string) => void;

  /** `warmupOf(service)`: its warm-up in seconds; `changed(service)`: its weights moved (DNS must re-read them). */
  constructor(instancesOf: (service: string) => Iterable<Instance>, warmupOf: (service: string) => number, changed: (service: string) => void) {
    this.#instancesOf = instancesOf;
    this.#warmupOf = warmupOf;
    this.#changed = changed;
  }

  /** An instance became servable at `since` while its service has a warm-up: it ramps up from then. */
  start(instance: Instance, since: number): void {
    const warmupMs = this.#warmupOf(instance.service) * 1000;
    // Long past (a node loading a registration made before it started): warm already.
    if (warmupMs <= 0 || Date.now() - since >= warmupMs) return;
    instance.warmingSince = since;
    this.#ticker.start(instance.service, Math.max(WARMUP_MIN_STEP_MS, warmupMs / WARMUP_STEPS));
  }

  clear(): void {
    this.#ticker.clear();
  }

  /** One warm-up step of `service`: full-weight instances stop warming. True while any still is. */
  #tick(service: string): boolean {
    const warming = endWarmups(this.#instancesOf(service), this.#warmupOf(service) * 1000, Date.now());
    // Weights are not a visible change for watchers (no index), but DNS must re-read them.
    this.#changed(service);
    return warming;
  }
}
