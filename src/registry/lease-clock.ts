// Every lease deadline of the registry on one timer.
//
// One `setTimeout` per instance cost a Timeout object and a closure each (about 200 bytes, a fifth
// of an instance's memory at a million instances), and when many leases lapsed together Node ran
// every due timer in one go, answering no DNS query until the last of them was done. Here the
// deadlines are kept in slots of SLOT_MS (a Set of keys per slot, a heap of slot numbers), one
// timer is armed for the earliest deadline exactly (never early: a lease lapses at its deadline,
// not at the slot's end), and lapses are handed out at most SLICE at a time, with a turn of the
// event loop between slices, so that queries keep being answered through an expiry storm.

/** Width of a slot: deadlines in one slot share a Set; small enough that a slot's scan is short. */
const SLOT_MS = 10;
/**
 * Lapses handed out before the event loop gets a turn (sockets read, queries answered): at ~5 µs a
 * lapse, a slice holds queries ~1-2 ms (1,000 a slice held them up to 20-40 ms in a storm of 100,000).
 */
const SLICE = 250;

export class LeaseClock<K> {
  readonly #onLapse: (key: K) => void;
  readonly #due = new Map<K, number>();
  readonly #slots = new Map<number, Set<K>>();
  /** Slot numbers that may hold keys, a binary min-heap; a slot emptied meanwhile is skipped when met. */
  readonly #heap: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedAt = Infinity;
  #sliceQueued = false;

  constructor(onLapse: (key: K) => void) {
    this.#onLapse = onLapse;
  }

  has(key: K): boolean {
    return this.#due.has(key);
  }

  /** When `key`'s lease lapses (epoch ms); undefined when it has none running. */
  dueAt(key: K): number | undefined {
    return this.#due.get(key);
  }

  /** Sets `key`'s lease to lapse at `deadline` (epoch ms), replacing the one it had. */
  set(key: K, deadline: number): void {
    const previous = this.#due.get(key);
    this.#due.set(key, deadline);
    const slot = Math.floor(deadline / SLOT_MS);
    if (previous === undefined || Math.floor(previous / SLOT_MS) !== slot) {
      if (previous !== undefined) this.#leaveSlot(key, Math.floor(previous / SLOT_MS));
      let keys = this.#slots.get(slot);
      if (!keys) {
        this.#slots.set(slot, (keys = new Set()));
        heapPush(this.#heap, slot);
      }
      keys.add(key);
    }
    if (deadline < this.#armedAt) this.#armAt(deadline);
  }

  delete(key: K): void {
    const due = this.#due.get(key);
    if (due === undefined) return;
    this.#due.delete(key);
    this.#leaveSlot(key, Math.floor(due / SLOT_MS));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#due.clear();
    this.#slots.clear();
    this.#heap.length = 0;
  }

  #leaveSlot(key: K, slot: number): void {
    const keys = this.#slots.get(slot);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.#slots.delete(slot);
  }

  #armAt(at: number): void {
    clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  /** Hands out the lapses due now, SLICE at a time; then arms the timer for the next deadline. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#sliceQueued = false;
    const now = Date.now();
    let handed = 0;
    while (this.#heap.length > 0) {
      const slot = this.#heap[0];
      const keys = this.#slots.get(slot);
      if (!keys) {
        heapPop(this.#heap);
        continue;
      }
      if (slot * SLOT_MS > now) break;
      for (const key of keys) {
        if (this.#due.get(key)! > now) continue;
        if (handed === SLICE) {
          // More are due: let the event loop read its sockets first, then carry on.
          this.#sliceQueued = true;
          // Not unref'd: an unref'd immediate waits for the next I/O or timer, however far off.
          setImmediate(() => this.#fire());
          return;
        }
        keys.delete(key);
        this.#due.delete(key);
        handed++;
        this.#onLapse(key);
      }
      if (keys.size > 0) break;
      this.#slots.delete(slot);
      heapPop(this.#heap);
    }
    this.#armNext();
  }

  /** Arms the timer for the earliest deadline left (the least of the first non-empty slot). */
  #armNext(): void {
    if (this.#sliceQueued) return;
    while (this.#heap.length > 0 && !this.#slots.has(this.#heap[0])) heapPop(this.#heap);
    if (this.#heap.length === 0) return;
    let earliest = Infinity;
    for (const key of this.#slots.get(this.#heap[0])!) earliest = Math.min(earliest, this.#due.get(key)!);
    this.#armAt(earliest);
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= value) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1] < heap[left] ? left + 1 : left;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
}
