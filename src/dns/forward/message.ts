// The messages Signpost exchanges with upstream resolvers: the query it sends, and a bounded
// reading of the reply.
//
// A reply comes from the network, so it is read by this hand-written walk rather than by dns2's
// `Packet.parse`: dns2 follows compression pointers with no bound on jumps (one hostile 64 KiB
// message cost it seconds), and what the cache needs is positional anyway:
// where each record and its TTL field are, the rcode, the SOA minimum, where the OPT record starts.
// Skipping a name never needs to follow a pointer (a pointer ends the name where it stands), so
// the walk is one pass over the bytes, each record at least 11 of them: O(length), whatever the
// counts in the header claim.
import { DNS_LIMITS } from '../../config/limits.ts';
import { CLASS_IN, FLAG, HEADER_BYTES, OPCODE_MASK, RCODE, TYPE, u16 } from '../wire/constants.ts';
import { writeOpt } from '../wire/encode.ts';
import { equalsFolded } from '../wire/names.ts';
/** An SOA's RDATA is at least two names (one byte each at their shortest) and five 32-bit numbers. */
const MIN_SOA_RDATA = 2 + 20;
/** RFC 2181 §8: a TTL with the top bit set is to be read as zero. */
const MAX_TTL = 0x7fffffff;

/**
 * An upstream query: a fresh ID, RD, the question, and an OPT record offering our UDP size.
 * `question` is the wire name, QTYPE and QCLASS. DO is not set: Signpost does not validate DNSSEC,
 * so it does not ask for signatures it would only pass along unchecked.
 */
export function buildUpstreamQuery(id: number, question: Buffer): Buffer {
  const message = Buffer.alloc(HEADER_BYTES + question.length + 11);
  message.writeUInt16BE(id, 0);
  message[2] = FLAG.RD >> 8;
  message.writeUInt16BE(1, 4);
  message.writeUInt16BE(1, 10);
  question.copy(message, HEADER_BYTES);
  writeOpt(message, HEADER_BYTES + question.length, DNS_LIMITS.maxEdnsUdpBytes, 0, false);
  return message;
}

/**
 * Is `reply` the answer to our query `id` for `question`? A response (QR) to a standard query,
 * with our ID and exactly our question: the same name ignoring ASCII case, written as plain labels
 * (a reply has no earlier name a pointer could lawfully reach), the same type and class.
 * Anything else is someone else's packet, or a forgery, and is ignored.
 */
export function isReplyTo(reply: Buffer, id: number, question: Buffer): boolean {
  if (reply.length < HEADER_BYTES + question.length) return false;
  const flags = u16(reply, 2);
  if (u16(reply, 0) !== id || (flags & FLAG.QR) === 0 || (flags & OPCODE_MASK) !== 0) return false;
  if (u16(reply, 4) !== 1) return false;
  // The name without regard to ASCII case; QTYPE and QCLASS exactly (type 65, HTTPS, is an "A" byte).
  const nameBytes = question.length - 4;
  if (!equalsFolded(reply, HEADER_BYTES, question, 0, nameBytes)) return false;
  for (let i = nameBytes; i < question.length; i++) if (reply[HEADER_BYTES + i] !== question[i]) return false;
  return true;
}

export function isTruncated(reply: Buffer): boolean {
  return (u16(reply, 2) & FLAG.TC) !== 0;
}

/** What the cache keeps of a reply. */
export interface UpstreamReply {
  /** The header's 4-bit rcode. */
  rcode: number;
  /** The answer, authority and additional records up to (not including) the OPT record, as sent. */
  records: Buffer;
  answers: number;
  authorities: number;
  additionals: number;
  /** Where each record's TTL field is inside `records`, and its value. */
  ttlOffsets: number[];
  ttls: number[];
  /** RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of an SOA in the authority section; null without one. */
  negativeTtl: number | null;
}

/**
 * Reads a reply whose question (ending at `questionEnd`) `isReplyTo` has checked. Returns null for
 * a malformed one. The upstream's OPT record, and any additional record after it, is dropped:
 * Signpost writes its own OPT for each client, and additional records are optional data.
 * Record bytes are kept as sent, compression pointers included; they stay valid because every
 * reply built from them puts a question of the same length at the same offset.
 */
export function readReply(reply: Buffer, questionEnd: number): UpstreamReply | null {
  const counts = [reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)];
  const kept = [0, 0, 0];
  const ttlOffsets: number[] = [];
  const ttls: number[] = [];
  let negativeTtl: number | null = null;
  let pos = questionEnd;
  walk: for (let section = 0; section < 3; section++) {
    for (let i = 0; i < counts[section]; i++) {
      const nameEnd = skipName(reply, pos);
      if (nameEnd < 0 || nameEnd + 10 > reply.length) return null;
      const type = reply.readUInt16BE(nameEnd);
      const rdataStart = nameEnd + 10;
      const rdataEnd = rdataStart + reply.readUInt16BE(nameEnd + 8);
      if (rdataEnd > reply.length) return null;
      if (type === TYPE.OPT) {
        if (section !== 2) return null;
        break walk;
      }
      const ttl = readTtl(reply, nameEnd + 4);
      if (section === 1 && type === TYPE.SOA && reply.readUInt16BE(nameEnd + 2) === CLASS_IN && rdataEnd - rdataStart >= MIN_SOA_RDATA) {
        negativeTtl = Math.min(negativeTtl ?? MAX_TTL, ttl, readTtl(reply, rdataEnd - 4));
      }
      ttlOffsets.push(nameEnd + 4 - questionEnd);
      ttls.push(ttl);
      kept[section]++;
      pos = rdataEnd;
    }
  }
  return {
    rcode: reply[3] & 0x0f,
    records: reply.subarray(questionEnd, pos),
    answers: kept[0],
    authorities: kept[1],
    additionals: kept[2],
    ttlOffsets,
    ttls,
    negativeTtl,
  };
}

/** Is this rcode an answer about the name (cacheable, final), rather than the upstream failing? */
export function isAnswerRcode(rcode: number): boolean {
  return rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN;
}

/** The offset after the name at `pos`, or -1 if it is malformed or runs off the end. */
function skipName(buf: Buffer, pos: number): number {
  const start = pos;
  for (;;) {
    if (pos >= buf.length) return -1;
    const length = buf[pos];
    if (length === 0) return pos + 1;
    if ((length & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    // 0x40 and 0x80 label types are unassigned (RFC 6891 retired the extended ones).
    if (length & 0xc0) return -1;
    pos += length + 1;
    if (pos - start > 255) return -1;
  }
}

function readTtl(buf: Buffer, offset: number): number {
  const ttl = buf.readUInt32BE(offset);
  return ttl > MAX_TTL ? 0 : ttl;
}
