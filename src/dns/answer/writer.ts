// The response being written: header, the question copied as sent, then records appended until
// the transport's size limit, with TC when one does not fit. One writer per Answerer, reused for
// every query it answers (answering is synchronous); it keeps no reference to a query's bytes.
import { Buffer } from 'node:buffer';
import { DNS_LIMITS } from '../../config/limits.ts';
import { FLAG, HEADER_BYTES, MAX_POINTER_OFFSET, OPCODE_MASK, OPT_RECORD_BYTES, RCODE, u16 } from '../wire/constants.ts';
import { writeOpt } from '../wire/encode.ts';

export type Transport = 'udp' | 'tcp';

/** Buffer size that fits any response: pass one of these as `out`. */
export const RESPONSE_BUFFER_BYTES = DNS_LIMITS.maxTcpMessageBytes;

/** The most a response may hold over `transport`, given the client's EDNS payload size (0: no EDNS). */
export function responseLimit(transport: Transport, edns: boolean, udpSize: number): number {
  if (transport === 'tcp') return DNS_LIMITS.maxTcpMessageBytes;
  return edns ? Math.min(Math.max(udpSize, DNS_LIMITS.classicUdpBytes), DNS_LIMITS.maxEdnsUdpBytes) : DNS_LIMITS.classicUdpBytes;
}

export class ResponseWriter {
  /** The query's flags (header bytes 2-3), for RD and CD in the response. */
  queryFlags = 0;
  out: Buffer = Buffer.alloc(0);
  /** End of the question section: where the answer section starts. */
  questionEnd = 0;
  /** Offset of the zone apex inside the question name (a pointer target for the SOA owner). */
  apexOffset = 0;
  qtype = 0;
  /** The question's hash (name and type), for the prepared answers. */
  hash = 0;
  edns = false;
  /** The query's OPT had the DO bit, which our OPT echoes (RFC 3225). */
  dnssecOk = false;
  /** The most the response may hold (transport and EDNS). */
  maxBytes = 0;
  /** maxBytes less room for our OPT record. */
  limit = 0;
  pos = 0;
  answers = 0;
  authorities = 0;
  additionals = 0;
  truncated = false;
  /** RA in the response: forwarding is on, for this client. */
  recursionAvailable = false;

  /** Starts a response to `query` in `out`: the header and question copied, nothing appended yet. */
  start(
    query: Buffer,
    out: Buffer,
    questionEnd: number,
    apexOffset: number,
    edns: boolean,
    dnssecOk: boolean,
    maxBytes: number,
    qtype: number,
    recursionAvailable: boolean,
  ): this {
    this.queryFlags = u16(query, 2);
    this.out = out;
    this.questionEnd = questionEnd;
    this.apexOffset = apexOffset;
    this.qtype = qtype;
    this.edns = edns;
    this.dnssecOk = dnssecOk;
    this.maxBytes = maxBytes;
    this.limit = maxBytes - (edns ? OPT_RECORD_BYTES : 0);
    this.answers = 0;
    this.authorities = 0;
    this.additionals = 0;
    this.truncated = false;
    this.recursionAvailable = recursionAvailable;
    copyQuestion(query, out, questionEnd);
    this.pos = questionEnd;
    return this;
  }

  /** Is there room for `bytes` more? If not, the response is truncated (TC). */
  fits(bytes: number): boolean {
    if (this.pos + bytes <= this.limit) return true;
    this.truncated = true;
    return false;
  }

  /** Appends an answer record; false (and TC) when it does not fit. */
  add(fragment: Buffer): boolean {
    if (!this.fits(fragment.length)) return false;
    this.out.set(fragment, this.pos);
    this.pos += fragment.length;
    this.answers++;
    return true;
  }

  /** Appends the answer record at `source[start, end)`; false (and TC) when it does not fit. */
  addRange(source: Buffer, start: number, end: number): boolean {
    if (!this.fits(end - start)) return false;
    this.pos = copyRange(source, start, end, this.out, this.pos);
    this.answers++;
    return true;
  }

