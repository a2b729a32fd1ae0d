// The DNS answer logic: one query's bytes in, one response's bytes out. No sockets, no I/O.
//
// A query from the network is hostile until checked, so it is never handed to a general DNS
// parser: the header and the single question are read here in one bounded pass, compression
// pointers in the question are refused (a query has no earlier name to point at), and the
// additional section is read only far enough to find an OPT record. The response is assembled by
// copying pre-built record fragments (zone/records.ts) in a freshly drawn weighted order.
//
// Names outside the zone are not answered here, except the reverse names (PTR) of registered
// instances. With forwarding on, a cached upstream answer is written synchronously through
// `Recursion.fromCache`; anything else returns FORWARD, and the listener hands the query to the
// asynchronous forwarder (dns/forward/). Zone answers never leave this synchronous path.
import { Buffer } from 'node:buffer';
import { DNS_LIMITS } from '../../config/limits.ts';
import { CLASS_IN, FLAG, HEADER_BYTES, MAX_LABEL_BYTES, MAX_NAME_BYTES, OPT_RECORD_BYTES, RCODE, TYPE, u16 } from '../wire/constants.ts';
import { writeOpt } from '../wire/encode.ts';
import { foldCase, HASH_SEED, hashStep, labelIs, labelText } from '../wire/names.ts';
import type { Question } from '../wire/question.ts';
import { txtAnswers, type InstanceRecords, type ServiceRecords } from '../zone/records.ts';
import type { Zone } from '../zone/zone.ts';
import { WeightedOrder } from './order.ts';
import { answerSet } from './weighted.ts';
import { copyQuestion, glueSize, headerOnly, responseLimit, ResponseWriter, writeHeader, type Transport } from './writer.ts';

/** What `answer` returns for a question only the forwarder can answer; see `Answerer.forwarded`. */
export const FORWARD = -1;

/** The forwarder's synchronous part, as the answer logic sees it. */
export interface Recursion {
  /** May `client` (an address) use forwarding? Asked per query: answer from a memo (lib/addresses.ts). */
  allows(client: string): boolean;
  /** Writes a fresh cached answer to `question` into `out` and returns its length; 0 when there is none. */
  fromCache(query: Buffer, question: Readonly<Question>, out: Buffer): number;
}

/** Offset of the name server name inside the NS answer fragment: pointer, type, class, TTL, rdlength. */
const NS_TARGET_OFFSET = 2 + 2 + 2 + 4 + 2;
/** Labels a name can have: 255 bytes of one-byte labels. */
const MAX_LABELS = 128;

const LABEL_SERVICE = Buffer.from('service');
const LABEL_INSTANCE = Buffer.from('instance');
const LABEL_NS = Buffer.from('ns');
const LABEL_TCP = Buffer.from('_tcp');
const LABEL_UDP = Buffer.from('_udp');
const LABEL_ARPA = Buffer.from('arpa');
const LABEL_IN_ADDR = Buffer.from('in-addr');
const LABEL_IP6 = Buffer.from('ip6');
const UNDERSCORE = 0x5f;

/**
 * Answers queries from one zone. A listener owns one and calls `answer` for every query it
 * receives; the scratch state (the response being written, the weighted order, label offsets) is
 * the Answerer's own, reused from query to query, since answering is synchronous.
 */
export class Answerer {
  /** Valid after `answer` returned FORWARD, until its next call: copy it to keep it. */
  readonly forwarded: Question = { nameEnd: 0, questionEnd: 0, qtype: 0, edns: false, dnssecOk: false, maxBytes: 0 };
  readonly #zone: Zone;
  readonly #recursion: Recursion | null;
  readonly #w = new ResponseWriter();
  readonly #order = new WeightedOrder();
  /** Where each label of the question name starts, filled only on the slow path. */
  readonly #labelOffsets = new Int32Array(MAX_LABELS);

  /** Without `recursion`, names outside the zone are REFUSED and FORWARD is never returned. */
  constructor(zone: Zone, recursion: Recursion | null = null) {
    this.#zone = zone;
    this.#recursion = recursion;
  }

