// The records of a large service, kept up to date one instance at a time: a change to one instance
// costs O(its records + log n) here, where a rebuild (records.ts) costs O(the service).
//
// The fragments (records.ts's InstanceRecords, encoded by the same code) live in one buffer of
// the service with free space: a removed instance's bytes go to a free list by size, which the next
// instance of that size takes (in a large fleet most instances' fragments are one size), and the
// buffer doubles when full. Each instance has a slot: its row in the layout and draw weights that
// every live set of the service shares (live-set.ts). The service's set, and each tag's set at least
// as large as a live set is made for, are LiveSets; a smaller tag's set is built afresh (O(its
// size)) when one of its instances changes, as every set of a small service is.
import { RECORD_SETS } from '../../config/limits.ts';
import type { Answerable } from '../../registry/types.ts';
import { encodeName } from '../wire/names.ts';
import { LiveSet } from './live-set.ts';
import {
  AT_ADDRESS,
  AT_GLUE,
  AT_SRV,
  AT_TARGET,
  LAYOUT_STRIDE,
  buildRecordSet,
  instanceBytes,
  writeInstanceRecords,
  type InstanceRecords,
  type RecordSet,
  type ServiceRecords,
} from './records.ts';

/** Weight used for ordering a weight-0 instance, as records.ts's built sets have it. */
const ZERO_WEIGHT_DRAW = 1e-9;

interface TagMembers {
  slots: Set<number>;
  /** The tag's set while it is large; null: built from `slots` (`RecordSet` in byTag). */
  live: LiveSet | null;
}

/** What one instance's change did: the zone keeps its reverse index and `_tag` parents in step. */
export interface LiveChange {
  removed: InstanceRecords | undefined;
  added: InstanceRecords | undefined;
  /** A tag gained its first instance or lost its last: the `_tag.service` parents changed. */
  tagsChanged: boolean;
}

export class LiveServiceRecords implements ServiceRecords {
  readonly byId = new Map<string, InstanceRecords>();
  readonly byTag = new Map<string, RecordSet>();
  /** Instances whose fragments were encoded since start (the zone counts its work by it). */
  written = 0;
  readonly #service: string;
  readonly #ttl: number;
  readonly #suffix: Buffer;
  #bytes: Buffer;
  /** Bytes of `#bytes` handed out so far; fragments freed since wait in `#free`, by size. */
  #used = 0;
  readonly #free = new Map<number, number[]>();
  #freeBytes = 0;
  #layout: Int32Array;
  #drawWeight: Float64Array;
  /** Each slot's records (undefined: free), and the slot of each instance id. */
  readonly #slots: Array<InstanceRecords | undefined> = [];
  readonly #freeSlots: number[] = [];
  readonly #slotOf = new Map<string, number>();
  readonly #all: LiveSet;
  readonly #tags = new Map<string, TagMembers>();
  /** Tags whose instances came or went since the last `#settle`: only their sets are looked at then. */
  readonly #touched = new Set<string>();
  #tagsChanged = false;