  /** Appends the zone's SOA record (owner: a pointer to the apex inside the question) to a section. */
  addSoa(tail: Buffer, section: 'answer' | 'authority'): void {
    if (!this.fits(2 + tail.length)) return;
    const out = this.out;
    out[this.pos] = 0xc0 | (this.apexOffset >> 8);
    out[this.pos + 1] = this.apexOffset & 0xff;
    out.set(tail, this.pos + 2);
    this.pos += 2 + tail.length;
    if (section === 'answer') this.answers++;
    else this.authorities++;
  }

  /**
   * Writes an additional A/AAAA record at `at`: its owner is a pointer to the target name written at
   * `targetAt`, or the name itself where a pointer cannot reach; then the record's tail. Returns the end.
   */
  writeGlue(at: number, target: Buffer, targetStart: number, targetEnd: number, tail: Buffer, tailStart: number, tailEnd: number, targetAt: number): number {
    const out = this.out;
    if (targetAt <= MAX_POINTER_OFFSET) {
      out[at++] = 0xc0 | (targetAt >> 8);
      out[at++] = targetAt & 0xff;
    } else {
      at = copyRange(target, targetStart, targetEnd, out, at);
    }
    this.additionals++;
    return copyRange(tail, tailStart, tailEnd, out, at);
  }

  /** NOERROR without answers, the SOA in the authority section (RFC 2308's NODATA). */
  noData(soaTail: Buffer): number {
    this.addSoa(soaTail, 'authority');
    return this.finish(RCODE.NOERROR, true);
  }

  /** The name does not exist: NXDOMAIN with the SOA, whose minimum is the negative-caching TTL (RFC 2308). */
  nxDomain(soaTail: Buffer): number {
    this.addSoa(soaTail, 'authority');
    return this.finish(RCODE.NXDOMAIN, true);
  }

  /** Completes the header, appends the OPT record, and returns the response length. */
  finish(rcode: number, authoritative: boolean): number {
    const out = this.out;
    let additionals = this.additionals;
    if (this.edns) {
      this.pos = writeOpt(out, this.pos, DNS_LIMITS.maxEdnsUdpBytes, rcode, this.dnssecOk);
      additionals++;
    }
    writeHeader(out, this.queryFlags, rcode, authoritative, this.truncated, this.recursionAvailable, this.answers, this.authorities, additionals);
    return this.pos;
  }
}

/** Bytes of an additional A/AAAA record whose owner is a target name written at `targetAt`. */
export function glueSize(targetAt: number, targetBytes: number, tailBytes: number): number {
  return (targetAt <= MAX_POINTER_OFFSET ? 2 : targetBytes) + tailBytes;
}

/**
 * Header and question, copied as sent: the ID, and the name's letter case (0x20 randomisation).
 * A usual query is copied whole with one TypedArray#set (what follows the question is written
 * over), which beats a byte loop or a sub-range view.
 */
export function copyQuestion(query: Buffer, out: Buffer, questionEnd: number): void {
  if (query.length <= DNS_LIMITS.classicUdpBytes) out.set(query, 0);
  else copyRange(query, 0, questionEnd, out, 0);
}

/**
 * Copies `source[start, end)` to `target` at `at` and returns the end. Fragments are tens of
 * bytes, where a plain loop beats Buffer#copy (which makes a view object for a sub-range).
 */
export function copyRange(source: Buffer, start: number, end: number, target: Buffer, at: number): number {
  if (end - start > 64) return at + source.copy(target, at, start, end);
  for (let i = start; i < end; i++) target[at++] = source[i];
  return at;
}

/** The response header after the ID: flags (RD and CD as the query had them) and the section counts. */
export function writeHeader(
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
  let flags = FLAG.QR | (queryFlags & (FLAG.RD | FLAG.CD)) | (rcode & 0x0f);
  if (authoritative) flags |= FLAG.AA;
  if (truncated) flags |= FLAG.TC;
  if (recursionAvailable) flags |= FLAG.RA;
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
export function headerOnly(query: Buffer, out: Buffer, rcode: number, recursionAvailable: boolean): number {
  out[0] = query[0];
  out[1] = query[1];
  // QR, the query's opcode and RD; no question, no records.
  out[2] = (FLAG.QR >> 8) | (query[2] & ((OPCODE_MASK | FLAG.RD) >> 8));
  out[3] = (recursionAvailable ? FLAG.RA : 0) | (rcode & 0x0f);
  out.fill(0, 4, HEADER_BYTES);
  return HEADER_BYTES;
}
