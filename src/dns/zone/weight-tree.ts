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

// A tree of one tier can also change one record at a time (`push`, `pop`, `set`, O(log n) each):
// the record sets of large services are kept that way (live-set.ts), so that a change to one
// instance costs the tree O(log n) rather than a rebuild.

/** What answer/ draws a large set's SRV order from: this tree, or a set's tiers of them (live-set.ts). */
export interface OrderSource {
  readonly count: number;
  /** Draws up to `limit` records in RFC 2782 order into `order` from `into`; returns how many. */
  draw(order: Int32Array, limit: number, into?: number): number;
}

export class WeightTree implements OrderSource {
  count: number;
  /** Priority tiers: tier g holds records [tierEnds[g - 1] ?? 0, tierEnds[g]). */
  readonly tierEnds: Int32Array;
  #weights: Float64Array;
  /** Fenwick trees (1-based) of the weights, and of 1 per weight-0 record; room for `#weights.length` records. */
  #weighted: Float64Array;
  #zero: Float64Array;
  /** Records taken out by the current draw, to put back at its end. */
  #taken: Int32Array;
  #highBit = 1;

  constructor(weights: ArrayLike<number>, tierEnds: Int32Array, capacity = weights.length) {
    const n = weights.length;
    this.count = n;
    this.tierEnds = tierEnds;
    this.#weights = new Float64Array(Math.max(1, capacity, n));
    this.#weights.set(weights);
    this.#weighted = new Float64Array(0);
    this.#zero = new Float64Array(0);
    this.#taken = new Int32Array(Math.max(1, Math.min(n, 64)));
    this.#build();
  }

  /** Appends a record of `weight` (a tree of one tier, whose end moves with it): O(log n), amortised. */
  push(weight: number): void {
    if (this.count === this.#weights.length) {
      const grown = new Float64Array(this.#weights.length * 2);
      grown.set(this.#weights);
      this.#weights = grown;
      this.#build();
    }
    this.#place(this.count, weight);
    this.count++;
    this.tierEnds[0] = this.count;
  }

  /** Drops the last record (a tree of one tier). */
  pop(): void {
    this.count--;
    this.#unplace(this.count);
    this.tierEnds[0] = this.count;
  }

  /** Gives record `position` the weight `weight`. */
  set(position: number, weight: number): void {
    this.#unplace(position);
    this.#place(position, weight);
  }

  weightAt(position: number): number {
    return this.#weights[position];
  }

  /** The sums the draws use: of the weights (1 and over), and how many weigh less (weight 0). */
  totals(): { weighted: number; zero: number } {
    return { weighted: prefix(this.#weighted, this.#weighted.length - 1), zero: prefix(this.#zero, this.#zero.length - 1) };
  }

  /** The Fenwick trees from `#weights[0, count)`, in linear time: each node passes its sum to its parent. */
  #build(): void {
    const size = this.#weights.length;
    this.#weighted = new Float64Array(size + 1);
    this.#zero = new Float64Array(size + 1);
    for (let i = 0; i < this.count; i++) {
      // Below 1 is weight 0: records.ts gives those a tiny draw weight of their own.
      if (this.#weights[i] >= 1) this.#weighted[i + 1] = this.#weights[i];
      else this.#zero[i + 1] = 1;
    }
    for (let i = 1; i <= size; i++) {
      const parent = i + (i & -i);
      if (parent <= size) {
        this.#weighted[parent] += this.#weighted[i];
        this.#zero[parent] += this.#zero[i];
      }
    }
    this.#highBit = 1;
    while (this.#highBit * 2 <= size) this.#highBit *= 2;
  }

  #place(position: number, weight: number): void {
    this.#weights[position] = weight;
    if (weight >= 1) add(this.#weighted, position, weight);
    else add(this.#zero, position, 1);
  }

  #unplace(position: number): void {
    const weight = this.#weights[position];
    if (weight >= 1) add(this.#weighted, position, -weight);
    else add(this.#zero, position, -1);
    this.#weights[position] = 0;
  }

  /**
   * Draws up to `limit` records in RFC 2782 order (priority tiers in turn, weighted within each)
   * into `order` from index `into`; returns how many. `order` must hold `into + limit` numbers.
   */
  draw(order: Int32Array, limit: number, into = 0): number {
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
          order[into + drawn++] = record;
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
    const size = tree.length - 1;
    for (let step = this.#highBit; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= size && tree[next] <= remaining) {
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
