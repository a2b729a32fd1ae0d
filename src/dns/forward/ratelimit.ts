// A token bucket per client address for questions that go upstream.
import { LRUCache } from 'lru-cache';
import { FORWARD_LIMITS } from '../../config/limits.ts';

interface Bucket {
  tokens: number;
  /** `performance.now()` ms of the last refill. */
  at: number;
}

/**
 * Each client may send `perSecond` questions upstream per second, in bursts of as many. Buckets
 * are kept for a bounded number of clients; a forgotten client starts again with a full bucket,
 * which only ever errs toward answering.
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #buckets = new LRUCache<string, Bucket>({ max: FORWARD_LIMITS.rateLimitClients });

  /** `perSecond` 0 lets every question through. */
  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** Takes one token from `client`'s bucket; false when it is empty. */
  take(client: string, now: number): boolean {
    if (this.#perSecond === 0) return true;
    const bucket = this.#buckets.get(client);
    if (!bucket) {
      this.#buckets.set(client, { tokens: this.#perSecond - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.#perSecond, bucket.tokens + ((now - bucket.at) * this.#perSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
