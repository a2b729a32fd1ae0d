// The DNS answer logic: one query's bytes in, one response's bytes out. No sockets, no I/O.
//
// A query from the network is hostile until checked, so it is never handed to a general DNS
// parser: the header and the single question are read here in one bounded pass, compression
// pointers in the question are refused (a query has no earlier name to point at), and the
// additional section is read only far enough to find an OPT record. The response is assembled by
// copying pre-built record fragments (records.ts) in a freshly drawn weighted order.
//
// Names outside the zone are not answered here, except the reverse names (PTR) of registered
// instances. With forwarding on, a cached upstream answer is written synchronously through
// `Recursion.fromCache`; anything else returns FORWARD, and the listener hands the query to the
// asynchronous forwarder (forward/forwarder.ts). Zone answers never leave this synchronous path.
import type { InstanceRecords, RecordSet } from './records.ts';
import { AT_ADDRESS, AT_GLUE, AT_SRV, AT_TARGET, LAYOUT_STRIDE, SRV_TARGET_OFFSET } from './records.ts';
import { MAX_PREASSEMBLED_RECORDS, preassembleAddresses, preassembleSrv, type Preassembled } from './orders.ts';
import { HASH_SEED, hashStep } from './prepared.ts';
import type { Zone } from './zone.ts';
import { HEADER_BYTES, MAX_POINTER_OFFSET, OPT_RECORD_BYTES, RCODE, TYPE, CLASS_IN, nameKey, writeOpt } from './wire.ts';
import { DNS_LIMITS } from '../config/limits.ts';

export type Transport = 'udp' | 'tcp';

/** Buffer size that fits any response: pass one of these as `out`. */
export const RESPONSE_BUFFER_BYTES = DNS_LIMITS.maxTcpMessageBytes;

/** answerQuery's result for a question only the forwarder can answer; see `forwardedQuestion`. */
export const FORWARD = -1;

/** What answerQuery learnt about a question it could not answer itself. */
export interface ForwardQuestion {
  /** End of the question name (after its zero byte): the name is plain labels, at most 255 bytes. */
  nameEnd: number;
  /** End of the question section: QTYPE and QCLASS (always IN) end here. */
  questionEnd: number;
  qtype: number;
  /** The client sent an OPT record, so the reply carries one. */
  edns: boolean;
  /** The most bytes a reply may hold over the client's transport and EDNS size, OPT included. */
  maxBytes: number;
}

/** The forwarder's synchronous part, as answerQuery sees it. */
export interface Recursion {
  /** Writes a fresh cached answer to `question` into `out` and returns its length; 0 when there is none. */
  fromCache(query: Buffer, question: Readonly<ForwardQuestion>, out: Buffer): number;
}

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_CD = 0x0010;
const MAX_NAME_WIRE_BYTES = 255;
/** Offset of the name server name inside the NS answer fragment: pointer, type, class, TTL, rdlength. */
const NS_TARGET_OFFSET = 2 + 2 + 2 + 4 + 2;

const LABEL_SERVICE = Buffer.from('service');
const LABEL_INSTANCE = Buffer.from('instance');
const LABEL_NS = Buffer.from('ns');
const LABEL_TCP = Buffer.from('_tcp');
const LABEL_UDP = Buffer.from('_udp');
const LABEL_ARPA = Buffer.from('arpa');
const LABEL_IN_ADDR = Buffer.from('in-addr');
const LABEL_IP6 = Buffer.from('ip6');
const UNDERSCORE = 0x5f;

// Per-call scratch state. Answering is synchronous, so one set serves every query.
const labelOffsets = new Int32Array(128);
let order = new Int32Array(64);
let drawKeys = new Float64Array(64);

/**
 * Everything the writer needs about the query being answered. It holds no reference to the query's
 * buffer: this object lives long (old generation) and the buffer is new each time, so storing it
 * would cost a write barrier and a remembered-set entry per query. The query is passed as `query`.
 */
