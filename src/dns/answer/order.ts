// RFC 2782's weighted order, drawn afresh for each query into scratch arrays owned by one Answerer.

/**
 * Draws the order of records `numbers[from, to)` (or the records numbered `from`…`to - 1` when
 * `numbers` is null) into `order[into, into + n)`. Sorting by -ln(U)/w (Efraimidis–Spirakis) is the
 * same distribution as RFC 2782's repeated "pick by running weight sum, remove, repeat", in
 * O(n log n): P(first = i) = w_i / Σw.
 */
import type { OrderSource } from '../zone/weight-tree.ts';

export class WeightedOrder {
  /** The drawn record numbers; valid up to what the last `draw` filled. */
  order = new Int32Array(64);
  #keys = new Float64Array(64);

  /** Draws the first `limit` records (at most) of `tree`'s set into `order` from 0; returns how many. */
  drawFirst(tree: OrderSource, limit: number): number {
    const n = Math.min(limit, tree.count);
    if (n > this.order.length) {
      this.order = new Int32Array(n * 2);
      this.#keys = new Float64Array(n * 2);
    }
    return tree.draw(this.order, n);
  }

  draw(weights: Float64Array, numbers: Int32Array | null, from: number, to: number, into: number): void {
    const n = to - from;
    if (into + n > this.order.length) {
      const grown = new Int32Array((into + n) * 2);
      grown.set(this.order);
      this.order = grown;
      this.#keys = new Float64Array((into + n) * 2);
    }
    const order = this.order;
    const keys = this.#keys;
    for (let i = 0; i < n; i++) {
      const record = numbers === null ? from + i : numbers[from + i];
      order[into + i] = record;
      keys[into + i] = -Math.log(1 - Math.random()) / weights[record];
    }
    if (n <= 32) {
      // Insertion sort: the common case is a handful of instances, where it beats any other sort.
      for (let i = into + 1; i < into + n; i++) {
        const key = keys[i];
        const record = order[i];
        let j = i - 1;
        while (j >= into && keys[j] > key) {
          keys[j + 1] = keys[j];
          order[j + 1] = order[j];
          j--;
        }
        keys[j + 1] = key;
        order[j + 1] = record;
      }
    } else {
      const keyOf = new Map<number, number>();
      for (let i = into; i < into + n; i++) keyOf.set(order[i], keys[i]);
      order.subarray(into, into + n).sort((a, b) => keyOf.get(a)! - keyOf.get(b)!);
    }
  }
}
