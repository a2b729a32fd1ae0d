// Prepared answers: the response bodies of questions already answered once, every weighted order
// of them, flattened into one buffer and found by a hash of the question.
//
// Why a hand-made table and not objects and Maps: on a loaded server the kernel's packet work
// between two queries evicts the answer path's data from the CPU caches, and every object a query
// follows (service slot, record set, order table, body view, even a typed array's header) is then
// a cache miss. Measured with a profiler under dnsperf, finding the service and its answer cost
// ~1 µs a query in the server against ~0.35 µs in a tight loop. Here a query follows one object
// (this one's buffer) to an index slot and one contiguous entry: a few adjacent cache lines.
//
// What is kept: only answers that depend on nothing but the question's name and type, drawn from
// pre-assembled orders (preassembled.ts), and only when every order fits a 512-byte UDP response with an
// OPT record, so one entry serves every transport and EDNS size. The general path in answer/
// builds the answer the first time (`learn`); later queries for the same name and type are
// answered here (`find`, `write`) until the service changes (`forget`), which answer/ and zone.ts
// arrange. Entries are appended; when the buffer is full it starts again empty (and larger, while
// most of it was live) and answers are learnt again as they are asked for.
import { Buffer } from 'node:buffer';
import { DNS_LIMITS } from '../../config/limits.ts';
import { HEADER_BYTES, OPT_RECORD_BYTES, u32 } from '../wire/constants.ts';
import { equalsFolded, foldCase } from '../wire/names.ts';
import type { Preassembled } from './records.ts';

/** Buffer bytes at first, and the most it grows to: past that it is a cache of the names asked most. */
const INITIAL_BYTES = 256 * 1024;
const MAX_BYTES = 64 * 1024 * 1024;

// The buffer holds the index, then the entries. Index: open addressing, SLOTS slots of 8 bytes:
// the question's hash (u32), then its entry's offset + 1 (u32; 0: an empty slot). An entry takes at
// least ~48 bytes, so SLOTS = bytes / 24 (a power of two) keeps the index at most about half full;
// past half full the buffer counts as full.
const SLOT_BYTES = 8;
const BYTES_PER_SLOT = 24;

// Entry layout, from offset e:
//   e+0 live (1) or forgotten (0)    e+1 name length L    e+2 qtype (u16)
//   e+4 orders K    e+5 answer records    e+6 additional records    e+7 unused
//   e+8 body length B (u16, the same for every order)
//   e+10 the question name as lower-case wire bytes (L)
//   then K cumulative probabilities as u32 fractions of 2^32, then K bodies of B bytes.
const AT_LIVE = 0;
const AT_NAME_LENGTH = 1;
const AT_QTYPE = 2;
const AT_ORDERS = 4;
const AT_ANSWERS = 5;
const AT_ADDITIONALS = 6;
const AT_BODY_LENGTH = 8;
const AT_NAME = 10;
const TWO_POW_32 = 0x1_0000_0000;

function slotsFor(size: number): number {
  let slots = 1;
  while (slots * 2 <= size / BYTES_PER_SLOT) slots *= 2;
  return slots;
}

export class PreparedAnswers {
  #bytes: Buffer;
  #slots: number;
  /** Where the next entry goes. */
  #used: number;
  /** Bytes of entries not forgotten: decides whether a full buffer grows. */
  #liveBytes = 0;
  /** Index slots in use. */
  #entries = 0;
  /** Entry offsets by the service they answer for, so a change forgets exactly those. */
  readonly #byService = new Map<string, number[]>();
  /** Times the buffer filled and started again. */
  restarts = 0;

  constructor(size = INITIAL_BYTES) {
    this.#slots = slotsFor(size);
    this.#bytes = Buffer.alloc(size);
    this.#used = this.#slots * SLOT_BYTES;
  }

