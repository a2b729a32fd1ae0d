// The DNS answer logic: one query's bytes in, one response's bytes out. No sockets, no I/O.
//
// A query from the network is hostile until checked, so it is never handed to a general DNS
// parser: the header and the single question are read here in one bounded pass, compression
// pointers in the question are refused (a query has no earlier name to point at), and the
// additional section is read only far enough to find an OPT record. The response is assembled by
// copying pre-built record fragments (records.ts) in a freshly drawn weighted order.
import type { RecordSet, InstanceRecords } from './records.ts';
import { SRV_TARGET_OFFSET } from './records.ts';
import type { Zone } from './zone.ts';
import { HEADER_BYTES, MAX_POINTER_OFFSET, OPT_RECORD_BYTES, RCODE, TYPE, CLASS_IN } from './wire.ts';
import { DNS_LIMITS } from '../config.ts';

export type Transport = 'udp' | 'tcp';

/** Buffer size that fits any response: pass one of these as `out`. */
export const RESPONSE_BUFFER_BYTES = DNS_LIMITS.maxTcpMessageBytes;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_CD = 0x0010;
const MAX_NAME_WIRE_BYTES = 255;
/** Offset of the name server name inside the NS answer fragment: pointer, type, class, TTL, rdlength. */
const NS_TARGET_OFFSET = 2 + 2 + 2 + 4 + 2;

const LABEL_SERVICE = Buffer.from('service');
const LABEL_INSTANCE = Buffer.from('instance');
const LABEL_NS = Buffer.from('ns');
const LABEL_TCP = Buffer.from('_tcp');
const LABEL_UDP = Buffer.from('_udp');
const UNDERSCORE = 0x5f;

// Per-call scratch state. Answering is synchronous, so one set serves every query.
const labelOffsets = new Int32Array(128);
const glue = Buffer.allocUnsafe(RESPONSE_BUFFER_BYTES);
let order = new Int32Array(64);
let drawKeys = new Float64Array(64);

/** Everything the writer needs about the query being answered. */
interface Query {
  buf: Buffer;
  out: Buffer;
  /** End of the question section: where the answer section starts. */
  questionEnd: number;
  /** Offset of the zone apex inside the question name (a pointer target for the SOA owner). */
  apexOffset: number;
  qtype: number;
  edns: boolean;
  /** The most the response may hold (transport and EDNS), less room for our OPT record. */
  limit: number;
  pos: number;
  answers: number;
  authorities: number;
  additionals: number;
  glueBytes: number;
  truncated: boolean;
}

const q: Query = {
  buf: Buffer.alloc(0),
  out: Buffer.alloc(0),
  questionEnd: 0,
  apexOffset: 0,
  qtype: 0,
  edns: false,
  limit: 0,
  pos: 0,
  answers: 0,
  authorities: 0,
  additionals: 0,
  glueBytes: 0,
  truncated: false,
};

/**
 * Answers one DNS query. Writes the response into `out` (at least RESPONSE_BUFFER_BYTES long)
 * and returns its length, or 0 when the packet must be dropped without a reply.
 */
