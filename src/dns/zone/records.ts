// How registry instances become DNS records: the one place that says which records a name has.
// Everything here runs when the registry changes (lazily, on the first query after a change),
// never per query; the per-query work in answer/ only orders and copies these fragments.
import type { Answerable, Instance } from '../../registry/types.ts';
import { TYPE } from '../wire/constants.ts';
import { addressRdata, writeRecordHead } from '../wire/encode.ts';
import { encodeName } from '../wire/names.ts';
import type { OrderSource, WeightTree } from './weight-tree.ts';

/**
 * One instance's records, as fragments ready to copy, back to back in the buffer of its service's
 * records (`ServiceRecords.all.bytes`), in this order: the SRV answer (owner = question), the glue
 * tail (the target's A/AAAA record without owner: written with a pointer to the target), the
 * target name, the A/AAAA answer, then one TXT answer per meta entry (RFC 1464 `key=value`).
 * One buffer per service rather than one per fragment: a Buffer object costs about as much as the
 * bytes it holds, and a million instances made that a gigabyte.
 */
export interface InstanceRecords {
  /** What they were built from: reused while the registry keeps the same instance object and weight. */
  instance: Instance;
  priority: number;
  /** The weight DNS publishes and orders by. */
  weight: number;
  /** 4 or 6. */
  family: 4 | 6;
  bytes: Buffer;
  /** Where the fragments start, where the SRV answer, glue tail, target name and address answer end, and where the TXT answers end. */
  start: number;
  srvEnd: number;
  glueEnd: number;
  targetEnd: number;
  addressEnd: number;
  end: number;
}

/** TXT answers of `records`: [start, end) pairs in `records.bytes`, found by their RDLENGTH. */
export function* txtAnswers(records: InstanceRecords): Generator<[number, number]> {
  const { bytes } = records;
  for (let at = records.addressEnd; at < records.end; ) {
    // Owner pointer, type, class, TTL, then RDLENGTH.
    const end = at + 12 + bytes.readUInt16BE(at + 10);
    yield [at, end];
    at = end;
  }
}

/** The SRV target name of `records`, for a PTR record (made on the rare path of reverse lookups). */
export function targetName(records: InstanceRecords): Buffer {
  return records.bytes.subarray(records.glueEnd, records.targetEnd);
}

/**
 * Every weighted order of a small record set's answer, built once (preassembled.ts): a query draws
 * one by its probability and copies one block.
 */
export interface Preassembled {
  /** Cumulative probability of each order, ascending; the last is 1. */
  cumulative: Float64Array;
  /** Every order's bytes back to back: answers, then (for SRV) the glue records. */
  bodies: Buffer;
  /** Order k's bytes are bodies[bodyStart[k], bodyStart[k + 1]). */
  bodyStart: Int32Array;
  /** Order k's bytes as a view made once, so a query copies them with one TypedArray#set and makes no object. */
  bodyViews: Buffer[];
  /** Per order, per glue record: [where its owner pointer goes, where the SRV target it points to is], relative to the body. */
  pointers: Int32Array;
  answers: number;
  glue: number;
}

/**
 * A set of instances answered together (a service, or one tag of it), laid out for the query path:
 * every fragment back to back in one buffer, and typed arrays saying where each record's pieces
 * are. A query then touches a handful of contiguous objects instead of a few per instance, which
 * matters more than instruction counts once the kernel's packet work has cooled the CPU caches.
 *
 * Records are numbered in SRV order: by priority ascending, `srvGroupEnds` marking where each
 * priority tier ends.
 */
export interface RecordSet {
  /** The service the records belong to. */
  service: string;
  count: number;
  bytes: Buffer;
  /** Per record, `LAYOUT_STRIDE` numbers: see the `AT_*` offsets. */
  layout: Int32Array;
  /** The weight ordering draws with; zero weights get a tiny one (RFC 2782: "a very small chance"). */
  drawWeight: Float64Array;
  srvGroupEnds: Int32Array;
  /** A and AAAA answers hold only the best (lowest) priority tier of their address family: record numbers. */
  v4: Int32Array;
  v6: Int32Array;
  /**
   * Every order pre-assembled (preassembled.ts) for SRV, A and AAAA answers, built on first use for small
   * sets; null: not built yet. Fields of the set itself, not of a nested cache object: one pointer
   * less to follow per query, which counts once the kernel's packet work has cooled the caches.
   */
  srvOrders: Preassembled | null;
  v4Orders: Preassembled | null;
  v6Orders: Preassembled | null;
  /**
   * For large sets, the weights as trees that draw an order only as far as an answer can hold
   * (weight-tree.ts), built on first use after a change; null: not built yet. A live set
   * (live-set.ts) has them always, kept up to date as its records change.
   */
  srvTree: OrderSource | null;
  v4Tree: WeightTree | null;
  v6Tree: WeightTree | null;
  /** The fewest bytes an SRV answer with its glue takes here: bounds how many records can fit. */
  minSrvBytes: number;
}