  /**
   * The live entry for the question name `query[HEADER_BYTES, nameEnd)` (plain labels, compared
   * without regard to ASCII case) and `qtype`, whose `hash` the caller folded with `hashStep`
   * over the name's lower-cased bytes and then the type; -1 when there is none.
   */
  find(query: Buffer, nameEnd: number, qtype: number, hash: number): number {
    const bytes = this.#bytes;
    const mask = this.#slots - 1;
    const wanted = hash >>> 0;
    const nameLength = nameEnd - HEADER_BYTES;
    for (let slot = wanted & mask; ; slot = (slot + 1) & mask) {
      const at = slot * SLOT_BYTES;
      const stored = u32(bytes, at + 4);
      if (stored === 0) return -1;
      if (u32(bytes, at) !== wanted) continue;
      const entry = stored - 1;
      if (bytes[entry + AT_NAME_LENGTH] !== nameLength || ((bytes[entry + AT_QTYPE] << 8) | bytes[entry + AT_QTYPE + 1]) !== qtype) continue;
      if (equalsFolded(query, HEADER_BYTES, bytes, entry + AT_NAME, nameLength)) return bytes[entry + AT_LIVE] === 1 ? entry : -1;
    }
  }

  /** Copies one order of `entry`, drawn by its probability, to `out` at `at`; returns the end. */
  write(entry: number, out: Buffer, at: number): number {
    const bytes = this.#bytes;
    const orders = bytes[entry + AT_ORDERS];
    const bodyLength = (bytes[entry + AT_BODY_LENGTH] << 8) | bytes[entry + AT_BODY_LENGTH + 1];
    const cumulative = entry + AT_NAME + bytes[entry + AT_NAME_LENGTH];
    const draw = Math.floor(Math.random() * TWO_POW_32);
    let k = 0;
    while (k < orders - 1 && u32(bytes, cumulative + k * 4) <= draw) k++;
    const body = cumulative + orders * 4 + k * bodyLength;
    bytes.copy(out, at, body, body + bodyLength);
    return at + bodyLength;
  }

  answers(entry: number): number {
    return this.#bytes[entry + AT_ANSWERS];
  }

  additionals(entry: number): number {
    return this.#bytes[entry + AT_ADDITIONALS];
  }