export function answerQuery(query: Buffer, zone: Zone, transport: Transport, out: Buffer): number {
  const length = query.length;
  // Too short to be a query, or a response (QR=1): answering those is how reflection attacks work.
  if (length < HEADER_BYTES || query[2] & 0x80) return 0;
  const opcode = (query[2] >> 3) & 0x0f;
  if (opcode !== 0) return headerOnly(query, out, RCODE.NOTIMP);
  if (u16(query, 4) !== 1 || u16(query, 6) !== 0 || u16(query, 8) !== 0 || u16(query, 10) > 1) {
    return headerOnly(query, out, RCODE.FORMERR);
  }

  // The question name: plain labels only, bounded by the packet and by 255 bytes.
  let offset = HEADER_BYTES;
  let labels = 0;
  for (;;) {
    if (offset >= length) return headerOnly(query, out, RCODE.FORMERR);
    const labelLength = query[offset];
    if (labelLength === 0) break;
    if (labelLength > 63) return headerOnly(query, out, RCODE.FORMERR);
    labelOffsets[labels++] = offset;
    offset += labelLength + 1;
    if (offset - HEADER_BYTES >= MAX_NAME_WIRE_BYTES) return headerOnly(query, out, RCODE.FORMERR);
  }
  offset += 1;
  if (offset + 4 > length) return headerOnly(query, out, RCODE.FORMERR);
  const qtype = u16(query, offset);
  const qclass = u16(query, offset + 2);
  const questionEnd = offset + 4;

  // The additional section may hold one record; only an OPT (root owner, type 41) means anything to us.
  let edns = false;
  let udpSize: number = DNS_LIMITS.classicUdpBytes;
  if (query[11] === 1 && questionEnd + OPT_RECORD_BYTES <= length && query[questionEnd] === 0) {
    if (u16(query, questionEnd + 1) === TYPE.OPT) {
      const rdataEnd = questionEnd + OPT_RECORD_BYTES + u16(query, questionEnd + 9);
      if (rdataEnd > length) return headerOnly(query, out, RCODE.FORMERR);
      edns = true;
      udpSize = Math.max(u16(query, questionEnd + 3), DNS_LIMITS.classicUdpBytes);
      if (query[questionEnd + 6] !== 0) {
        // EDNS version above 0: BADVERS (RFC 6891 §6.1.3), with our OPT saying we speak version 0.
        return start(query, out, questionEnd, 0, edns, transport, udpSize, 0) && finish(RCODE.BADVERS, false);
      }
    }
  }

  if (qclass !== CLASS_IN) return start(query, out, questionEnd, 0, edns, transport, udpSize, 0) && finish(RCODE.REFUSED, false);

  // Is the name inside our zone? Compare its last labels with the apex, ignoring case.
  const apex = zone.apexLabels;
  const below = labels - apex.length;
  if (below < 0) return start(query, out, questionEnd, 0, edns, transport, udpSize, qtype) && finish(RCODE.REFUSED, false);
  for (let i = 0; i < apex.length; i++) {
    if (!labelIs(query, labelOffsets[below + i], apex[i])) {
      return start(query, out, questionEnd, 0, edns, transport, udpSize, qtype) && finish(RCODE.REFUSED, false);
    }
  }
  const apexOffset = below === 0 ? HEADER_BYTES : labelOffsets[below];
  start(query, out, questionEnd, apexOffset, edns, transport, udpSize, qtype);
  if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return finish(RCODE.REFUSED, false);
  return answerInZone(zone, below);
}

