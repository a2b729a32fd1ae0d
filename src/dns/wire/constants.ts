// Numbers of the DNS wire format. dns2 supplies the registry of type, class and rcode numbers;
// the header flags and sizes are RFC 1035's and RFC 6891's.
import dns2 from 'dns2';

const { Packet } = dns2;

export const TYPE = {
  A: Packet.TYPE.A,
  NS: Packet.TYPE.NS,
  SOA: Packet.TYPE.SOA,
  PTR: Packet.TYPE.PTR,
  TXT: Packet.TYPE.TXT,
  AAAA: Packet.TYPE.AAAA,
  SRV: Packet.TYPE.SRV,
  OPT: Packet.TYPE.EDNS,
  IXFR: 251,
  AXFR: Packet.TYPE.AXFR,
  ANY: Packet.TYPE.ANY,
} as const;

export const CLASS_IN = Packet.CLASS.IN;

export const RCODE = {
  NOERROR: Packet.RCODE.NOERROR,
  FORMERR: Packet.RCODE.FORMERR,
  SERVFAIL: Packet.RCODE.SERVFAIL,
  NXDOMAIN: Packet.RCODE.NXDOMAIN,
  NOTIMP: Packet.RCODE.NOTIMP,
  REFUSED: Packet.RCODE.REFUSED,
  /** Extended (12-bit) rcode: carried half in the header, half in the OPT record. */
  BADVERS: Packet.RCODE.BADVERS,
} as const;

/** Header rcode (0-15) → its name; rcodes Signpost never sends keep their number. */
export const RCODE_NAMES: readonly string[] = Array.from(
  { length: 16 },
  (_, code) => Object.entries(RCODE).find(([, value]) => value === code)?.[0] ?? String(code),
);

/** Header flags as bits of the 16-bit flags field (header bytes 2-3). */
export const FLAG = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  CD: 0x0010,
} as const;

/** Bits of the opcode inside the flags field. */
export const OPCODE_MASK = 0x7800;

export const HEADER_BYTES = 12;
/** Offset of the question name in every message: the target of every owner-name pointer. */
export const QUESTION_NAME_OFFSET = 12;
/** The size of the OPT record Signpost sends: root owner, type, class, TTL, empty RDATA. */
export const OPT_RECORD_BYTES = 11;
/** Compression pointers carry 14 bits of offset. */
export const MAX_POINTER_OFFSET = 0x3fff;
/** A name is at most 255 bytes on the wire (RFC 1035 §2.3.4), a label at most 63. */
export const MAX_NAME_BYTES = 255;
export const MAX_LABEL_BYTES = 63;

/** The 16-bit number at `offset`. */
export function u16(buf: Uint8Array, offset: number): number {
  return (buf[offset] << 8) | buf[offset + 1];
}

/** The 32-bit unsigned number at `offset`. */
export function u32(buf: Uint8Array, offset: number): number {
  return ((buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]) >>> 0;
}

/** The rcode of a message's header (the low 4 bits of byte 3). */
export function rcodeOf(message: Uint8Array): number {
  return message[3] & 0x0f;
}