  /**
   * Keeps the answer `orders` gave to the question in `query` (name up to `questionEnd - 4`, its
   * type `qtype`, its hash `hash`), whose body starts at `questionEnd` in the response, as an
   * answer of `service`. Does nothing when some order would not fit a 512-byte response with OPT.
   */
  learn(query: Buffer, questionEnd: number, qtype: number, hash: number, service: string, orders: Preassembled): void {
    const count = orders.cumulative.length;
    const bodyLength = orders.bodyStart[1];
    if (questionEnd + bodyLength + OPT_RECORD_BYTES > DNS_LIMITS.classicUdpBytes || count > 0xff) return;
    for (let k = 1; k <= count; k++) if (orders.bodyStart[k] - orders.bodyStart[k - 1] !== bodyLength) return;
    const nameLength = questionEnd - 4 - HEADER_BYTES;
    const size = AT_NAME + nameLength + count * 4 + count * bodyLength;
    if (this.#used + size > this.#bytes.length || (this.#entries + 1) * 2 > this.#slots) this.#restart(size);
    if (this.#used + size > this.#bytes.length) return;

    const entry = this.#used;
    const bytes = this.#bytes;
    bytes[entry + AT_LIVE] = 1;
    bytes[entry + AT_NAME_LENGTH] = nameLength;
    bytes.writeUInt16BE(qtype, entry + AT_QTYPE);
    bytes[entry + AT_ORDERS] = count;
    bytes[entry + AT_ANSWERS] = orders.answers;
    bytes[entry + AT_ADDITIONALS] = orders.glue;
    bytes.writeUInt16BE(bodyLength, entry + AT_BODY_LENGTH);
    for (let i = 0; i < nameLength; i++) bytes[entry + AT_NAME + i] = foldCase(query[HEADER_BYTES + i]);
    const cumulative = entry + AT_NAME + nameLength;
    for (let k = 0; k < count; k++) {
      const fraction = k === count - 1 ? TWO_POW_32 - 1 : Math.min(TWO_POW_32 - 1, Math.floor(orders.cumulative[k] * TWO_POW_32));
      bytes.writeUInt32BE(fraction, cumulative + k * 4);
    }
    // The bodies as this response places them: glue owners become pointers to their SRV targets.
    const bodies = cumulative + count * 4;
    orders.bodies.copy(bytes, bodies);
    const pointers = orders.pointers;
    for (let k = 0; k < count; k++) {
      const body = bodies + k * bodyLength;
      for (let i = k * orders.glue * 2, last = i + orders.glue * 2; i < last; i += 2) {
        const target = questionEnd + pointers[i + 1];
        bytes[body + pointers[i]] = 0xc0 | (target >> 8);
        bytes[body + pointers[i] + 1] = target & 0xff;
      }
    }
    this.#used += size;
    this.#liveBytes += size;
    this.#insert(hash >>> 0, entry);
    let list = this.#byService.get(service);
    if (!list) this.#byService.set(service, (list = []));
    list.push(entry);
  }

  /** Drops every answer of `service`: its records changed. */
  forget(service: string): void {
    const list = this.#byService.get(service);
    if (!list) return;
    for (const entry of list) this.#drop(entry);
    this.#byService.delete(service);
  }

  #drop(entry: number): void {
    const bytes = this.#bytes;
    if (bytes[entry + AT_LIVE] === 0) return;
    bytes[entry + AT_LIVE] = 0;
    const count = bytes[entry + AT_ORDERS];
    const bodyLength = (bytes[entry + AT_BODY_LENGTH] << 8) | bytes[entry + AT_BODY_LENGTH + 1];
    this.#liveBytes -= AT_NAME + bytes[entry + AT_NAME_LENGTH] + count * 4 + count * bodyLength;
  }

  /** Points the question's slot at `entry`: the slot it had (an entry since forgotten), or an empty one. */
  #insert(hash: number, entry: number): void {
    const bytes = this.#bytes;
    const mask = this.#slots - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = slot * SLOT_BYTES;
      const stored = u32(bytes, at + 4);
      if (stored === 0 || (u32(bytes, at) === hash && this.#sameQuestion(stored - 1, entry))) {
        if (stored === 0) this.#entries++;
        else this.#drop(stored - 1);
        bytes.writeUInt32BE(hash, at);
        bytes.writeUInt32BE(entry + 1, at + 4);
        return;
      }
    }
  }

  #sameQuestion(a: number, b: number): boolean {
    const bytes = this.#bytes;
    const length = bytes[a + AT_NAME_LENGTH];
    if (length !== bytes[b + AT_NAME_LENGTH] || bytes[a + AT_QTYPE] !== bytes[b + AT_QTYPE] || bytes[a + AT_QTYPE + 1] !== bytes[b + AT_QTYPE + 1]) return false;
    for (let i = 0; i < length; i++) if (bytes[a + AT_NAME + i] !== bytes[b + AT_NAME + i]) return false;
    return true;
  }

  /**
   * Starts again with an empty index and no entries: twice as large when more than half of the
   * entries were live (up to MAX_BYTES), and always large enough for an entry of `needed` bytes.
   */
  #restart(needed: number): void {
    let size = this.#bytes.length;
    if (this.#liveBytes * 2 > size - this.#slots * SLOT_BYTES) size *= 2;
    while (size - slotsFor(size) * SLOT_BYTES < needed) size *= 2;
    size = Math.min(size, MAX_BYTES);
    this.restarts++;
    this.#slots = slotsFor(size);
    this.#bytes = Buffer.alloc(size);
    this.#used = this.#slots * SLOT_BYTES;
    this.#entries = 0;
    this.#liveBytes = 0;
    this.#byService.clear();
  }
}