interface Query {
  /** The query's flags (header bytes 2-3), for RD and CD in the response. */
  queryFlags: number;
  out: Buffer;
  /** End of the question section: where the answer section starts. */
  questionEnd: number;
  /** Offset of the zone apex inside the question name (a pointer target for the SOA owner). */
  apexOffset: number;
  qtype: number;
  /** The question's hash (name and type), for zone.prepared. */
  hash: number;
  edns: boolean;
  /** The most the response may hold (transport and EDNS). */
  maxBytes: number;
  /** maxBytes less room for our OPT record. */
  limit: number;
  pos: number;
  answers: number;
  authorities: number;
  additionals: number;
  truncated: boolean;
  /** RA in every response: forwarding is on. */
  recursionAvailable: boolean;
}

const q: Query = {
  queryFlags: 0,
  out: Buffer.alloc(0),
  questionEnd: 0,
  apexOffset: 0,
  qtype: 0,
  hash: 0,
  edns: false,
  maxBytes: 0,
  limit: 0,
  pos: 0,
  answers: 0,
  authorities: 0,
  additionals: 0,
  truncated: false,
  recursionAvailable: false,
};

/** Valid after answerQuery returned FORWARD, until its next call: copy it to keep it. */
export const forwardedQuestion: Readonly<ForwardQuestion> = { nameEnd: 0, questionEnd: 0, qtype: 0, edns: false, maxBytes: 0 };
const forwarded = forwardedQuestion as ForwardQuestion;

/**
 * Answers one DNS query. Writes the response into `out` (at least RESPONSE_BUFFER_BYTES long)
 * and returns its length, or 0 when the packet must be dropped without a reply, or FORWARD.
 * Without `recursion`, names outside the zone are REFUSED and FORWARD is never returned.
 */
