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
// (BIND groups NXDOMAIN by zone; Signpost is one zone). Buckets are bounded at
// ABUSE_LIMITS.rrlEntries: a forgotten pair starts again with a full bucket.
//
// Pure: no sockets, time passed in. Cheap on the hot path: one exemption lookup (memoised per
// address), one hash over the question, one bucket lookup.
import { isIPv4 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ABUSE_LIMITS } from '../config/limits.ts';
import { AddressSet } from '../lib/addresses.ts';
import { TokenBuckets } from '../lib/token-buckets.ts';
import { FLAG, HEADER_BYTES, rcodeOf, u16 } from './wire/constants.ts';
import { hashFolded, hashStep, HASH_SEED } from './wire/names.ts';

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

export class ResponseRateLimiter {
  readonly #perSecond: number;
  readonly #slip: number;
  readonly #exempt: AddressSet;
  readonly #buckets: TokenBuckets | null;
  /** Responses dropped and slipped since start, for logs and tests. */
  dropped = 0;
  slipped = 0;

  constructor({ perSecond, slip, exempt = () => false, maxEntries = ABUSE_LIMITS.rrlEntries }: RrlOptions) {
    this.#perSecond = perSecond;
    this.#slip = slip;
    this.#exempt = new AddressSet(exempt);
    this.#buckets = perSecond > 0 ? new TokenBuckets(perSecond, maxEntries) : null;
  }

  get enabled(): boolean {
    return this.#perSecond > 0;
  }

  /** Buckets held now (bounded by maxEntries). */
  get entries(): number {
    return this.#buckets?.size ?? 0;
  }

  /**
   * May `response[0, length)` go to `address` at time `now` (ms)? ALLOW, DROP, or SLIP (send
   * `slipped(response, length)` bytes instead). `now` defaults to the clock, read only for clients
   * that are not exempt (the exempt ones, loopback by default, are the busiest).
   */
  check(address: string, response: Buffer, length: number, now?: number): Verdict {
    if (this.#buckets === null || this.#exempt.has(address)) return ALLOW;
    const refused = this.#buckets.take(prefixOf(address) + '#' + responseIdentity(response, length), now ?? performance.now());
    if (refused === 0) return ALLOW;
    if (this.#slip > 0 && refused % this.#slip === 0) {
      this.slipped++;
      return SLIP;
    }
    this.dropped++;
    return DROP;
  }
}

/**
 * The client's prefix as a map key: the first ABUSE_LIMITS.rrlPrefixV4 bits of an IPv4 address
 * (IPv4-mapped IPv6 addresses count as IPv4), the first rrlPrefixV6 bits of an IPv6 one.
 */
export function prefixOf(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  const v4 = mapped ? mapped[1] : isIPv4(bare) ? bare : null;
  if (v4 !== null) {
    const value = v4.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
    const bits = ABUSE_LIMITS.rrlPrefixV4;
    return `${Math.floor(value / 2 ** (32 - bits))}/${bits}`;
  }
  const [head, tail] = bare.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  // An embedded IPv4 tail lies past any prefix up to /96: it never matters here.
  const hex = groups.map((group) => (group.includes('.') ? '0' : group).padStart(4, '0')).join('');
  const bits = ABUSE_LIMITS.rrlPrefixV6;
  const digits = hex.slice(0, Math.ceil(bits / 4));
  const spare = digits.length * 4 - bits;
  const last = (parseInt(digits.slice(-1), 16) >> spare) << spare;
  return `${digits.slice(0, -1)}${last.toString(16)}/${bits}`;
}

/**
 * A 32-bit FNV-1a hash naming what the response says: NOERROR by its question (name folded to
 * lower case, type, class); any other rcode by the rcode alone.
 */
export function responseIdentity(response: Buffer, length: number): number {
  const rcode = length > 3 ? rcodeOf(response) : 0;
  const hash = hashStep(HASH_SEED, rcode);
  if (rcode !== 0 || length <= HEADER_BYTES || u16(response, 4) === 0) return hash >>> 0;
  return hashFolded(response, HEADER_BYTES, questionEnd(response, length), hash);
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
  const end = u16(response, 4) !== 0 ? questionEnd(response, length) : HEADER_BYTES;
  const withQuestion = end >= HEADER_BYTES + 5;
  response[2] |= FLAG.TC >> 8;
  response.fill(0, withQuestion ? 6 : 4, HEADER_BYTES);
  return withQuestion ? end : HEADER_BYTES;
}