/** Where, in `RecordSet.bytes`, a record's SRV answer, glue tail, target name and address answer start and end. */
export const LAYOUT_STRIDE = 8;
export const AT_SRV = 0;
export const AT_GLUE = 2;
export const AT_TARGET = 4;
export const AT_ADDRESS = 6;

export interface ServiceRecords {
  all: RecordSet;
  byTag: Map<string, RecordSet>;
  byId: Map<string, InstanceRecords>;
}

/** Offset of the target name inside an SRV answer fragment: pointer, type, class, TTL, rdlength, then 6 bytes. */
export const SRV_TARGET_OFFSET = 2 + 2 + 2 + 4 + 2 + 6;

/** Weight used for ordering a weight-0 instance: it sorts after every weighted one, randomly among its peers. */
const ZERO_WEIGHT_DRAW = 1e-9;

export function instanceTargetName(instance: Pick<Instance, 'id' | 'service'>, domain: string): string {
  return `${instance.id}.${instance.service}.instance.${domain}`;
}

/**
 * Builds the records of a service from the instances DNS may answer with, at the weights it
 * publishes. The fragments of instances unchanged since `previous` are copied, not encoded again
 * (and keep their InstanceRecords object), so a change to one instance of a large service encodes
 * one instance, not all of them. Every set (the service, each tag) is laid out over one buffer.
 */
export function buildServiceRecords(
  answerable: readonly Answerable[],
  domain: string,
  ttl: number,
  previous: ServiceRecords | null = null,
): ServiceRecords | null {
  if (answerable.length === 0) return null;
  const suffix = encodeName(`instance.${domain}`);
  // In SRV order (by priority), which is the order of the fragments in the buffer.
  const sorted = [...answerable].sort((a, b) => a.instance.priority - b.instance.priority);
  const known: Array<InstanceRecords | undefined> = new Array(sorted.length);
  let total = 0;
  sorted.forEach(({ instance, weight }, i) => {
    const old = previous?.byId.get(instance.id);
    if (old && old.instance === instance && old.weight === weight) {
      known[i] = old;
      total += old.end - old.start;
    } else {
      total += instanceBytes(instance, suffix);
    }
  });
  const bytes = Buffer.allocUnsafeSlow(total);
  const byId = new Map<string, InstanceRecords>();
  const tagged = new Map<string, InstanceRecords[]>();
  const all: InstanceRecords[] = [];
  let offset = 0;
  // Unchanged instances lie in the old buffer in the same order, mostly back to back: their bytes
  // are copied a run at a time (one native call for thousands of instances, not one each).
  let run: Buffer | null = null;
  let runStart = 0;
  let runEnd = 0;
  let runTo = 0;
  const flush = () => {
    if (run) run.copy(bytes, runTo, runStart, runEnd);
    run = null;
  };
  sorted.forEach(({ instance, weight }, i) => {
    let records = known[i];
    if (records) {
      // Moved into the new buffer; the object stays, so indexes keyed by it (PTR) need no update.
      const length = records.end - records.start;
      if (run !== records.bytes || runEnd !== records.start) {
        flush();
        run = records.bytes;
        runStart = records.start;
        runTo = offset;
      }
      runEnd = records.end;
      const shift = offset - records.start;
      records.bytes = bytes;
      records.start += shift;
      records.srvEnd += shift;
      records.glueEnd += shift;
      records.targetEnd += shift;
      records.addressEnd += shift;
      records.end += shift;
      offset += length;
    } else {
      flush();
      records = writeInstanceRecords(bytes, offset, instance, suffix, ttl, weight);
      offset = records.end;
    }
    byId.set(instance.id, records);
    all.push(records);
    for (const tag of instance.tags) {
      // Tags registered through the Consul API keep their case (and may be no DNS label at all,
      // never asked for then): a question's tag, lower-cased, finds them whatever their case.
      const key = tag.toLowerCase();
      let list = tagged.get(key);
      if (!list) tagged.set(key, (list = []));
      if (list[list.length - 1] !== records) list.push(records);
    }
  });
  flush();
  // instanceBytes and writeInstanceRecords must agree: uninitialised bytes must never reach an answer.
  if (offset !== total) throw new Error(`records of ${answerable[0].instance.service}: wrote ${offset} bytes of ${total}`);
  const byTag = new Map<string, RecordSet>();
  const service = answerable[0].instance.service;
  for (const [tag, list] of tagged) byTag.set(tag, buildRecordSet(service, bytes, list));
  return { all: buildRecordSet(service, bytes, all), byTag, byId };
}