export function answerQuery(query: Buffer, zone: Zone, transport: Transport, out: Buffer, recursion: Recursion | null = null): number {
  const length = query.length;
  const recursionAvailable = recursion !== null;
  // Too short to be a query, or a response (QR=1): answering those is how reflection attacks work.
  if (length < HEADER_BYTES || query[2] & 0x80) return 0;
  const opcode = (query[2] >> 3) & 0x0f;
  if (opcode !== 0) return headerOnly(query, out, RCODE.NOTIMP, recursionAvailable);
  if (u16(query, 4) !== 1 || u16(query, 6) !== 0 || u16(query, 8) !== 0 || u16(query, 10) > 1) {
    return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
  }

  // The question name: plain labels only, bounded by the packet and by 255 bytes.
  // The name's lower-cased bytes are hashed on the way, for the prepared answers; where each
  // label starts is noted only when they have no answer (fewer cache lines on the common path).
  let offset = HEADER_BYTES;
  let labels = 0;
  let hash = HASH_SEED;
  for (;;) {
    if (offset >= length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    const labelLength = query[offset];
    if (labelLength === 0) break;
    if (labelLength > 63) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    labels++;
    hash = hashStep(hash, labelLength);
    const labelEnd = Math.min(offset + labelLength + 1, length);
    for (let i = offset + 1; i < labelEnd; i++) {
      let byte = query[i];
      if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
      hash = hashStep(hash, byte);
    }
    offset += labelLength + 1;
    if (offset - HEADER_BYTES >= MAX_NAME_WIRE_BYTES) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
  }
  offset += 1;
  if (offset + 4 > length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
  const qtype = u16(query, offset);
  const qclass = u16(query, offset + 2);
  const questionEnd = offset + 4;
  hash = hashStep(hash, qtype);

  // The additional section may hold one record; only an OPT (root owner, type 41) means anything to us.
  let edns = false;
  let udpSize: number = DNS_LIMITS.classicUdpBytes;
  if (query[11] === 1 && questionEnd + OPT_RECORD_BYTES <= length && query[questionEnd] === 0) {
    if (u16(query, questionEnd + 1) === TYPE.OPT) {
      const rdataEnd = questionEnd + OPT_RECORD_BYTES + u16(query, questionEnd + 9);
      if (rdataEnd > length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
      edns = true;
      udpSize = Math.max(u16(query, questionEnd + 3), DNS_LIMITS.classicUdpBytes);
      if (query[questionEnd + 6] !== 0) {
        // EDNS version above 0: BADVERS (RFC 6891 §6.1.3), with our OPT saying we speak version 0.
        q.recursionAvailable = recursionAvailable;
        return start(query, out, questionEnd, 0, edns, transport, udpSize, 0) && finish(RCODE.BADVERS, false);
      }
    }
  }

  if (qclass !== CLASS_IN) {
    q.recursionAvailable = recursionAvailable;
    return start(query, out, questionEnd, 0, edns, transport, udpSize, 0) && finish(RCODE.REFUSED, false);
  }

  // Asked before and unchanged since: copy the prepared answer (prepared.ts), the common case.
  const prepared = zone.prepared;
  const entry = prepared.find(query, questionEnd - 4, qtype, hash);
  if (entry >= 0) {
    // Every order fits any transport (prepared.ts keeps no other), so no limit is checked.
    copyQuestion(query, out, questionEnd);
    let end = prepared.write(entry, out, questionEnd);
    let additionals = prepared.additionals(entry);
    if (edns) {
      end = writeOpt(out, end, DNS_LIMITS.maxEdnsUdpBytes, RCODE.NOERROR);
      additionals++;
    }
    writeHeader(out, u16(query, 2), RCODE.NOERROR, true, false, recursionAvailable, prepared.answers(entry), 0, additionals);
    return end;
  }
  q.hash = hash;
  q.recursionAvailable = recursionAvailable;
  for (let label = 0, at = HEADER_BYTES; label < labels; label++, at += query[at] + 1) labelOffsets[label] = at;

  // Is the name inside our zone? Compare its last labels with the apex, ignoring case.
  const apex = zone.apexLabels;
  const below = labels - apex.length;
  let inZone = below >= 0;
  for (let i = 0; inZone && i < apex.length; i++) inZone = labelIs(query, labelOffsets[below + i], apex[i]);
  if (!inZone) {
    start(query, out, questionEnd, 0, edns, transport, udpSize, qtype);
    return answerOutside(zone, query, labels, questionEnd - 4, recursion);
  }
  const apexOffset = below === 0 ? HEADER_BYTES : labelOffsets[below];
  start(query, out, questionEnd, apexOffset, edns, transport, udpSize, qtype);
  if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return finish(RCODE.REFUSED, false);
  return answerInZone(zone, query, below);
}

/** Dispatches on the shape of the name below the apex. */
function answerInZone(zone: Zone, buf: Buffer, below: number): number {
  const qtype = q.qtype;
  if (below === 0) {
    if (qtype === TYPE.SOA || qtype === TYPE.ANY) addSoa(zone, 'answer');
    if (qtype === TYPE.NS || qtype === TYPE.ANY) {
      const ns = zone.nsGlue;
      const targetAt = q.pos + NS_TARGET_OFFSET;
      if (!fits(zone.nsAnswer.length + (ns ? glueSize(targetAt, ns.target.length, ns.tail.length) : 0))) return finish(RCODE.NOERROR, true);
      add(zone.nsAnswer);
      // The NS record is the last answer, so its glue can follow it at once.
      if (ns) q.pos = writeGlue(q.out, q.pos, ns.target, 0, ns.target.length, ns.tail, 0, ns.tail.length, targetAt);
    }
    return q.answers > 0 ? finish(RCODE.NOERROR, true) : noData(zone);
  }
  const kind = labelOffsets[below - 1];
  if (below === 1) {
    // `service.<domain>` and `instance.<domain>` exist only as parents of other names.
    if (labelIs(buf, kind, LABEL_SERVICE) || labelIs(buf, kind, LABEL_INSTANCE)) return noData(zone);
    if (labelIs(buf, kind, LABEL_NS)) return answerNameServer(zone);
    return nxDomain(zone);
  }
  if (labelIs(buf, kind, LABEL_SERVICE)) {
    if (below === 2) return answerSet(zone, buf, serviceAt(zone, buf, labelOffsets[0], 0)?.all, false);
    if (below !== 3) return nxDomain(zone);
    const first = labelOffsets[0];
    const second = labelOffsets[1];
    if (buf[first + 1] === UNDERSCORE && buf[second + 1] === UNDERSCORE) {
      // RFC 2782: `_service._proto`; a protocol label other than _tcp/_udp is a tag filter.
      const records = serviceAt(zone, buf, first, 1);
      if (labelIs(buf, second, LABEL_TCP) || labelIs(buf, second, LABEL_UDP)) return answerSet(zone, buf, records?.all, true);
      return answerSet(zone, buf, records?.byTag.get(labelText(buf, second, 1)), true);
    }
    return answerSet(zone, buf, serviceAt(zone, buf, second, 0)?.byTag.get(labelText(buf, first)), false);
  }
  if (labelIs(buf, kind, LABEL_INSTANCE)) {
    if (below === 2) return serviceAt(zone, buf, labelOffsets[0], 0) ? noData(zone) : nxDomain(zone);
    if (below !== 3) return nxDomain(zone);
    const records = serviceAt(zone, buf, labelOffsets[1], 0)?.byId.get(labelText(buf, labelOffsets[0]));
    return records ? answerInstance(zone, records) : nxDomain(zone);
  }
  return nxDomain(zone);
}

/**
 * A name outside the zone. The reverse name of a registered address is ours (PTR, authoritative);
 * anything else goes to the forwarder, when there is one and the client asked for recursion: a
 * query without RD is REFUSED rather than answered from the cache, since Signpost is a forwarder,
 * not a cache to inspect.
 */
function answerOutside(zone: Zone, buf: Buffer, labels: number, nameEnd: number, recursion: Recursion | null): number {
  if ((q.qtype === TYPE.PTR || q.qtype === TYPE.ANY) && isReverseName(buf, labels)) {
    const answers = zone.reverse(nameKey(buf, HEADER_BYTES, nameEnd));
    if (answers) {
      for (const answer of answers) if (!add(answer)) break;
      return finish(RCODE.NOERROR, true);
    }
  }
  if (recursion === null || (q.queryFlags & FLAG_RD) === 0) return finish(RCODE.REFUSED, false);
  forwarded.nameEnd = nameEnd;
  forwarded.questionEnd = q.questionEnd;
  forwarded.qtype = q.qtype;
  forwarded.edns = q.edns;
  forwarded.maxBytes = q.maxBytes;
  const length = recursion.fromCache(buf, forwarded, q.out);
  return length > 0 ? length : FORWARD;
}

/** Does the name end in `in-addr.arpa` or `ip6.arpa`? */
function isReverseName(buf: Buffer, labels: number): boolean {
  if (labels < 2 || !labelIs(buf, labelOffsets[labels - 1], LABEL_ARPA)) return false;
  const parent = labelOffsets[labels - 2];
  return labelIs(buf, parent, LABEL_IN_ADDR) || labelIs(buf, parent, LABEL_IP6);
}

/** A service or tag name: SRV for every member, A/AAAA for the best tier; RFC 2782 names have SRV only. */
function answerSet(zone: Zone, query: Buffer, set: RecordSet | undefined, srvOnly: boolean): number {
  if (!set) return nxDomain(zone);
  const qtype = q.qtype;
  const small = set.count <= MAX_PREASSEMBLED_RECORDS;
  if (qtype === TYPE.SRV || qtype === TYPE.ANY) {
    const all = small ? (set.srvOrders ??= preassembleSrv(set)) : null;
    if (all && writePreassembled(all)) {
      zone.prepared.learn(query, q.questionEnd, qtype, q.hash, set.service, all);
      return finish(RCODE.NOERROR, true);
    }
    return answerSrv(set);
  }
  if (!srvOnly && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
    const tier = qtype === TYPE.A ? set.v4 : set.v6;
    if (tier.length === 0) return noData(zone);
    if (small) {
      const tierOrders = qtype === TYPE.A ? (set.v4Orders ??= preassembleAddresses(set, tier)) : (set.v6Orders ??= preassembleAddresses(set, tier));
      if (writePreassembled(tierOrders)) {
        zone.prepared.learn(query, q.questionEnd, qtype, q.hash, set.service, tierOrders);
        return finish(RCODE.NOERROR, true);
      }
    }
    drawOrder(set.drawWeight, tier, 0, tier.length, 0);
    const { bytes, layout } = set;
    for (let i = 0; i < tier.length; i++) {
      const at = order[i] * LAYOUT_STRIDE + AT_ADDRESS;
      if (!fits(layout[at + 1] - layout[at])) break;
      q.pos = copyRange(bytes, layout[at], layout[at + 1], q.out, q.pos);
      q.answers++;
    }
    return finish(RCODE.NOERROR, true);
  }
  return noData(zone);
}

/**
 * Draws one pre-assembled order by its probability and writes it; false when it does not fit
 * (the general path then truncates record by record).
 */
function writePreassembled(orders: Preassembled): boolean {
  const { cumulative } = orders;
  const draw = Math.random();
  let k = 0;
  while (cumulative[k] <= draw && k < cumulative.length - 1) k++;
  const body = orders.bodyViews[k];
  const base = q.pos;
  if (base + body.length > q.limit) return false;
  const out = q.out;
  out.set(body, base);
  q.pos = base + body.length;
  // Glue owners point at the SRV targets, wherever this response put the body.
  const pointers = orders.pointers;
  for (let i = k * orders.glue * 2, last = i + orders.glue * 2; i < last; i += 2) {
    const target = base + pointers[i + 1];
    out[base + pointers[i]] = 0xc0 | (target >> 8);
    out[base + pointers[i] + 1] = target & 0xff;
  }
  q.answers += orders.answers;
  q.additionals += orders.glue;
  return true;
}

/**
 * SRV records in priority order, weighted within each priority, each with its target's address in
 * the additional section. An SRV record goes in only with its glue; the first pair that does not
 * fit ends the answer, with TC. Answers and glue are written in one pass: where the additional
 * section starts is known once the pairs that fit are counted.
 */
function answerSrv(set: RecordSet): number {
  const { bytes, layout, count } = set;
  let from = 0;
  for (let g = 0; g < set.srvGroupEnds.length; g++) {
    const to = set.srvGroupEnds[g];
    drawOrder(set.drawWeight, null, from, to, from);
    from = to;
  }
  let answersEnd = q.pos;
  let glueBytes = 0;
  let fitting = 0;
  for (; fitting < count; fitting++) {
    const at = order[fitting] * LAYOUT_STRIDE;
    const srv = layout[at + AT_SRV + 1] - layout[at + AT_SRV];
    const glue = glueSize(answersEnd + SRV_TARGET_OFFSET, layout[at + AT_TARGET + 1] - layout[at + AT_TARGET], layout[at + AT_GLUE + 1] - layout[at + AT_GLUE]);
    if (answersEnd + srv + glueBytes + glue > q.limit) {
      q.truncated = true;
      break;
    }
    answersEnd += srv;
    glueBytes += glue;
  }
  const out = q.out;
  let srvAt = q.pos;
  let glueAt = answersEnd;
  for (let i = 0; i < fitting; i++) {
    const at = order[i] * LAYOUT_STRIDE;
    const targetAt = srvAt + SRV_TARGET_OFFSET;
    srvAt = copyRange(bytes, layout[at + AT_SRV], layout[at + AT_SRV + 1], out, srvAt);
    glueAt = writeGlue(out, glueAt, bytes, layout[at + AT_TARGET], layout[at + AT_TARGET + 1], bytes, layout[at + AT_GLUE], layout[at + AT_GLUE + 1], targetAt);
  }
  q.pos = glueAt;
  q.answers += fitting;
  return finish(RCODE.NOERROR, true);
}

/** `<id>.<service>.instance.<domain>`: the instance's address, and its meta as TXT. */
function answerInstance(zone: Zone, records: InstanceRecords): number {
  const qtype = q.qtype;
  const wantsAddress =
    qtype === TYPE.ANY || (qtype === TYPE.A && records.family === 4) || (qtype === TYPE.AAAA && records.family === 6);
  if (wantsAddress) add(records.address);
  if (qtype === TYPE.TXT) {
    for (const txt of records.txt) if (!add(txt)) break;
  }
  return q.answers > 0 ? finish(RCODE.NOERROR, true) : noData(zone);
}

function answerNameServer(zone: Zone): number {
  const ns = zone.nsGlue;
  const family = q.qtype === TYPE.A ? 4 : q.qtype === TYPE.AAAA ? 6 : 0;
  if (ns && (ns.family === family || q.qtype === TYPE.ANY)) {
    add(ns.answer);
    return finish(RCODE.NOERROR, true);
  }
  return noData(zone);
}

function noData(zone: Zone): number {
  addSoa(zone, 'authority');
  return finish(RCODE.NOERROR, true);
}

function nxDomain(zone: Zone): number {
  addSoa(zone, 'authority');
  return finish(RCODE.NXDOMAIN, true);
}

/**
 * Draws the RFC 2782 weighted order of records `numbers[from, to)` (or the records numbered
 * `from`…`to - 1` when `numbers` is null) into `order[into, into + n)`.
 * Sorting by -ln(U)/w (Efraimidis–Spirakis) is the same distribution as RFC 2782's repeated
 * "pick by running weight sum, remove, repeat", in O(n log n): P(first = i) = w_i / Σw.
 */
function drawOrder(weights: Float64Array, numbers: Int32Array | null, from: number, to: number, into: number): void {
  const n = to - from;
  if (into + n > order.length) {
    const grown = new Int32Array((into + n) * 2);
    grown.set(order);
    order = grown;
    drawKeys = new Float64Array((into + n) * 2);
  }
  for (let i = 0; i < n; i++) {
    const record = numbers === null ? from + i : numbers[from + i];
    order[into + i] = record;
    drawKeys[into + i] = -Math.log(1 - Math.random()) / weights[record];
  }
  if (n <= 32) {
    // Insertion sort: the common case is a handful of instances, where it beats any other sort.
    for (let i = into + 1; i < into + n; i++) {
      const key = drawKeys[i];
      const record = order[i];
      let j = i - 1;
      while (j >= into && drawKeys[j] > key) {
        drawKeys[j + 1] = drawKeys[j];
        order[j + 1] = order[j];
        j--;
      }
      drawKeys[j + 1] = key;
      order[j + 1] = record;
    }
  } else {
    const keyOf = new Map<number, number>();
    for (let i = into; i < into + n; i++) keyOf.set(order[i], drawKeys[i]);
    order.subarray(into, into + n).sort((a, b) => keyOf.get(a)! - keyOf.get(b)!);
  }
}

// ---- response writer ---------------------------------------------------------------------------

function start(
  query: Buffer,
  out: Buffer,
  questionEnd: number,
  apexOffset: number,
  edns: boolean,
  transport: Transport,
  udpSize: number,
  qtype: number,
): true {
  const max =
    transport === 'tcp'
      ? DNS_LIMITS.maxTcpMessageBytes
      : edns
        ? Math.min(udpSize, DNS_LIMITS.maxEdnsUdpBytes)
        : DNS_LIMITS.classicUdpBytes;
  q.queryFlags = u16(query, 2);
  q.out = out;
  q.questionEnd = questionEnd;
  q.apexOffset = apexOffset;
  q.qtype = qtype;
  q.edns = edns;
  q.maxBytes = max;
  q.limit = max - (edns ? OPT_RECORD_BYTES : 0);
  q.answers = 0;
  q.authorities = 0;
  q.additionals = 0;
  q.truncated = false;
  copyQuestion(query, out, questionEnd);
  q.pos = questionEnd;
  return true;
}

/**
 * Header and question, copied as sent: the ID, and the name's letter case (0x20 randomisation).
 * A usual query is copied whole with one TypedArray#set (what follows the question is written
 * over), which beats a byte loop or a sub-range view.
 */
function copyQuestion(query: Buffer, out: Buffer, questionEnd: number): void {
  if (query.length <= DNS_LIMITS.classicUdpBytes) out.set(query, 0);
  else copyRange(query, 0, questionEnd, out, 0);
}

function fits(bytes: number): boolean {
  if (q.pos + bytes <= q.limit) return true;
  q.truncated = true;
  return false;
}

/** Appends an answer record; false (and TC) when it does not fit. */
function add(fragment: Buffer): boolean {
  if (!fits(fragment.length)) return false;
  q.out.set(fragment, q.pos);
  q.pos += fragment.length;
  q.answers++;
  return true;
}

/** Bytes of an additional A/AAAA record whose owner is a target name written at `targetAt`. */
function glueSize(targetAt: number, targetBytes: number, tailBytes: number): number {
  return (targetAt <= MAX_POINTER_OFFSET ? 2 : targetBytes) + tailBytes;
}

/**
 * Writes an additional A/AAAA record at `at`: its owner is a pointer to the target name written at
 * `targetAt`, or the name itself where a pointer cannot reach; then the record's tail. Returns the end.
 */
function writeGlue(
  out: Buffer,
  at: number,
  target: Buffer,
  targetStart: number,
  targetEnd: number,
  tail: Buffer,
  tailStart: number,
  tailEnd: number,
  targetAt: number,
): number {
  if (targetAt <= MAX_POINTER_OFFSET) {
    out[at++] = 0xc0 | (targetAt >> 8);
    out[at++] = targetAt & 0xff;
  } else {
    at = copyRange(target, targetStart, targetEnd, out, at);
  }
  q.additionals++;
  return copyRange(tail, tailStart, tailEnd, out, at);
}

/**
 * Copies `source[start, end)` to `target` at `at` and returns the end. Fragments are tens of
 * bytes, where a plain loop beats Buffer#copy (which makes a view object for a sub-range).
 */
function copyRange(source: Buffer, start: number, end: number, target: Buffer, at: number): number {
  if (end - start > 64) return at + source.copy(target, at, start, end);
  for (let i = start; i < end; i++) target[at++] = source[i];
  return at;
}

function addSoa(zone: Zone, section: 'answer' | 'authority'): void {
  const tail = zone.soaTail;
  if (!fits(2 + tail.length)) return;
  const out = q.out;
  out[q.pos] = 0xc0 | (q.apexOffset >> 8);
  out[q.pos + 1] = q.apexOffset & 0xff;
  out.set(tail, q.pos + 2);
  q.pos += 2 + tail.length;
  if (section === 'answer') q.answers++;
  else q.authorities++;
}

/** Completes the header, appends the OPT record, and returns the response length. */
function finish(rcode: number, authoritative: boolean): number {
  const out = q.out;
  let additionals = q.additionals;
  if (q.edns) {
    q.pos = writeOpt(out, q.pos, DNS_LIMITS.maxEdnsUdpBytes, rcode);
    additionals++;
  }
  writeHeader(out, q.queryFlags, rcode, authoritative, q.truncated, q.recursionAvailable, q.answers, q.authorities, additionals);
  return q.pos;
}

/** The response header after the ID: flags (RD and CD as the query had them) and the section counts. */
function writeHeader(
  out: Buffer,
  queryFlags: number,
  rcode: number,
  authoritative: boolean,
  truncated: boolean,
  recursionAvailable: boolean,
  answers: number,
  authorities: number,
  additionals: number,
): void {
  let flags = FLAG_QR | (queryFlags & (FLAG_RD | FLAG_CD)) | (rcode & 0x0f);
  if (authoritative) flags |= FLAG_AA;
  if (truncated) flags |= FLAG_TC;
  if (recursionAvailable) flags |= FLAG_RA;
  // Byte by byte: Buffer#writeUInt16BE's range checks cost more than the writes, once per response.
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = 1;
  out[6] = answers >> 8;
  out[7] = answers & 0xff;
  out[8] = authorities >> 8;
  out[9] = authorities & 0xff;
  out[10] = additionals >> 8;
  out[11] = additionals & 0xff;
}

/** A response carrying only the header (no question): for queries whose question cannot be trusted. */
function headerOnly(query: Buffer, out: Buffer, rcode: number, recursionAvailable: boolean): number {
  query.copy(out, 0, 0, 2);
  const opcodeBits = query[2] & 0x78;
  out[2] = 0x80 | opcodeBits | (query[2] & 0x01);
  out[3] = (recursionAvailable ? FLAG_RA : 0) | (rcode & 0x0f);
  out.fill(0, 4, HEADER_BYTES);
  return HEADER_BYTES;
}

function u16(buf: Buffer, offset: number): number {
  return (buf[offset] << 8) | buf[offset + 1];
}

/** Does the label at `offset` equal `expected` (lower case), ignoring ASCII case? */
function labelIs(buf: Buffer, offset: number, expected: Buffer): boolean {
  const length = buf[offset];
  if (length !== expected.length) return false;
  for (let i = 0; i < length; i++) {
    let byte = buf[offset + 1 + i];
    if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
    if (byte !== expected[i]) return false;
  }
  return true;
}

/** The service named by the label at `offset`, skipping `skip` leading bytes (the `_` of RFC 2782 labels). */
function serviceAt(zone: Zone, buf: Buffer, offset: number, skip: number) {
  return zone.serviceAt(buf, offset + 1 + skip, offset + 1 + buf[offset]);
}

/** The label at `offset` as a lower-case string, skipping `skip` leading bytes (the `_` of RFC 2782 labels). */
function labelText(buf: Buffer, offset: number, skip = 0): string {
  return buf.toString('latin1', offset + 1 + skip, offset + 1 + buf[offset]).toLowerCase();
}