  /**
   * Answers one DNS query from `client` (its address: forwarding, and RA, are for the clients the
   * recursion allows). Writes the response into `out` (at least RESPONSE_BUFFER_BYTES long) and
   * returns its length, or 0 when the packet must be dropped without a reply, or FORWARD.
   */
  answer(query: Buffer, transport: Transport, out: Buffer, client: string): number {
    const length = query.length;
    const recursion = this.#recursion;
    const recursionAvailable = recursion !== null && recursion.allows(client);
    // Too short to be a query, or a response (QR=1): answering those is how reflection attacks work.
    if (length < HEADER_BYTES || query[2] & 0x80) return 0;
    const opcode = (query[2] >> 3) & 0x0f;
    if (opcode !== 0) return headerOnly(query, out, RCODE.NOTIMP, recursionAvailable);
    // One question, no answers; one authority record only for IXFR (checked below, RFC 1995 §3).
    if (u16(query, 4) !== 1 || u16(query, 6) !== 0 || u16(query, 8) > 1 || u16(query, 10) > 1) {
      return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    }

    // The question name: plain labels only, bounded by the packet and by 255 bytes. The name's
    // lower-cased bytes are hashed on the way, for the prepared answers; where each label starts
    // is noted only when they have no answer (fewer cache lines on the common path).
    let offset = HEADER_BYTES;
    let labels = 0;
    let hash = HASH_SEED;
    for (;;) {
      if (offset >= length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
      const labelLength = query[offset];
      if (labelLength === 0) break;
      if (labelLength > MAX_LABEL_BYTES) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
      labels++;
      hash = hashStep(hash, labelLength);
      const labelEnd = Math.min(offset + labelLength + 1, length);
      for (let i = offset + 1; i < labelEnd; i++) hash = hashStep(hash, foldCase(query[i]));
      offset += labelLength + 1;
      if (offset - HEADER_BYTES >= MAX_NAME_BYTES) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    }
    offset += 1;
    if (offset + 4 > length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    const qtype = u16(query, offset);
    const qclass = u16(query, offset + 2);
    const questionEnd = offset + 4;
    hash = hashStep(hash, qtype);

    // An IXFR request carries the client's SOA in the authority section: step over it to the OPT record.
    let additionalAt = questionEnd;
    if (query[9] !== 0) {
      additionalAt = qtype === TYPE.IXFR ? recordEnd(query, questionEnd) : -1;
      if (additionalAt < 0) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
    }

    // The additional section may hold one record; only an OPT (root owner, type 41) means anything to us.
    let edns = false;
    let dnssecOk = false;
    let udpSize: number = DNS_LIMITS.classicUdpBytes;
    if (query[11] === 1 && additionalAt + OPT_RECORD_BYTES <= length && query[additionalAt] === 0) {
      if (u16(query, additionalAt + 1) === TYPE.OPT) {
        const rdataEnd = additionalAt + OPT_RECORD_BYTES + u16(query, additionalAt + 9);
        if (rdataEnd > length) return headerOnly(query, out, RCODE.FORMERR, recursionAvailable);
        edns = true;
        udpSize = u16(query, additionalAt + 3);
        // The DO bit (RFC 3225) is copied into our OPT record; Signpost signs nothing, so it changes nothing else.
        dnssecOk = (query[additionalAt + 7] & 0x80) !== 0;
        if (query[additionalAt + 6] !== 0) {
          // EDNS version above 0: BADVERS (RFC 6891 §6.1.3), with our OPT saying we speak version 0.
          return this.#w.start(query, out, questionEnd, 0, edns, dnssecOk, responseLimit(transport, edns, udpSize), 0, recursionAvailable).finish(RCODE.BADVERS, false);
        }
      }
    }
    // Other classes (CHAOS's version.bind, id.server, hostname.bind included) are not served: no version or host name to strangers.
    if (qclass !== CLASS_IN) {
      return this.#w.start(query, out, questionEnd, 0, edns, dnssecOk, responseLimit(transport, edns, udpSize), 0, recursionAvailable).finish(RCODE.REFUSED, false);
    }

    // Asked before and unchanged since: copy the prepared answer (zone/prepared.ts), the common case.
    // First, forget the answers a lease deadline has made stale since they were prepared.
    this.#zone.passDeadlines();
    const prepared = this.#zone.prepared;
    const entry = prepared.find(query, questionEnd - 4, qtype, hash);
    if (entry >= 0) {
      // Every order fits any transport (prepared.ts keeps no other), so no limit is checked.
      copyQuestion(query, out, questionEnd);
      let end = prepared.write(entry, out, questionEnd);
      let additionals = prepared.additionals(entry);
      if (edns) {
        end = writeOpt(out, end, DNS_LIMITS.maxEdnsUdpBytes, RCODE.NOERROR, dnssecOk);
        additionals++;
      }
      writeHeader(out, u16(query, 2), RCODE.NOERROR, true, false, recursionAvailable, prepared.answers(entry), 0, additionals);
      return end;
    }
    const offsets = this.#labelOffsets;
    for (let label = 0, at = HEADER_BYTES; label < labels; label++, at += query[at] + 1) offsets[label] = at;

    // Is the name inside our zone? Compare its last labels with the apex, ignoring case.
    const zone = this.#zone;
    const apex = zone.apexLabels;
    const below = labels - apex.length;
    let inZone = below >= 0;
    for (let i = 0; inZone && i < apex.length; i++) inZone = labelIs(query, offsets[below + i], apex[i]);
    const maxBytes = responseLimit(transport, edns, udpSize);
    const w = this.#w.start(query, out, questionEnd, inZone && below > 0 ? offsets[below] : HEADER_BYTES, edns, dnssecOk, maxBytes, qtype, recursionAvailable);
    w.hash = hash;
    // Zone transfers are not served, for any name: the same REFUSED whatever the request carries.
    if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return w.finish(RCODE.REFUSED, false);
    if (!inZone) return this.#outside(query, labels, questionEnd - 4);
    return this.#inZone(query, below);
  }

  /**
   * Dispatches on the shape of the name below the apex. A name that exists only because names
   * exist below it (an empty non-terminal) is NODATA, never NXDOMAIN: a resolver minimising its
   * queries (RFC 9156) takes NXDOMAIN to mean that nothing exists below (RFC 8020).
   */
  #inZone(query: Buffer, below: number): number {
    const w = this.#w;
    const zone = this.#zone;
    const offsets = this.#labelOffsets;
    if (below === 0) return this.#apex();
    const kind = offsets[below - 1];
    if (below === 1) {
      // `service.<domain>` and `instance.<domain>` exist only as parents of other names.
      if (labelIs(query, kind, LABEL_SERVICE) || labelIs(query, kind, LABEL_INSTANCE)) return w.noData(zone.soaTail);
      if (labelIs(query, kind, LABEL_NS)) return this.#nameServer();
      return w.nxDomain(zone.soaTail);
    }
    if (labelIs(query, kind, LABEL_SERVICE)) {
      if (below === 2) {
        // `_tcp.service`, `_udp.service`, `_<tag>.service`: empty non-terminals while an RFC 2782 name exists below.
        if (query[offsets[0] + 1] === UNDERSCORE) return zone.hasUnderscoreParent(labelText(query, offsets[0], 1)) ? w.noData(zone.soaTail) : w.nxDomain(zone.soaTail);
        return answerSet(w, this.#order, zone, query, this.#serviceAt(query, offsets[0], 0)?.all, false);
      }
      if (below !== 3) return w.nxDomain(zone.soaTail);
      const first = offsets[0];
      const second = offsets[1];
      if (query[first + 1] === UNDERSCORE && query[second + 1] === UNDERSCORE) {
        // RFC 2782: `_service._proto`; a protocol label other than _tcp/_udp is a tag filter.
        const records = this.#serviceAt(query, first, 1);
        const protocol = labelIs(query, second, LABEL_TCP) || labelIs(query, second, LABEL_UDP);
        return answerSet(w, this.#order, zone, query, protocol ? records?.all : records?.byTag.get(labelText(query, second, 1)), true);
      }
      return answerSet(w, this.#order, zone, query, this.#serviceAt(query, second, 0)?.byTag.get(labelText(query, first)), false);
    }
    if (labelIs(query, kind, LABEL_INSTANCE)) {
      if (below === 2) return this.#serviceAt(query, offsets[0], 0) ? w.noData(zone.soaTail) : w.nxDomain(zone.soaTail);
      if (below !== 3) return w.nxDomain(zone.soaTail);
      const records = this.#serviceAt(query, offsets[1], 0)?.byId.get(labelText(query, offsets[0]));
      return records ? this.#instance(records) : w.nxDomain(zone.soaTail);
    }
    return w.nxDomain(zone.soaTail);
  }

  /** The apex: SOA, NS (with the name server's address as glue), or NODATA. */
  #apex(): number {
    const w = this.#w;
    const zone = this.#zone;
    const qtype = w.qtype;
    if (qtype === TYPE.SOA || qtype === TYPE.ANY) w.addSoa(zone.soaTail, 'answer');
    if (qtype === TYPE.NS || qtype === TYPE.ANY) {
      const ns = zone.nsGlue;
      const targetAt = w.pos + NS_TARGET_OFFSET;
      if (!w.fits(zone.nsAnswer.length + (ns ? glueSize(targetAt, ns.target.length, ns.tail.length) : 0))) return w.finish(RCODE.NOERROR, true);
      w.add(zone.nsAnswer);
      // The NS record is the last answer, so its glue can follow it at once.
      if (ns) w.pos = w.writeGlue(w.pos, ns.target, 0, ns.target.length, ns.tail, 0, ns.tail.length, targetAt);
    }
    return w.answers > 0 ? w.finish(RCODE.NOERROR, true) : w.noData(zone.soaTail);
  }

  /**
   * A name outside the zone. The reverse name of a registered address is ours (PTR, authoritative);
   * anything else goes to the forwarder, when there is one, the client may use it (RA) and asked for
   * recursion: a query without RD is REFUSED rather than answered from the cache, since Signpost is
   * a forwarder, not a cache to inspect.
   */
  #outside(query: Buffer, labels: number, nameEnd: number): number {
    const w = this.#w;
    if ((w.qtype === TYPE.PTR || w.qtype === TYPE.ANY) && this.#isReverseName(query, labels)) {
      const answers = this.#zone.reverse(query, HEADER_BYTES, nameEnd);
      if (answers) {
        for (const answer of answers) if (!w.add(answer)) break;
        return w.finish(RCODE.NOERROR, true);
      }
    }
    if (!w.recursionAvailable || (w.queryFlags & FLAG.RD) === 0) return w.finish(RCODE.REFUSED, false);
    const forwarded = this.forwarded;
    forwarded.nameEnd = nameEnd;
    forwarded.questionEnd = w.questionEnd;
    forwarded.qtype = w.qtype;
    forwarded.edns = w.edns;
    forwarded.dnssecOk = w.dnssecOk;
    forwarded.maxBytes = w.maxBytes;
    const length = this.#recursion!.fromCache(query, forwarded, w.out);
    return length > 0 ? length : FORWARD;
  }

  /** Does the name end in `in-addr.arpa` or `ip6.arpa`? */
  #isReverseName(query: Buffer, labels: number): boolean {
    const offsets = this.#labelOffsets;
    if (labels < 2 || !labelIs(query, offsets[labels - 1], LABEL_ARPA)) return false;
    const parent = offsets[labels - 2];
    return labelIs(query, parent, LABEL_IN_ADDR) || labelIs(query, parent, LABEL_IP6);
  }

  /** `<id>.<service>.instance.<domain>`: the instance's address, and its meta as TXT. */
  #instance(records: InstanceRecords): number {
    const w = this.#w;
    const qtype = w.qtype;
    const wantsAddress = qtype === TYPE.ANY || (qtype === TYPE.A && records.family === 4) || (qtype === TYPE.AAAA && records.family === 6);
    if (wantsAddress) w.addRange(records.bytes, records.targetEnd, records.addressEnd);
    if (qtype === TYPE.TXT) {
      for (const [start, end] of txtAnswers(records)) if (!w.addRange(records.bytes, start, end)) break;
    }
    return w.answers > 0 ? w.finish(RCODE.NOERROR, true) : w.noData(this.#zone.soaTail);
  }

  /** `ns.<domain>`: the listener's address, when it has a concrete one. */
  #nameServer(): number {
    const w = this.#w;
    const ns = this.#zone.nsGlue;
    const family = w.qtype === TYPE.A ? 4 : w.qtype === TYPE.AAAA ? 6 : 0;
    if (ns && (ns.family === family || w.qtype === TYPE.ANY)) {
      w.add(ns.answer);
      return w.finish(RCODE.NOERROR, true);
    }
    return w.noData(this.#zone.soaTail);
  }

  /** The service named by the label at `offset`, less `skip` leading bytes (the `_` of RFC 2782 labels). */
  #serviceAt(query: Buffer, offset: number, skip: number): ServiceRecords | null {
    return this.#zone.serviceAt(query, offset + 1 + skip, offset + 1 + query[offset]);
  }
}

/**
 * Where the resource record at `at` ends, or -1 when it runs past the message. Its owner name is
 * stepped over, not read: labels up to a zero byte or a compression pointer, which ends a name.
 */
function recordEnd(query: Buffer, at: number): number {
  const length = query.length;
  for (let labels = 0; ; labels++) {
    if (at >= length || labels > MAX_LABELS) return -1;
    const byte = query[at];
    if (byte === 0 || (byte & 0xc0) === 0xc0) {
      at += byte === 0 ? 1 : 2;
      break;
    }
    if (byte > MAX_LABEL_BYTES) return -1;
    at += byte + 1;
  }
  // TYPE, CLASS, TTL, RDLENGTH, then RDATA.
  if (at + 10 > length) return -1;
  const end = at + 10 + u16(query, at + 8);
  return end <= length ? end : -1;
}
