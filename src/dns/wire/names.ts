// Names on the wire, compared and hashed without regard to ASCII case (RFC 4343: only A-Z fold;
// other bytes are compared as they are). These run per query, so they work on bytes and make no
// strings, except `FoldedKeys`, which makes map keys where a map is the right tool.
import { Buffer } from 'node:buffer';
import { MAX_LABEL_BYTES, MAX_NAME_BYTES } from './constants.ts';

/** A byte with A-Z folded to a-z. */
export function foldCase(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

/** FNV-1a: the seed, and one step folding a byte (or a number such as the query type) into a hash. */
export const HASH_SEED = 0x811c9dc5;
export function hashStep(hash: number, value: number): number {
  return Math.imul(hash ^ value, 0x01000193);
}

/** FNV-1a over `buf[start, end)` with ASCII case folded, continuing from `hash`; unsigned. */
export function hashFolded(buf: Uint8Array, start: number, end: number, hash = HASH_SEED): number {
  for (let i = start; i < end; i++) hash = hashStep(hash, foldCase(buf[i]));
  return hash >>> 0;
}

/**
 * Does `buf[start, start + length)` equal `lower[lowerStart, lowerStart + length)` (lower case)
 * without regard to ASCII case? By default all of `lower`.
 */
export function equalsFolded(buf: Uint8Array, start: number, lower: Uint8Array, lowerStart = 0, length = lower.length): boolean {
  for (let i = 0; i < length; i++) if (foldCase(buf[start + i]) !== lower[lowerStart + i]) return false;
  return true;
}

/** Does the label at `offset` (its length byte) equal `lower` without regard to ASCII case? */
export function labelIs(buf: Uint8Array, offset: number, lower: Uint8Array): boolean {
  return buf[offset] === lower.length && equalsFolded(buf, offset + 1, lower);
}

/** The label at `offset` as a lower-case string, less `skip` leading bytes (the `_` of RFC 2782 labels). */
export function labelText(buf: Buffer, offset: number, skip = 0): string {
  return buf.toString('latin1', offset + 1 + skip, offset + 1 + buf[offset]).toLowerCase();
}

/** `web.service.local` → wire format (length-prefixed labels, terminating zero), lower case. */
export function encodeName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length > MAX_LABEL_BYTES) throw new Error(`DNS label longer than ${MAX_LABEL_BYTES} bytes: ${label}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > MAX_NAME_BYTES) throw new Error(`DNS name longer than ${MAX_NAME_BYTES} bytes: ${name}`);
  return wire;
}

/**
 * Map keys for wire-format names: the name at [start, end) with ASCII letters folded, then
 * `trailing` raw bytes (a query type, say), as a latin1 string. One per owner: the scratch bytes
 * the key is assembled in are reused from call to call.
 */
export class FoldedKeys {
  readonly #scratch = Buffer.allocUnsafe(MAX_NAME_BYTES + 4);

  /** The caller has checked that the name is at most 255 bytes and `trailing` at most 4. */
  key(buf: Uint8Array, start: number, end: number, trailing = 0): string {
    const scratch = this.#scratch;
    const length = end - start;
    const total = length + trailing;
    // One loop for both parts: cheaper than a second native copy for a few bytes (this runs per cache hit).
    for (let i = 0; i < total; i++) scratch[i] = i < length ? foldCase(buf[start + i]) : buf[start + i];
    return scratch.toString('latin1', 0, total);
  }
}
