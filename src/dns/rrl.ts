// Response-rate limiting (RRL) for UDP answers, in the spirit of BIND's.
//
// A DNS server answering UDP is an amplifier for whoever can forge a victim's source address: a
// small query in, a larger answer out, to the victim. RRL counts, per client prefix (/24 for
// IPv4, /56 for IPv6, where one victim's addresses live) and per response identity, the answers
// sent, and drops identical ones beyond `perSecond` per second (in bursts of as many). Every
// `slip`-th dropped response goes out instead as a minimal truncated reply (TC=1, the question,
// no records): no amplification, and a real client behind that prefix retries over TCP, which a
// forged source cannot complete. TCP is never limited (listeners call this from UDP only).
//
// Response identity: NOERROR answers by their question (name, case-insensitive, type, class);
// NXDOMAIN and every error by their rcode alone, so a flood of random names counts as one
// (BIND groups NXDOMAIN by zone; Signpost is one zone). Counters live in an LRU bounded at
// ABUSE_LIMITS.rrlEntries: a forgotten pair starts again with a full bucket.
//
// Pure: no sockets, time passed in. Cheap on the hot path: one exemption lookup (memoised per
// address), one hash over the question, one LRU lookup.
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { ABUSE_LIMITS } from '../config/limits.ts';

export const ALLOW = 0;
export const DROP = 1;
export const SLIP = 2;
export type Verdict = typeof ALLOW | typeof DROP | typeof SLIP;

export interface RrlOptions {
  /** Identical responses per second to one prefix; 0 turns the limit off. */
  perSecond: number;
  /** Every Nth dropped response is sent truncated instead; 0: none are. */
  slip: number;
  /** Clients never limited. */
  exempt?: (address: string) => boolean;
  /** Buckets kept at most. */
  maxEntries?: number;
}

interface Bucket {
  tokens: number;
  /** ms of the last refill. */
  at: number;
  /** Responses dropped since the bucket last let one through (for the slip count). */
  dropped: number;
}

const HEADER_BYTES = 12;
const FLAG_TC_BYTE2 = 0x02;
/** Memoised exemption answers kept before the memo is cleared (addresses are few in practice). */
const EXEMPT_MEMO_MAX = 4096;

export class ResponseRateLimiter {
  readonly #perSecond: number;
  readonly #slip: number;
  readonly #exempt: (address: string) => boolean;
  readonly #exemptMemo = new Map<string, boolean>();
  // The last address asked about: a burst of queries from one client (a resolver, a load balancer)
  // is answered by one string comparison, where the memo would hash the fresh address string.
  #lastAddress = '';
  #lastExempt = false;
  readonly #buckets: LRUCache<string, Bucket>;
  /** Responses dropped and slipped since start, for logs and tests. */
  dropped = 0;
  slipped = 0;

  constructor({ perSecond, slip, exempt = () => false, maxEntries = ABUSE_LIMITS.rrlEntries }: RrlOptions) {
    this.#perSecond = perSecond;
    this.#slip = slip;
    this.#exempt = exempt;
    this.#buckets = new LRUCache({ max: maxEntries });
  }

  get enabled(): boolean {
    return this.#perSecond > 0;
  }

  /** Buckets held now (bounded by maxEntries). */
  get entries(): number {
    return this.#buckets.size;
  }

  /**
   * May `response[0, length)` go to `address` at time `now` (ms)? ALLOW, DROP, or SLIP (send
   * `slipped(response, length)` bytes instead). `now` defaults to the clock, read only for clients
   * that are not exempt (the exempt ones, loopback by default, are the busiest).
   */
  check(address: string, response: Buffer, length: number, now?: number): Verdict {
    if (this.#perSecond === 0 || this.#isExempt(address)) return ALLOW;
    now ??= performance.now();
    const key = prefixOf(address) + '#' + responseIdentity(response, length);
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#buckets.set(key, { tokens: this.#perSecond - 1, at: now, dropped: 0 });
      return ALLOW;
    }
    bucket.tokens = Math.min(this.#perSecond, bucket.tokens + ((now - bucket.at) * this.#perSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.dropped = 0;
      return ALLOW;
    }
    bucket.dropped++;
    if (this.#slip > 0 && bucket.dropped % this.#slip === 0) {
      this.slipped++;
      return SLIP;
    }
    this.dropped++;
    return DROP;
  }

  #isExempt(address: string): boolean {
    if (address === this.#lastAddress) return this.#lastExempt;
    let exempt = this.#exemptMemo.get(address);
    if (exempt === undefined) {
      if (this.#exemptMemo.size >= EXEMPT_MEMO_MAX) this.#exemptMemo.clear();
      exempt = this.#exempt(address);
      this.#exemptMemo.set(address, exempt);
    }
    this.#lastAddress = address;
    this.#lastExempt = exempt;
    return exempt;
  }
}

/** The client's prefix: /24 of an IPv4 address, /56 of an IPv6 one (as text; only used as a key). */
export function prefixOf(address: string): string {
  if (address.includes(':')) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+)\.\d+$/i.exec(address);
    if (mapped) return mapped[1];
    return ipv6Prefix56(address);
  }
  return address.slice(0, address.lastIndexOf('.'));
}

/** The first 56 bits of an IPv6 address as 14 hex digits. */
function ipv6Prefix56(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const [head, tail] = bare.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  // 56 bits: three full groups and the high byte of the fourth.
  return groups
    .slice(0, 4)
    .map((group, i) => {
      const padded = (group.includes('.') ? '0' : group).padStart(4, '0');
      return i === 3 ? padded.slice(0, 2) : padded;
    })
    .join('');
}

/**
 * A 32-bit FNV-1a hash naming what the response says: NOERROR by its question (name folded to
 * lower case, type, class); any other rcode by the rcode alone.
 */
export function responseIdentity(response: Buffer, length: number): number {
  const rcode = length > 3 ? response[3] & 0x0f : 0;
  let hash = (0x811c9dc5 ^ rcode) >>> 0;
  hash = Math.imul(hash, 0x01000193);
  if (rcode !== 0 || length <= HEADER_BYTES || ((response[4] << 8) | response[5]) === 0) return hash >>> 0;
  const end = questionEnd(response, length);
  for (let i = HEADER_BYTES; i < end; i++) {
    let byte = response[i];
    if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  return hash >>> 0;
}

/** End of the (single, uncompressed) question of a response, bounded by `length`. */
function questionEnd(response: Buffer, length: number): number {
  let offset = HEADER_BYTES;
  while (offset < length) {
    const label = response[offset];
    if (label === 0) return Math.min(length, offset + 5);
    if (label > 63) return offset;
    offset += label + 1;
  }
  return length;
}

/**
 * Rewrites `response[0, length)` in place into a minimal truncated reply: the header with TC set
 * and no records, and the question when there is one. Returns its length.
 */
export function slipped(response: Buffer, length: number): number {
  if (length < HEADER_BYTES) return length;
  const end = ((response[4] << 8) | response[5]) !== 0 ? questionEnd(response, length) : HEADER_BYTES;
  const withQuestion = end >= HEADER_BYTES + 5;
  response[2] |= FLAG_TC_BYTE2;
  response.fill(0, withQuestion ? 6 : 4, HEADER_BYTES);
  return withQuestion ? end : HEADER_BYTES;
}
