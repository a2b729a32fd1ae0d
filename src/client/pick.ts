// RFC 2782 selection, precomputed once per answer so that a pick is one random draw and a binary
// search: only the lowest priority is eligible, and within it an instance is chosen with
// probability weight / (sum of weights + 1 if any weight is 0). Zero-weight instances share the
// "very small chance" the RFC gives them; when every weight is 0 the choice is uniform.

/** What a pick needs of an instance. */
export interface Weighted {
  priority: number;
  weight: number;
}

export class Picker<T extends Weighted> {
  readonly #tier: T[];
  readonly #zeros: T[];
  /** Running sums of the weighted instances' weights, in `#tier` order. */
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(instances: readonly T[]) {
    let best = Infinity;
    for (const instance of instances) best = Math.min(best, instance.priority);
    const tier = instances.filter((instance) => instance.priority === best);
    this.#tier = tier.filter((instance) => instance.weight > 0);
    this.#zeros = tier.filter((instance) => instance.weight === 0);
    this.#cumulative = new Float64Array(this.#tier.length);
    let running = 0;
    this.#tier.forEach((instance, index) => (this.#cumulative[index] = running += instance.weight));
    this.#total = running;
  }

  get size(): number {
    return this.#tier.length + this.#zeros.length;
  }

  /** One instance of the best tier; undefined when there are none. No allocation, no I/O. */
  pick(): T | undefined {
    const zeros = this.#zeros.length;
    if (this.#total === 0) return zeros === 0 ? undefined : this.#zeros[Math.floor(Math.random() * zeros)];
    // RFC 2782 draws from 0..total inclusive, and 0 selects a zero-weight instance (listed first);
    // without any, the draw is 1..total so that the shares equal the weights exactly.
    const draw = zeros > 0 ? Math.floor(Math.random() * (this.#total + 1)) : 1 + Math.floor(Math.random() * this.#total);
    if (draw === 0) return this.#zeros[Math.floor(Math.random() * zeros)];
    const cumulative = this.#cumulative;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle] >= draw) high = middle;
      else low = middle + 1;
    }
    return this.#tier[low];
  }
}

/**
 * Every instance in the order RFC 2782 would try them: by priority, and within a priority by
 * repeated weighted draws without replacement (what a DNS answer from Signpost lists).
 */
export function pickOrder<T extends Weighted>(instances: readonly T[]): T[] {
  const byPriority = new Map<number, T[]>();
  for (const instance of instances) {
    const tier = byPriority.get(instance.priority);
    if (tier) tier.push(instance);
    else byPriority.set(instance.priority, [instance]);
  }
  const order: T[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const remaining = byPriority.get(priority)!;
    while (remaining.length > 0) {
      const chosen = new Picker(remaining).pick()!;
      order.push(chosen);
      remaining.splice(remaining.indexOf(chosen), 1);
    }
  }
  return order;
}
