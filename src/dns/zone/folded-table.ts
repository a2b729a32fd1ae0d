// A hash table keyed by DNS names as bytes, looked up straight from a query's bytes.
//
// Hand-written rather than a Map: a Map needs a string key, and making one from the question for
// every lookup (names that are not in the table included: most reverse names are forwarded) is an
// allocation per query. Here a lookup hashes the bytes in place and compares them without regard
// to ASCII case; only changes, which are rare next to queries, make keys.
import { equalsFolded, hashFolded } from '../wire/names.ts';

interface Node<V> {
  /** The key's bytes, lower case. */
  key: Buffer;
  hash: number;
  value: V;
  next: Node<V> | undefined;
}

const INITIAL_BUCKETS = 64;

export class FoldedTable<V> {
  #buckets: Array<Node<V> | undefined> = new Array<Node<V> | undefined>(INITIAL_BUCKETS).fill(undefined);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The value under the name in `buf[start, end)`, any letter case. */
  find(buf: Uint8Array, start: number, end: number): V | undefined {
    const hash = hashFolded(buf, start, end);
    const length = end - start;
    for (let node = this.#buckets[hash & (this.#buckets.length - 1)]; node; node = node.next) {
      if (node.hash === hash && node.key.length === length && equalsFolded(buf, start, node.key)) return node.value;
    }
    return undefined;
  }

  /** The value under `key` (lower case). */
  get(key: Buffer): V | undefined {
    return this.find(key, 0, key.length);
  }

  /** Sets the value under `key` (lower case bytes: a key is compared as it is). */
  set(key: Buffer, value: V): void {
    const hash = hashFolded(key, 0, key.length);
    for (let node = this.#buckets[hash & (this.#buckets.length - 1)]; node; node = node.next) {
      if (node.hash === hash && node.key.equals(key)) {
        node.value = value;
        return;
      }
    }
    this.#size++;
    if (this.#size > this.#buckets.length) this.#rehash(this.#buckets.length * 2);
    const bucket = hash & (this.#buckets.length - 1);
    this.#buckets[bucket] = { key, hash, value, next: this.#buckets[bucket] };
  }

  delete(key: Buffer): void {
    const hash = hashFolded(key, 0, key.length);
    const bucket = hash & (this.#buckets.length - 1);
    let previous: Node<V> | undefined;
    for (let node = this.#buckets[bucket]; node; previous = node, node = node.next) {
      if (node.hash !== hash || !node.key.equals(key)) continue;
      if (previous) previous.next = node.next;
      else this.#buckets[bucket] = node.next;
      this.#size--;
      return;
    }
  }

  #rehash(size: number): void {
    const buckets = new Array<Node<V> | undefined>(size).fill(undefined);
    for (const head of this.#buckets) {
      for (let node = head; node; ) {
        const next = node.next;
        const bucket = node.hash & (size - 1);
        node.next = buckets[bucket];
        buckets[bucket] = node;
        node = next;
      }
    }
    this.#buckets = buckets;
  }
}
