// Record encoders: the fragments Signpost's answers are copied from.
//
// dns2 supplies the type, class and rcode numbers (constants.ts). The record bytes are written by
// hand here because dns2's encoder cannot produce what the hot path needs: it spends ~50 µs per
// record (a bit-at-a-time writer), it compresses SRV targets (RFC 2782 forbids that) against
// whatever names precede them, so its output is tied to one message layout, and it does not
// range-check SRV fields. These encoders produce position-independent fragments instead: every
// owner name is a pointer to the question (offset 12), so a fragment can be copied into any
// response unchanged. The tests decode every kind of answer with dns2 to check these bytes.
import { Buffer } from 'node:buffer';
import { CLASS_IN, OPT_RECORD_BYTES, QUESTION_NAME_OFFSET, TYPE } from './constants.ts';

/**
 * Writes an OPT record at `at` (RFC 6891): root owner, our UDP payload size, the upper 8 bits of
 * an extended rcode, version 0, the DO bit as the query had it (RFC 3225), no options. Returns the
 * offset after it.
 */
export function writeOpt(out: Buffer, at: number, udpPayloadBytes: number, rcode: number, dnssecOk: boolean): number {
  // Byte by byte: this runs once per response, where Buffer#writeUInt16BE's range checks show up.
  out[at] = 0;
  out[at + 1] = TYPE.OPT >> 8;
  out[at + 2] = TYPE.OPT & 0xff;
  out[at + 3] = udpPayloadBytes >> 8;
  out[at + 4] = udpPayloadBytes & 0xff;
  out[at + 5] = (rcode >> 4) & 0xff;
  out[at + 6] = 0;
  out[at + 7] = dnssecOk ? 0x80 : 0;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
  return at + OPT_RECORD_BYTES;
}

/** A compression pointer to `offset`. */
export function pointerTo(offset: number): Buffer {
  return Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);
}

/** TYPE, CLASS, TTL, RDLENGTH, RDATA: a resource record without its owner name. */
export function recordTail(type: number, ttl: number, rdata: Buffer): Buffer {
  const tail = Buffer.allocUnsafe(10 + rdata.length);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  tail.writeUInt32BE(ttl, 4);
  tail.writeUInt16BE(rdata.length, 8);
  rdata.copy(tail, 10);
  return tail;
}

/**
 * Writes TYPE, CLASS, TTL and RDLENGTH at `at`, after a pointer to the question as the owner when
 * `owned`; returns where the RDATA goes. For encoders that write a record straight into its place.
 */
export function writeRecordHead(out: Buffer, at: number, owned: boolean, type: number, ttl: number, rdlength: number): number {
  if (owned) {
    out[at++] = 0xc0 | (QUESTION_NAME_OFFSET >> 8);
    out[at++] = QUESTION_NAME_OFFSET & 0xff;
  }
  out.writeUInt16BE(type, at);
  out.writeUInt16BE(CLASS_IN, at + 2);
  out.writeUInt32BE(ttl, at + 4);
  out.writeUInt16BE(rdlength, at + 8);
  return at + 10;
}

/** A whole record whose owner is the question name: copyable into any response. */
export function answerFragment(type: number, ttl: number, rdata: Buffer): Buffer {
  return Buffer.concat([pointerTo(QUESTION_NAME_OFFSET), recordTail(type, ttl, rdata)]);
}

/** RDATA of an A or AAAA record for an IP literal, with its type. */
export function addressRdata(address: string): { type: number; rdata: Buffer } {
  if (address.includes(':')) return { type: TYPE.AAAA, rdata: ipv6Bytes(address) };
  return { type: TYPE.A, rdata: Buffer.from(address.split('.').map(Number)) };
}

/** The reverse-lookup name of an IP literal: `4.3.2.1.in-addr.arpa`, or 32 nibbles under `ip6.arpa` (RFC 3596). */
export function reverseName(address: string): string {
  const { type, rdata } = addressRdata(address);
  if (type === TYPE.A) return `${[...rdata].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = rdata.length - 1; i >= 0; i--) nibbles.push((rdata[i] & 0x0f).toString(16), (rdata[i] >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

/** RFC 2782 SRV RDATA; the target is written uncompressed, as the RFC requires. */
export function srvRdata(priority: number, weight: number, port: number, target: Buffer): Buffer {
  const head = Buffer.allocUnsafe(6);
  head.writeUInt16BE(priority, 0);
  head.writeUInt16BE(weight, 2);
  head.writeUInt16BE(port, 4);
  return Buffer.concat([head, target]);
}

/** TXT RDATA: each string length-prefixed; every string must be at most 255 bytes. */
export function txtRdata(strings: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const text of strings) {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > 255) throw new Error(`TXT string longer than 255 bytes: ${text.slice(0, 40)}…`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  return Buffer.concat(parts);
}

export function soaRdata(
  mname: Buffer,
  rname: Buffer,
  serial: number,
  refresh: number,
  retry: number,
  expire: number,
  minimum: number,
): Buffer {
  const numbers = Buffer.allocUnsafe(20);
  numbers.writeUInt32BE(serial >>> 0, 0);
  numbers.writeUInt32BE(refresh, 4);
  numbers.writeUInt32BE(retry, 8);
  numbers.writeUInt32BE(expire, 12);
  numbers.writeUInt32BE(minimum, 16);
  return Buffer.concat([mname, rname, numbers]);
}

function ipv6Bytes(address: string): Buffer {
  // Expands `::` and an embedded IPv4 tail; the HTTP layer has already checked it is a literal.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(missing).fill('0'), ...tailGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}
