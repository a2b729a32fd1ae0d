// How registry instances become DNS records: the one place that says which records a name has.
// Everything here runs when the registry changes (lazily, on the first query after a change),
// never per query; the per-query work in answer/ only orders and copies these fragments.
import type { Answerable, Instance } from '../../registry/types.ts';
import { TYPE } from '../wire/constants.ts';
import { addressRdata, answerFragment, recordTail, srvRdata, txtRdata } from '../wire/encode.ts';
import { encodeName } from '../wire/names.ts';
import type { WeightTree } from './weight-tree.ts';

/**
 * One instance's records, as fragments ready to copy, back to back in one buffer: the SRV answer
 * (owner = question), the glue tail (the target's A/AAAA record without owner: written with a
 * pointer to the target), the target name, the A/AAAA answer, then one TXT answer per meta entry.
 * One buffer rather than one per fragment: a Buffer object costs about as much as the bytes it
 * holds, and a million instances made that half a gigabyte.
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
  /** Where the SRV answer, the glue tail, the target name and the address answer end (each starts where the one before ends). */
  srvEnd: number;
  glueEnd: number;
  targetEnd: number;
  addressEnd: number;
  /** TXT answers, one record per meta entry as a `key=value` string (RFC 1464), fill the rest of `bytes`. */
}

/** TXT answers of `records`: [start, end) pairs in `records.bytes`, found by their RDLENGTH. */
export function* txtAnswers(records: InstanceRecords): Generator<[number, number]> {
  const { bytes } = records;
  for (let at = records.addressEnd; at < bytes.length; ) {
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
   * (weight-tree.ts), built on first use after a change; null: not built yet.
   */
  srvTree: WeightTree | null;
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
 * publishes. The fragments of instances unchanged since `previous` are reused, so a change to one
 * instance of a large service re-encodes one instance, not all of them.
 */
export function buildServiceRecords(
  answerable: readonly Answerable[],
  domain: string,
  ttl: number,
  previous: ServiceRecords | null = null,
): ServiceRecords | null {
  if (answerable.length === 0) return null;
  const byId = new Map<string, InstanceRecords>();
  const tagged = new Map<string, InstanceRecords[]>();
  const all: InstanceRecords[] = [];
  for (const { instance, weight } of answerable) {
    const known = previous?.byId.get(instance.id);
    const records = known && known.instance === instance && known.weight === weight ? known : buildInstanceRecords(instance, domain, ttl, weight);
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
  }
  const byTag = new Map<string, RecordSet>();
  const service = answerable[0].instance.service;
  for (const [tag, list] of tagged) byTag.set(tag, buildRecordSet(service, list));
  return { all: buildRecordSet(service, all), byTag, byId };
}

function buildInstanceRecords(instance: Instance, domain: string, ttl: number, weight: number): InstanceRecords {
  const target = encodeName(instanceTargetName(instance, domain));
  const { type, rdata } = addressRdata(instance.address);
  const srv = answerFragment(TYPE.SRV, ttl, srvRdata(instance.priority, weight, instance.port, target));
  const glueTail = recordTail(type, ttl, rdata);
  const address = answerFragment(type, ttl, rdata);
  const txt = Object.entries(instance.meta).map(([key, value]) => answerFragment(TYPE.TXT, ttl, txtRdata([`${key}=${value}`])));
  const srvEnd = srv.length;
  const glueEnd = srvEnd + glueTail.length;
  const targetEnd = glueEnd + target.length;
  return {
    instance,
    priority: instance.priority,
    weight,
    family: type === TYPE.A ? 4 : 6,
    bytes: Buffer.concat([srv, glueTail, target, address, ...txt]),
    srvEnd,
    glueEnd,
    targetEnd,
    addressEnd: targetEnd + address.length,
  };
}

function buildRecordSet(service: string, records: InstanceRecords[]): RecordSet {
  const sorted = [...records].sort((a, b) => a.priority - b.priority);
  const count = sorted.length;
  const layout = new Int32Array(count * LAYOUT_STRIDE);
  const drawWeight = new Float64Array(count);
  let total = 0;
  for (const record of sorted) total += record.addressEnd;
  const bytes = Buffer.allocUnsafe(total);
  let offset = 0;
  const groupEnds: number[] = [];
  let minSrvBytes = Infinity;
  sorted.forEach((record, i) => {
    // Glue whose owner is a 2-byte pointer to the target: the least it can take.
    minSrvBytes = Math.min(minSrvBytes, record.glueEnd + 2);
    // The four fragments are adjacent in the instance's buffer: one copy, four layout ranges.
    const base = i * LAYOUT_STRIDE;
    layout[base + AT_SRV] = offset;
    layout[base + AT_SRV + 1] = layout[base + AT_GLUE] = offset + record.srvEnd;
    layout[base + AT_GLUE + 1] = layout[base + AT_TARGET] = offset + record.glueEnd;
    layout[base + AT_TARGET + 1] = layout[base + AT_ADDRESS] = offset + record.targetEnd;
    layout[base + AT_ADDRESS + 1] = offset + record.addressEnd;
    offset += record.bytes.copy(bytes, offset, 0, record.addressEnd);
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
