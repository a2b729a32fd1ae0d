// RFC 2782's weighted order for large record sets, drawn only as far as an answer can hold.
//
// Sorting every record by a random key costs O(n log n) a query: for a service of 10,000
// instances that is milliseconds per query, while a UDP answer holds a dozen records and a TCP
// one about a thousand. A Fenwick tree of the weights, built once per change of the set, draws
// "pick by running weight sum, remove, repeat" (the RFC's own procedure) in O(log n) a pick, so a
// query pays O(k log n) for the k records it sends. Hand-written: it is twenty lines, and the
// packages that offer one allocate per call.
//
// Weights are SRV weights, whole numbers below 65,536, so every sum is exact in a double. Weight-0
// records come after every weighted one of their priority, evenly among themselves (a second tree
// where each of them weighs 1).

export class WeightTree {
  readonly count: number;
  /** Priority tiers: tier g holds records [tierEnds[g - 1] ?? 0, tierEnds[g]). */
  readonly tierEnds: Int32Array;
  readonly #weights: Float64Array;
  /** Fenwick trees (1-based) of the weights, and of 1 per weight-0 record. */
  readonly #weighted: Float64Array;
  readonly #zero: Float64Array;
  /** Records taken out by the current draw, to put back at its end. */
  #taken: Int32Array;
  #highBit: number;

  constructor(weights: ArrayLike<number>, tierEnds: Int32Array) {
    const n = weights.length;
    this.count = n;
    this.tierEnds = tierEnds;
    this.#weights = Float64Array.from(weights);
    this.#weighted = new Float64Array(n + 1);
    this.#zero = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      // Below 1 is weight 0: records.ts gives those a tiny draw weight of their own.
      if (this.#weights[i] >= 1) this.#weighted[i + 1] = this.#weights[i];
      else this.#zero[i + 1] = 1;
    }
    // Linear-time build: each node passes its sum to its parent.
    for (let i = 1; i <= n; i++) {
      const parent = i + (i & -i);
      if (parent <= n) {
        this.#weighted[parent] += this.#weighted[i];
        this.#zero[parent] += this.#zero[i];
      }
    }
    this.#taken = new Int32Array(Math.max(1, Math.min(n, 64)));
    this.#highBit = 1;
    while (this.#highBit * 2 <= n) this.#highBit *= 2;
  }

  /**
   * Draws up to `limit` records in RFC 2782 order (priority tiers in turn, weighted within each)
   * into `order` from index 0; returns how many. `order` must hold `limit` numbers.
   */
  draw(order: Int32Array, limit: number): number {
    let drawn = 0;
    let from = 0;
    for (let g = 0; g < this.tierEnds.length && drawn < limit; g++) {
      const to = this.tierEnds[g];
      for (const tree of [this.#weighted, this.#zero]) {
        let total = prefix(tree, to) - prefix(tree, from);
        while (total > 0 && drawn < limit) {
          const target = prefix(tree, from) + Math.floor(Math.random() * total);
          const record = this.#find(tree, target);
          const weight = tree === this.#weighted ? this.#weights[record] : 1;
          add(tree, record, -weight);
          total -= weight;
          this.#take(record, drawn);
          order[drawn++] = record;
        }
      }
      from = to;
    }
    // Put everything back: the tree is the set's, shared by every query.
    for (let i = 0; i < drawn; i++) {
      const record = this.#taken[i];
      if (this.#weights[record] >= 1) add(this.#weighted, record, this.#weights[record]);
      else add(this.#zero, record, 1);
    }
    return drawn;
  }

  #take(record: number, at: number): void {
    if (at >= this.#taken.length) {
      const grown = new Int32Array(this.#taken.length * 2);
      grown.set(this.#taken);
      this.#taken = grown;
    }
    this.#taken[at] = record;
  }

  /** The record whose running-sum interval holds `target`: the least i with prefix(i + 1) > target. */
  #find(tree: Float64Array, target: number): number {
    let position = 0;
    let remaining = target;
    for (let step = this.#highBit; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= this.count && tree[next] <= remaining) {
        position = next;
        remaining -= tree[next];
      }
    }
    return position;
  }
}

/** Sum of the first `n` records' weights. */
function prefix(tree: Float64Array, n: number): number {
  let sum = 0;
  for (let i = n; i > 0; i -= i & -i) sum += tree[i];
  return sum;
}

function add(tree: Float64Array, record: number, delta: number): void {
  for (let i = record + 1; i < tree.length; i += i & -i) tree[i] += delta;
}
