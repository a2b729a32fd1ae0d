// Items due at a time (epoch ms), earliest first: a binary min-heap in two parallel arrays.

/**
 * The zone's built services by the time their records may go stale on their own (a lease deadline).
 * An item pushed again with a new time is not removed from its old place: the caller checks, when
 * it pops one, whether that time still holds (lazy deletion keeps push and pop O(log n)).
 */
export class Deadlines<T> {
  readonly #at: number[] = [];
  readonly #items: T[] = [];

  /** The earliest time held; Infinity when empty. */
  get next(): number {
    return this.#at.length > 0 ? this.#at[0] : Infinity;
  }

  push(at: number, item: T): void {
    const times = this.#at;
    const items = this.#items;
    let i = times.push(at) - 1;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= at) break;
      times[i] = times[parent];
      items[i] = items[parent];
      i = parent;
    }
    times[i] = at;
    items[i] = item;
  }

  /** Removes and returns the earliest item (call only when `next` is finite). */
  pop(): T {
    const times = this.#at;
    const items = this.#items;
    const top = items[0];
    const lastAt = times.pop()!;
    const last = items.pop()!;
    if (times.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= times.length) break;
      const child = left + 1 < times.length && times[left + 1] < times[left] ? left + 1 : left;
      if (times[child] >= lastAt) break;
      times[i] = times[child];
      items[i] = items[child];
      i = child;
    }
    times[i] = lastAt;
    items[i] = last;
    return top;
  }

  clear(): void {
    this.#at.length = 0;
    this.#items.length = 0;
  }
}