/** Dispatches on the shape of the name below the apex. */
function answerInZone(zone: Zone, below: number): number {
  const buf = q.buf;
  const qtype = q.qtype;
  if (below === 0) {
    if (qtype === TYPE.SOA || qtype === TYPE.ANY) addSoa(zone, 'answer');
    if (qtype === TYPE.NS || qtype === TYPE.ANY) {
      const ns = zone.nsGlue;
      const targetAt = q.pos + NS_TARGET_OFFSET;
      if (!fits(zone.nsAnswer.length + (ns ? 2 + ns.tail.length : 0))) return finish(RCODE.NOERROR, true);
      add(zone.nsAnswer);
      if (ns) addGlue(ns.tail, ns.target, targetAt);
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
    if (below === 2) return answerSet(zone, zone.service(labelText(buf, labelOffsets[0]))?.all, false);
    if (below !== 3) return nxDomain(zone);
    const first = labelOffsets[0];
    const second = labelOffsets[1];
    if (buf[first + 1] === UNDERSCORE && buf[second + 1] === UNDERSCORE) {
      // RFC 2782: `_service._proto`; a protocol label other than _tcp/_udp is a tag filter.
      const records = zone.service(labelText(buf, first, 1));
      if (labelIs(buf, second, LABEL_TCP) || labelIs(buf, second, LABEL_UDP)) return answerSet(zone, records?.all, true);
      return answerSet(zone, records?.byTag.get(labelText(buf, second, 1)), true);
    }
    return answerSet(zone, zone.service(labelText(buf, second))?.byTag.get(labelText(buf, first)), false);
  }
  if (labelIs(buf, kind, LABEL_INSTANCE)) {
    if (below === 2) return zone.service(labelText(buf, labelOffsets[0])) ? noData(zone) : nxDomain(zone);
    if (below !== 3) return nxDomain(zone);
    const records = zone.service(labelText(buf, labelOffsets[1]))?.byId.get(labelText(buf, labelOffsets[0]));
    return records ? answerInstance(zone, records) : nxDomain(zone);
  }
  return nxDomain(zone);
}

/** A service or tag name: SRV for every member, A/AAAA for the best tier; RFC 2782 names have SRV only. */
function answerSet(zone: Zone, set: RecordSet | undefined, srvOnly: boolean): number {
  if (!set) return nxDomain(zone);
  const qtype = q.qtype;
  if (qtype === TYPE.SRV || (qtype === TYPE.ANY && set.bySrv.length > 0)) {
    let start = 0;
    for (const end of set.srvGroupEnds) {
      const count = drawOrder(set.bySrv, start, end);
      for (let i = 0; i < count; i++) {
        const records = set.bySrv[order[i]];
        const glueAt = q.pos + SRV_TARGET_OFFSET;
        if (!fits(records.srv.length + glueSize(records, glueAt))) return finish(RCODE.NOERROR, true);
        add(records.srv);
        addGlue(records.glueTail, records.target, glueAt);
      }
      start = end;
    }
    return finish(RCODE.NOERROR, true);
  }
  if (!srvOnly && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
    const tier = qtype === TYPE.A ? set.v4 : set.v6;
    if (tier.length === 0) return noData(zone);
    const count = drawOrder(tier, 0, tier.length);
    for (let i = 0; i < count; i++) {
      if (!add(tier[order[i]].address)) break;
    }
    return finish(RCODE.NOERROR, true);
  }
  return noData(zone);
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
 * Draws the RFC 2782 weighted order of `list[start, end)` into `order[0, n)` and returns n.
 * Sorting by -ln(U)/w (Efraimidis–Spirakis) is the same distribution as RFC 2782's repeated
 * "pick by running weight sum, remove, repeat", in O(n log n): P(first = i) = w_i / Σw.
 */
function drawOrder(list: readonly InstanceRecords[], start: number, end: number): number {
  const n = end - start;
  if (n > order.length) {
    order = new Int32Array(n * 2);
    drawKeys = new Float64Array(n * 2);
  }
  for (let i = 0; i < n; i++) {
    order[i] = start + i;
    drawKeys[i] = -Math.log(1 - Math.random()) / list[start + i].drawWeight;
  }
  if (n <= 32) {
    // Insertion sort: the common case is a handful of instances, where it beats any other sort.
    for (let i = 1; i < n; i++) {
      const key = drawKeys[i];
      const index = order[i];
      let j = i - 1;
      while (j >= 0 && drawKeys[j] > key) {
        drawKeys[j + 1] = drawKeys[j];
        order[j + 1] = order[j];
        j--;
      }
      drawKeys[j + 1] = key;
      order[j + 1] = index;
    }
  } else {
    const keyOf = new Float64Array(list.length);
    for (let i = 0; i < n; i++) keyOf[start + i] = drawKeys[i];
    order.subarray(0, n).sort((a, b) => keyOf[a] - keyOf[b]);
  }
  return n;
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
  q.buf = query;
  q.out = out;
  q.questionEnd = questionEnd;
  q.apexOffset = apexOffset;
  q.qtype = qtype;
  q.edns = edns;
  q.limit = max - (edns ? OPT_RECORD_BYTES : 0);
  q.answers = 0;
  q.authorities = 0;
  q.additionals = 0;
  q.glueBytes = 0;
  q.truncated = false;
  // Header and question, copied as sent: the ID, and the name's letter case (0x20 randomisation).
  query.copy(out, 0, 0, questionEnd);
  q.pos = questionEnd;
  return true;
}

function fits(bytes: number): boolean {
  if (q.pos + q.glueBytes + bytes <= q.limit) return true;
  q.truncated = true;
  return false;
}

/** Appends an answer record; false (and TC) when it does not fit. */
function add(fragment: Buffer): boolean {
  if (!fits(fragment.length)) return false;
  fragment.copy(q.out, q.pos);
  q.pos += fragment.length;
  q.answers++;
  return true;
}

function glueSize(records: InstanceRecords, targetAt: number): number {
  return (targetAt <= MAX_POINTER_OFFSET ? 2 : records.target.length) + records.glueTail.length;
}

/** Queues an additional A/AAAA record for a target name written at `targetAt` in the response. */
function addGlue(tail: Buffer, target: Buffer, targetAt: number): void {
  let at = q.glueBytes;
  if (targetAt <= MAX_POINTER_OFFSET) {
    glue[at++] = 0xc0 | (targetAt >> 8);
    glue[at++] = targetAt & 0xff;
  } else {
    target.copy(glue, at);
    at += target.length;
  }
  tail.copy(glue, at);
  q.glueBytes = at + tail.length;
  q.additionals++;
}

function addSoa(zone: Zone, section: 'answer' | 'authority'): void {
  const tail = zone.soaTail;
  if (!fits(2 + tail.length)) return;
  const out = q.out;
  out[q.pos] = 0xc0 | (q.apexOffset >> 8);
  out[q.pos + 1] = q.apexOffset & 0xff;
  tail.copy(out, q.pos + 2);
  q.pos += 2 + tail.length;
  if (section === 'answer') q.answers++;
  else q.authorities++;
}

/** Completes the header, appends glue and OPT, and returns the response length. */
function finish(rcode: number, authoritative: boolean): number {
  const out = q.out;
  if (q.glueBytes > 0) {
    glue.copy(out, q.pos, 0, q.glueBytes);
    q.pos += q.glueBytes;
  }
  let additionals = q.additionals;
  if (q.edns) {
    // OPT: root owner, type 41, our UDP size, extended rcode in the TTL's top byte, version 0, no options.
    const at = q.pos;
    out[at] = 0;
    out.writeUInt16BE(TYPE.OPT, at + 1);
    out.writeUInt16BE(DNS_LIMITS.maxEdnsUdpBytes, at + 3);
    out.writeUInt32BE((rcode >> 4) << 24, at + 5);
    out.writeUInt16BE(0, at + 9);
    q.pos += OPT_RECORD_BYTES;
    additionals++;
  }
  const queryFlags = u16(q.buf, 2);
  let flags = FLAG_QR | (queryFlags & (FLAG_RD | FLAG_CD)) | (rcode & 0x0f);
  if (authoritative) flags |= FLAG_AA;
  if (q.truncated) flags |= FLAG_TC;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(q.answers, 6);
  out.writeUInt16BE(q.authorities, 8);
  out.writeUInt16BE(additionals, 10);
  return q.pos;
}

/** A response carrying only the header (no question): for queries whose question cannot be trusted. */
function headerOnly(query: Buffer, out: Buffer, rcode: number): number {
  query.copy(out, 0, 0, 2);
  const opcodeBits = query[2] & 0x78;
  out[2] = 0x80 | opcodeBits | (query[2] & 0x01);
  out[3] = rcode & 0x0f;
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

/** The label at `offset` as a lower-case string, skipping `skip` leading bytes (the `_` of RFC 2782 labels). */
function labelText(buf: Buffer, offset: number, skip = 0): string {
  return buf.toString('latin1', offset + 1 + skip, offset + 1 + buf[offset]).toLowerCase();
}
