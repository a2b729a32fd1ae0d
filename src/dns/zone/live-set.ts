// A large record set kept up to date one record at a time: adding or removing a record costs
// O(log n) (a weight-tree update) plus O(its priority tiers), never a rebuild of the set.
//
// answer/ reads it as any RecordSet (records.ts), with two differences it does not see: records are
// numbered by slots of their service (live-records.ts), which need not be contiguous nor in
// priority order, and the SRV order is drawn from the set's tiers in turn (`srvTree`). Each priority
// tier keeps its members in three pools (every record, the IPv4 ones, the IPv6 ones), each a packed
// array of slots with a one-tier weight tree over the same positions: a record leaves its pool by
// swapping in the pool's last member (two tree updates), and the A/AAAA answers are the best tier's
// pool of that family, as built sets have them.
import { WeightTree, type OrderSource } from './weight-tree.ts';
import type { RecordSet } from './records.ts';

/** Slots of a pool's members in positions [0, count), with their weights in a tree over the same positions. */
export class Pool {
  members = new Int32Array(16);
  readonly tree = new WeightTree([], Int32Array.of(0), 16);

  get count(): number {
    return this.tree.count;
  }

  /** The members as a RecordSet's `v4`/`v6` list (a view, made when the pool changes). */
  view(): Int32Array {
    return this.members.subarray(0, this.count);
  }

  /** Adds `slot` at the end; `positions[slot]` says where it is. */
  add(slot: number, weight: number, positions: Int32Array): void {
    if (this.count === this.members.length) {
      const grown = new Int32Array(this.members.length * 2);
      grown.set(this.members);
      this.members = grown;
    }
    positions[slot] = this.count;
    this.members[this.count] = slot;
    this.tree.push(weight);
  }

  /** Removes `slot`: the last member takes its position. */
  remove(slot: number, positions: Int32Array): void {
    const position = positions[slot];
    const last = this.count - 1;
    if (position !== last) {
      const moved = this.members[last];
      this.members[position] = moved;
      positions[moved] = position;
      this.tree.set(position, this.tree.weightAt(last));
    }
    this.tree.pop();
  }
}

export interface Tier {
  priority: number;
  all: Pool;
  v4: Pool;
  v6: Pool;
}

const NONE = new Int32Array(0);

/** The SRV order of a live set: its tiers by priority, each drawn by weight. */
export class TieredOrder implements OrderSource {
  readonly tiers: Tier[];

  constructor(tiers: Tier[]) {
    this.tiers = tiers;
  }

  get count(): number {
    let count = 0;
    for (const tier of this.tiers) count += tier.all.count;
    return count;
  }

  draw(order: Int32Array, limit: number, into = 0): number {
    let drawn = 0;
    for (const tier of this.tiers) {
      if (drawn >= limit) break;
      const from = into + drawn;
      const n = tier.all.tree.draw(order, limit - drawn, from);
      const members = tier.all.members;
      for (let i = from; i < from + n; i++) order[i] = members[order[i]];
      drawn += n;
    }
    return drawn;
  }
}

export class LiveSet {
  /** What answer/ reads; its fields are brought up to date in place by `add` and `remove`. */
  readonly set: RecordSet;
  /** By priority, ascending. */
  readonly #tiers: Tier[] = [];
  /** Per slot: its position in its tier's `all` pool, and in its tier's pool of its address family. */
  #allPositions = new Int32Array(64);
  #familyPositions = new Int32Array(64);

  constructor(service: string, bytes: Buffer, layout: Int32Array, drawWeight: Float64Array) {
    this.set = {
      service,
      count: 0,
      bytes,
      layout,
      drawWeight,
      // Unused: answer/ draws a live set's SRV order from its tiers (`srvTree`), never by these bounds.
      srvGroupEnds: NONE,
      v4: NONE,
      v6: NONE,
      srvOrders: null,
      v4Orders: null,
      v6Orders: null,
      srvTree: new TieredOrder(this.#tiers),
      v4Tree: null,
      v6Tree: null,
      minSrvBytes: Infinity,
    };
  }

  /**
   * Adds the record in `slot` (its fragments already in `bytes`, its layout and draw weight already
   * written at `slot`), of priority `priority` and address family `family`; `srvBytes` is the least
   * its SRV answer and glue take.
   */
  add(slot: number, priority: number, family: 4 | 6, srvBytes: number): void {
    if (slot >= this.#allPositions.length) this.#growPositions(slot);
    const tier = this.#tier(priority, true)!;
    const weight = this.set.drawWeight[slot];
    tier.all.add(slot, weight, this.#allPositions);
    (family === 4 ? tier.v4 : tier.v6).add(slot, weight, this.#familyPositions);
    this.set.count++;
    // Only ever lowered: a bound that is too low draws a record more, never one too few.
    this.set.minSrvBytes = Math.min(this.set.minSrvBytes, srvBytes);
  }

  /** Removes the record in `slot`, added with `priority` and `family`. */
  remove(slot: number, priority: number, family: 4 | 6): void {
    const tier = this.#tier(priority, false)!;
    tier.all.remove(slot, this.#allPositions);
    (family === 4 ? tier.v4 : tier.v6).remove(slot, this.#familyPositions);
    if (tier.all.count === 0) this.#tiers.splice(this.#tiers.indexOf(tier), 1);
    this.set.count--;
  }

  /** Points the set at its service's grown buffers (live-records.ts). */
  moveTo(bytes: Buffer, layout: Int32Array, drawWeight: Float64Array): void {
    this.set.bytes = bytes;
    this.set.layout = layout;
    this.set.drawWeight = drawWeight;
  }

  /** The tier of `priority`, made (in order) if `create` and there is none. */
  #tier(priority: number, create: boolean): Tier | undefined {
    let at = 0;
    while (at < this.#tiers.length && this.#tiers[at].priority < priority) at++;
    if (at < this.#tiers.length && this.#tiers[at].priority === priority) return this.#tiers[at];
    if (!create) return undefined;
    const tier: Tier = { priority, all: new Pool(), v4: new Pool(), v6: new Pool() };
    this.#tiers.splice(at, 0, tier);
    return tier;
  }

  /**
   * After adds and removes, before the next query: A and AAAA answers hold the best (lowest)
   * priority tier that has an address of their family. O(tiers), so once per change, not per record.
   */
  settle(): void {
    const set = this.set;
    const v4 = this.#tiers.find((tier) => tier.v4.count > 0)?.v4;
    const v6 = this.#tiers.find((tier) => tier.v6.count > 0)?.v6;
    set.v4 = v4 ? v4.view() : NONE;
    set.v4Tree = v4 ? v4.tree : null;
    set.v6 = v6 ? v6.view() : NONE;
    set.v6Tree = v6 ? v6.tree : null;
  }

  #growPositions(slot: number): void {
    let size = this.#allPositions.length;
    while (size <= slot) size *= 2;
    const all = new Int32Array(size);
    all.set(this.#allPositions);
    const family = new Int32Array(size);
    family.set(this.#familyPositions);
    this.#allPositions = all;
    this.#familyPositions = family;
  }
}
