// Upstream answers, kept as bytes and replayed to each client.
//
// An entry is the record bytes of an upstream reply (message.ts) with the offsets of its TTL
// fields, so a hit is a few copies: the client's header and question (its ID, and its letter case
// for 0x20 randomisation), the records, then each TTL lowered by the seconds the entry has been
// held, as a real cache does, then our OPT when the client sent one. Nothing is parsed per hit.
import { LRUCache } from 'lru-cache';
import { DNS_LIMITS, FORWARD_LIMITS } from '../../config/limits.ts';
import { FLAG, OPT_RECORD_BYTES, RCODE } from '../wire/constants.ts';
import { writeOpt } from '../wire/encode.ts';
import type { Question } from '../wire/question.ts';
import type { UpstreamReply } from './message.ts';

/** One upstream answer as the cache keeps it. Times are `performance.now()` milliseconds. */
export interface CachedAnswer {
  rcode: number;
  records: Buffer;
  answers: number;
  authorities: number;
  additionals: number;
  ttlOffsets: Uint16Array;
  /** The TTLs as stored: the upstream's, lowered to the cache's maximum. */
  ttls: Uint32Array;
  storedAt: number;
  /** When it stops being served; equal to storedAt for an answer that must not be cached. */
  expiresAt: number;
}

/**
 * How long an answer may be kept, and the TTLs it is kept with: every TTL is lowered to `maxTtl`;
 * a positive answer lives as long as its shortest TTL, a negative one (NXDOMAIN, or no answer
 * records) as long as its SOA allows (RFC 2308 §5) and not at all without an SOA. Because the
 * lifetime is never longer than any stored TTL, lowering TTLs by the time held never goes below zero.
 */
export function toCachedAnswer(reply: UpstreamReply, now: number, maxTtl: number): CachedAnswer {
  const ttls = Uint32Array.from(reply.ttls, (ttl) => Math.min(ttl, maxTtl));
  const negative = reply.rcode === RCODE.NXDOMAIN || reply.answers === 0;
  let lifetime = negative ? Math.min(reply.negativeTtl ?? 0, maxTtl) : maxTtl;
  for (const ttl of ttls) lifetime = Math.min(lifetime, ttl);
  return {
    rcode: reply.rcode,
    // A copy sized to the records, so the cache does not pin the whole receive buffer.
    records: Buffer.from(reply.records),
    answers: reply.answers,
    authorities: reply.authorities,
    additionals: reply.additionals,
    ttlOffsets: Uint16Array.from(reply.ttlOffsets),
    ttls,
    storedAt: now,
    expiresAt: now + lifetime * 1000,
  };
}

/** The most bytes a reply built from `answer` can take: pass a buffer this long to writeCachedReply. */
export function cachedReplyBytes(question: Readonly<Question>, answer: CachedAnswer): number {
  return question.questionEnd + answer.records.length + OPT_RECORD_BYTES;
}

/**
 * Writes the reply to the client's `query` from `answer` into `out` and returns its length. When
 * it does not fit the client's limit, the reply is the header with TC, the question and OPT, and
 * no records: no partial RRsets, and the client retries over TCP (RFC 7766 §6.2).
 */
export function writeCachedReply(query: Buffer, question: Readonly<Question>, answer: CachedAnswer, now: number, out: Buffer): number {
  const start = question.questionEnd;
  const optBytes = question.edns ? OPT_RECORD_BYTES : 0;
  if (start + answer.records.length + optBytes > question.maxBytes) {
    return writeHeaderAndQuestion(query, question, answer.rcode, FLAG.TC, out);
  }
  query.copy(out, 0, 0, start);
  answer.records.copy(out, start);
  const held = Math.floor((now - answer.storedAt) / 1000);
  const { ttlOffsets, ttls } = answer;
  // Never below zero: a reply that was not cacheable (TTL 0) may be written a moment after it came.
  for (let i = 0; i < ttlOffsets.length; i++) out.writeUInt32BE(Math.max(ttls[i] - held, 0), start + ttlOffsets[i]);
  let end = start + answer.records.length;
  if (question.edns) end = writeOpt(out, end, DNS_LIMITS.maxEdnsUdpBytes, 0, question.dnssecOk);
  writeHeader(query, answer.rcode, 0, out);
  out.writeUInt16BE(answer.answers, 6);
  out.writeUInt16BE(answer.authorities, 8);
  out.writeUInt16BE(answer.additionals + (question.edns ? 1 : 0), 10);
  return end;
}

/** A reply with only an rcode (SERVFAIL, REFUSED): the header, the question and OPT, as a new buffer. */
export function rcodeReply(query: Buffer, question: Readonly<Question>, rcode: number): Buffer {
  const out = Buffer.allocUnsafe(question.questionEnd + OPT_RECORD_BYTES);
  return out.subarray(0, writeHeaderAndQuestion(query, question, rcode, 0, out));
}

function writeHeaderAndQuestion(query: Buffer, question: Readonly<Question>, rcode: number, flags: number, out: Buffer): number {
  query.copy(out, 0, 0, question.questionEnd);
  writeHeader(query, rcode, flags, out);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(question.edns ? 1 : 0, 10);
  return question.edns ? writeOpt(out, question.questionEnd, DNS_LIMITS.maxEdnsUdpBytes, rcode, question.dnssecOk) : question.questionEnd;
}

/**
 * The header flags of a forwarded reply: QR, RA, the client's RD and CD, the rcode. Not AA: the
 * data is the upstream's. Not AD: Signpost validates nothing, and did not ask for DNSSEC.
 */
function writeHeader(query: Buffer, rcode: number, flags: number, out: Buffer): void {
  out.writeUInt16BE(FLAG.QR | FLAG.RA | (query.readUInt16BE(2) & (FLAG.RD | FLAG.CD)) | flags | (rcode & 0x0f), 2);
  out.writeUInt16BE(1, 4);
}

/**
 * Answers by question, bounded in entries and in bytes. Expiry is checked on read against the
 * entry's own lifetime, so no timers run; an expired entry is dropped when next asked for, or
 * evicted as least recently used.
 */
export class AnswerCache {
  readonly #entries: LRUCache<string, CachedAnswer>;

  constructor(maxEntries: number) {
    this.#entries = new LRUCache<string, CachedAnswer>({
      max: maxEntries,
      maxSize: FORWARD_LIMITS.cacheBytes,
      // The records, the two offset tables, the key and a rough object overhead.
      sizeCalculation: (answer, key) => answer.records.length + answer.ttls.length * 6 + key.length + 128,
    });
  }

  /** The answer to the question `key`, if one is held and still fresh at `now`. */
  get(key: string, now: number): CachedAnswer | undefined {
    const answer = this.#entries.get(key);
    if (answer === undefined || now < answer.expiresAt) return answer;
    this.#entries.delete(key);
    return undefined;
  }

  /** Keeps `answer` if it may be cached at all. */
  set(key: string, answer: CachedAnswer): void {
    if (answer.expiresAt > answer.storedAt) this.#entries.set(key, answer);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