/** Bytes of one instance's fragments (see InstanceRecords), its target name being `<id>.<service>.` + `suffix`. */
export function instanceBytes(instance: Instance, suffix: Buffer): number {
  const target = 2 + instance.id.length + instance.service.length + suffix.length;
  const address = instance.address.includes(':') ? 16 : 4;
  let txt = 0;
  for (const key in instance.meta) txt += 2 + 10 + 1 + Buffer.byteLength(`${key}=${instance.meta[key]}`, 'utf8');
  return 2 + 10 + 6 + target + (10 + address) + target + (2 + 10 + address) + txt;
}

/** Encodes one instance's fragments into `out` at `at`, without an intermediate buffer. */
export function writeInstanceRecords(out: Buffer, at: number, instance: Instance, suffix: Buffer, ttl: number, weight: number): InstanceRecords {
  const { type, rdata } = addressRdata(instance.address);
  const start = at;
  // The target name, written first where the SRV answer will hold it, then copied after the glue.
  const targetLength = 2 + instance.id.length + instance.service.length + suffix.length;
  at = writeRecordHead(out, at, true, TYPE.SRV, ttl, 6 + targetLength);
  out.writeUInt16BE(instance.priority, at);
  out.writeUInt16BE(weight, at + 2);
  out.writeUInt16BE(instance.port, at + 4);
  const targetAt = at + 6;
  at = writeLabel(out, targetAt, instance.id);
  at = writeLabel(out, at, instance.service);
  at += suffix.copy(out, at);
  const srvEnd = at;
  at = writeRecordHead(out, at, false, type, ttl, rdata.length);
  at += rdata.copy(out, at);
  const glueEnd = at;
  at += out.copy(out, at, targetAt, targetAt + targetLength);
  const targetEnd = at;
  at = writeRecordHead(out, at, true, type, ttl, rdata.length);
  at += rdata.copy(out, at);
  const addressEnd = at;
  for (const key in instance.meta) {
    const text = `${key}=${instance.meta[key]}`;
    const length = Buffer.byteLength(text, 'utf8');
    if (length > 255) throw new Error(`TXT string longer than 255 bytes: ${text.slice(0, 40)}…`);
    at = writeRecordHead(out, at, true, TYPE.TXT, ttl, 1 + length);
    out[at++] = length;
    at += out.write(text, at, 'utf8');
  }
  return { instance, priority: instance.priority, weight, family: type === TYPE.A ? 4 : 6, bytes: out, start, srvEnd, glueEnd, targetEnd, addressEnd, end: at };
}

/** A label (a DNS label already: lower case, at most 63 bytes) with its length byte. */
function writeLabel(out: Buffer, at: number, label: string): number {
  out[at] = label.length;
  return at + 1 + out.write(label, at + 1, 'latin1');
}

/** A set of `records`, whose fragments are all in `bytes`: layout, weights and tiers, in SRV order. */
export function buildRecordSet(service: string, bytes: Buffer, records: InstanceRecords[]): RecordSet {
  const sorted = records.every((record, i) => i === 0 || records[i - 1].priority <= record.priority) ? records : [...records].sort((a, b) => a.priority - b.priority);
  const count = sorted.length;
  const layout = new Int32Array(count * LAYOUT_STRIDE);
  const drawWeight = new Float64Array(count);
  const groupEnds: number[] = [];
  let minSrvBytes = Infinity;
  sorted.forEach((record, i) => {
    // Glue whose owner is a 2-byte pointer to the target: the least it can take.
    minSrvBytes = Math.min(minSrvBytes, record.glueEnd - record.start + 2);
    const base = i * LAYOUT_STRIDE;
    layout[base + AT_SRV] = record.start;
    layout[base + AT_SRV + 1] = layout[base + AT_GLUE] = record.srvEnd;
    layout[base + AT_GLUE + 1] = layout[base + AT_TARGET] = record.glueEnd;
    layout[base + AT_TARGET + 1] = layout[base + AT_ADDRESS] = record.targetEnd;
    layout[base + AT_ADDRESS + 1] = record.addressEnd;
    drawWeight[i] = record.weight === 0 ? ZERO_WEIGHT_DRAW : record.weight;
    if (i === count - 1 || sorted[i + 1].priority !== record.priority) groupEnds.push(i + 1);
  });
  return {
    service,
    count,
    bytes,
    layout,
    drawWeight,
    srvGroupEnds: Int32Array.from(groupEnds),
    v4: bestTier(sorted, 4),
    v6: bestTier(sorted, 6),
    srvOrders: null,
    v4Orders: null,
    v6Orders: null,
    srvTree: null,
    v4Tree: null,
    v6Tree: null,
    minSrvBytes,
  };
}

/** Record numbers (in SRV order) of the lowest-priority tier of one address family. */
function bestTier(sorted: InstanceRecords[], family: 4 | 6): Int32Array {
  const numbers: number[] = [];
  sorted.forEach((record, i) => {
    if (record.family !== family) return;
    if (numbers.length > 0 && record.priority !== sorted[numbers[0]].priority) return;
    numbers.push(i);
  });
  return Int32Array.from(numbers);
}
