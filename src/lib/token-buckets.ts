// A token bucket per key, for rate limits counted per client (or per client and answer).
import { LRUCache } from 'lru-cache';

interface Bucket {
  tokens: number;
  /** ms of the last refill. */
  at: number;
  /** Takes refused since the last one granted. */
  refused: number;
}

/**
 * Each key may take `perSecond` tokens a second, in bursts of as many. Buckets are kept for at most
 * `maxKeys` keys, the least recently used forgotten first; a forgotten key starts again with a full
 * bucket, which only ever errs toward letting through. Time is passed in, so callers and tests
 * decide the clock.
 */
export class TokenBuckets {
  readonly #perSecond: number;
  readonly #buckets: LRUCache<string, Bucket>;

  constructor(perSecond: number, maxKeys: number) {
    if (!(perSecond > 0)) throw new Error('a token bucket needs a positive rate');
    this.#perSecond = perSecond;
    this.#buckets = new LRUCache({ max: maxKeys });
  }

  /** Buckets held now (at most maxKeys). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token from `key`'s bucket at `now` (ms): 0 when granted, otherwise how many takes in a row were refused (1, 2, …). */
  take(key: string, now: number): number {
    const perSecond = this.#perSecond;
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#buckets.set(key, { tokens: perSecond - 1, at: now, refused: 0 });
      return 0;
    }
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refused = 0;
      return 0;
    }
    return ++bucket.refused;
  }
}