  /** The records of `answerable` (at least one), of the service `service`. */
  constructor(service: string, answerable: readonly Answerable[], domain: string, ttl: number) {
    this.#service = service;
    this.#ttl = ttl;
    this.#suffix = encodeName(`instance.${domain}`);
    let bytes = 0;
    for (const { instance } of answerable) bytes += instanceBytes(instance, this.#suffix);
    // Room for a quarter more before the first doubling.
    this.#bytes = Buffer.allocUnsafeSlow(Math.ceil(bytes * 1.25) + 4096);
    const slots = Math.ceil(answerable.length * 1.25) + 16;
    this.#layout = new Int32Array(slots * LAYOUT_STRIDE);
    this.#drawWeight = new Float64Array(slots);
    this.#all = new LiveSet(service, this.#bytes, this.#layout, this.#drawWeight);
    this.sync(answerable);
  }

  get all(): RecordSet {
    return this.#all.set;
  }

  /** Too small for live records now, or fragmented: the zone builds the service's records afresh instead. */
  get needsRebuild(): boolean {
    return this.#all.set.count < RECORD_SETS.liveBelow || this.fragmented;
  }

  /** Half the buffer free, in fragments of sizes no newcomer had: a fresh build packs it again. */
  get fragmented(): boolean {
    return this.#freeBytes > this.#used / 2;
  }

  /** Brings one instance in line with the registry: `now` is it as DNS answers with it, or undefined (not answered with). */
  update(id: string, now: Answerable | undefined): LiveChange {
    const removed = this.byId.get(id);
    if (removed && now && removed.instance === now.instance && removed.weight === now.weight) return { removed: undefined, added: undefined, tagsChanged: false };
    if (removed) this.#remove(id);
    const added = now ? this.#put(now) : undefined;
    return { removed, added, tagsChanged: this.#settle() };
  }

  /** Brings every instance in line with `answerable` (all DNS answers with): O(n), but only changed instances are encoded. */
  sync(answerable: readonly Answerable[]): void {
    for (const entry of answerable) {
      const old = this.byId.get(entry.instance.id);
      if (old && old.instance === entry.instance && old.weight === entry.weight) continue;
      if (old) this.#remove(entry.instance.id);
      this.#put(entry);
    }
    // Every id of `answerable` is held now: any more are instances DNS no longer answers with.
    if (this.byId.size > answerable.length) {
      const current = new Set(answerable.map((entry) => entry.instance.id));
      for (const id of this.byId.keys()) if (!current.has(id)) this.#remove(id);
    }
    this.#settle();
  }

  #put({ instance, weight }: Answerable): InstanceRecords {
    const size = instanceBytes(instance, this.#suffix);
    const at = this.#allocate(size);
    const records = writeInstanceRecords(this.#bytes, at, instance, this.#suffix, this.#ttl, weight);
    // instanceBytes and writeInstanceRecords must agree: a fragment must never overrun its neighbour.
    if (records.end - at !== size) throw new Error(`records of ${this.#service}/${instance.id}: wrote ${records.end - at} bytes of ${size}`);
    this.written++;
    const slot = this.#freeSlots.pop() ?? this.#newSlot();
    const base = slot * LAYOUT_STRIDE;
    const layout = this.#layout;
    layout[base + AT_SRV] = records.start;
    layout[base + AT_SRV + 1] = layout[base + AT_GLUE] = records.srvEnd;
    layout[base + AT_GLUE + 1] = layout[base + AT_TARGET] = records.glueEnd;
    layout[base + AT_TARGET + 1] = layout[base + AT_ADDRESS] = records.targetEnd;
    layout[base + AT_ADDRESS + 1] = records.addressEnd;
    this.#drawWeight[slot] = weight === 0 ? ZERO_WEIGHT_DRAW : weight;
    this.#slots[slot] = records;
    this.#slotOf.set(instance.id, slot);
    this.byId.set(instance.id, records);
    // Glue whose owner is a 2-byte pointer to the target: the least it can take.
    const srvBytes = records.glueEnd - records.start + 2;
    this.#all.add(slot, records.priority, records.family, srvBytes);
    for (const key of tagKeys(records)) {
      let tag = this.#tags.get(key);
      if (!tag) {
        this.#tags.set(key, (tag = { slots: new Set(), live: null }));
        this.#tagsChanged = true;
      }
      tag.slots.add(slot);
      tag.live?.add(slot, records.priority, records.family, srvBytes);
      this.#touched.add(key);
    }
    return records;
  }

  #remove(id: string): void {
    const slot = this.#slotOf.get(id)!;
    const records = this.#slots[slot]!;
    this.#all.remove(slot, records.priority, records.family);
    for (const key of tagKeys(records)) {
      const tag = this.#tags.get(key)!;
      tag.slots.delete(slot);
      tag.live?.remove(slot, records.priority, records.family);
      this.#touched.add(key);
      if (tag.slots.size === 0) {
        this.#tags.delete(key);
        this.byTag.delete(key);
        this.#tagsChanged = true;
      }
    }
    const size = records.end - records.start;
    let free = this.#free.get(size);
    if (!free) this.#free.set(size, (free = []));
    free.push(records.start);
    this.#freeBytes += size;
    this.#slots[slot] = undefined;
    this.#freeSlots.push(slot);
    this.#slotOf.delete(id);
    this.byId.delete(id);
  }

  /**
   * The sets after a change, O(the tags touched): a tag's set turns live once it holds
   * RECORD_SETS.liveFrom records and back to built below RECORD_SETS.liveBelow (apart, so one
   * instance coming and going at the edge does not switch it each time); a built set whose records
   * changed is built again. Returns whether a tag came or went since the last call.
   */
  #settle(): boolean {
    for (const key of this.#touched) {
      const tag = this.#tags.get(key);
      if (!tag) continue;
      if (tag.live && tag.slots.size < RECORD_SETS.liveBelow) {
        tag.live = null;
      } else if (!tag.live && tag.slots.size >= RECORD_SETS.liveFrom) {
        tag.live = new LiveSet(this.#service, this.#bytes, this.#layout, this.#drawWeight);
        for (const slot of tag.slots) {
          const records = this.#slots[slot]!;
          tag.live.add(slot, records.priority, records.family, records.glueEnd - records.start + 2);
        }
      }
      if (tag.live) {
        tag.live.settle();
        this.byTag.set(key, tag.live.set);
      } else {
        this.byTag.set(key, buildRecordSet(this.#service, this.#bytes, Array.from(tag.slots, (slot) => this.#slots[slot]!)));
      }
    }
    this.#touched.clear();
    this.#all.settle();
    const changed = this.#tagsChanged;
    this.#tagsChanged = false;
    return changed;
  }

  /** Where a fragment of `size` bytes goes: a freed one of that size, else the end (the buffer doubled when full). */
  #allocate(size: number): number {
    const free = this.#free.get(size);
    const reused = free?.pop();
    if (reused !== undefined) {
      this.#freeBytes -= size;
      return reused;
    }
    if (this.#used + size > this.#bytes.length) this.#growBytes(Math.max(this.#bytes.length * 2, this.#used + size));
    const at = this.#used;
    this.#used += size;
    return at;
  }

  /** A larger buffer, fragments at the same offsets: every holder of the old one is pointed at it. */
  #growBytes(size: number): void {
    const bytes = Buffer.allocUnsafeSlow(size);
    this.#bytes.copy(bytes, 0, 0, this.#used);
    this.#bytes = bytes;
    for (const records of this.#slots) if (records) records.bytes = bytes;
    for (const set of this.byTag.values()) set.bytes = bytes;
    this.#moveSets();
  }

  #newSlot(): number {
    const slot = this.#slots.length;
    this.#slots.push(undefined);
    if (slot >= this.#drawWeight.length) {
      const layout = new Int32Array(this.#layout.length * 2);
      layout.set(this.#layout);
      const drawWeight = new Float64Array(this.#drawWeight.length * 2);
      drawWeight.set(this.#drawWeight);
      this.#layout = layout;
      this.#drawWeight = drawWeight;
      this.#moveSets();
    }
    return slot;
  }

  #moveSets(): void {
    this.#all.moveTo(this.#bytes, this.#layout, this.#drawWeight);
    for (const tag of this.#tags.values()) tag.live?.moveTo(this.#bytes, this.#layout, this.#drawWeight);
  }
}

const NO_TAGS: ReadonlySet<string> = new Set();

/** The keys of an instance's tag sets: its tags lower-cased, each once (a question's tag is lower-cased too). */
function tagKeys(records: InstanceRecords): ReadonlySet<string> {
  if (records.instance.tags.length === 0) return NO_TAGS;
  const keys = new Set<string>();
  for (const tag of records.instance.tags) keys.add(tag.toLowerCase());
  return keys;
}
