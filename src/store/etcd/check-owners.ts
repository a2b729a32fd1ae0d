// Which node runs which active checks, decided through etcd.
//
// Checks are split into shards by a hash of `service/id` (CHECK_OWNERSHIP.shards). A shard belongs to
// the node whose lease holds `owners/<shard>`: taken with a create-if-absent transaction, so at most
// one node holds it, and etcd deletes it when that node's lease lapses (the node died or lost etcd),
// which every node sees on its watch; the nodes that want the shard then race for it again. Each node
// has one owner lease for all its shards (one keep-alive, not one per check), and a `members/<lease>`
// key on it, so every node knows how many take part and takes about its share: with N nodes, a node
// holds at most ceil(shards with checks / N) while others are below that (it gives the surplus back
// when a node joins); a shard nobody below its share took within CHECK_OWNERSHIP.lateTakeMs is taken
// by anyone, so no shard stays without an owner.
//
// Why shards and not an election per check: 10,000 checks would be 10,000 keys and campaigns, and a
// dead owner's checks would be 10,000 deletions to react to; with shards both are bounded by the
// shard count, and a shard moves as one piece. Why not one leader for all checks: the probing load
// would all sit on one node.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { IKeyValue, Lease } from 'etcd3';
import { CHECK_OWNERSHIP } from '../../config/limits.ts';
import type { CheckCoordinator, CheckReport } from '../../registry/check-coordinator.ts';
import { StoreError } from '../../registry/store.ts';
import type { Instance } from '../../registry/types.ts';
import type { CheckResults } from './check-results.ts';
import { PROBE_INTERVAL_MS, type EtcdConnection } from './connection.ts';
import type { EtcdKeys } from './keys.ts';

/** The shard of a check: the same on every node (a hash of its name, not of anything local). */
export function shardOf(service: string, id: string): number {
  return createHash('sha1').update(`${service}/${id}`).digest().readUInt32BE(0) % CHECK_OWNERSHIP.shards;
}

type KeyEvent = ['Put' | 'Delete', IKeyValue];

export class EtcdCheckOwners implements CheckCoordinator {
  readonly #etcd: EtcdConnection;
  readonly #keys: EtcdKeys;
  readonly #results: CheckResults;
  /** What this node writes in its keys, for people reading etcd. */
  readonly #value: Buffer;
  #lease: Lease | undefined;
  /** Set once the lease is granted and the first read is in. */
  #leaseId: string | undefined;
  /** When etcd last confirmed the lease: past a margin, this node stops probing (its shards may be another's now). */
  #aliveAt = 0;
  /** Owner and member keys that came on the watch while the first read was out; applied after it. */
  #pending: KeyEvent[] | undefined = [];
  /** The revision of the first read: watch events up to it are in it already. */
  #readRevision = 0;
  readonly #held = new Set<number>();
  /** Every shard's owner (its lease id) as last seen. */
  readonly #owners = new Map<number, string>();
  /** Leases of the nodes that take part. */
  readonly #members = new Set<string>();
  /** Shards that have checks, and how many. */
  readonly #wanted = new Map<number, number>();
  /** Shards this node is trying to take (or waiting to, past its share). */
  readonly #taking = new Set<number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #rebalance: NodeJS.Timeout;
  #joining = false;
  #closed = false;

  constructor(etcd: EtcdConnection, keys: EtcdKeys, results: CheckResults, node: string) {
    this.#etcd = etcd;
    this.#keys = keys;
    this.#results = results;
    this.#value = Buffer.from(JSON.stringify({ node }));
    results.ownerKeys = (type, kv) => this.#seen(type, kv);
    // A take or a release that failed while etcd was away is tried again: every lease ttl, the node
    // looks at what it holds and what is free.
    this.#rebalance = setInterval(() => this.#balance(), CHECK_OWNERSHIP.leaseTtlSeconds * 1000);
    this.#rebalance.unref();
  }

  want(service: string, id: string): void {
    // The lease and member key wait for the first check: a cluster without checks keeps nothing for them.
    if (!this.#joining) {
      this.#joining = true;
      void this.#join();
    }
    const shard = shardOf(service, id);
    const count = this.#wanted.get(shard) ?? 0;
    this.#wanted.set(shard, count + 1);
    if (count === 0) this.#balance();
  }

  unwant(service: string, id: string): void {
    const shard = shardOf(service, id);
    const count = this.#wanted.get(shard) ?? 0;
    if (count <= 1) this.#wanted.delete(shard);
    else this.#wanted.set(shard, count - 1);
  }

  owns(service: string, id: string): boolean {
    // Two keep-alives missed: the lease may lapse any moment, and another node may hold the shard.
    const fresh = Date.now() - this.#aliveAt < (CHECK_OWNERSHIP.leaseTtlSeconds * 1000 * 2) / 3;
    return this.#leaseId !== undefined && fresh && this.#held.has(shardOf(service, id));
  }

  publish(instance: Instance, report: CheckReport): Promise<number> {
    const shard = shardOf(instance.service, instance.id);
    const lease = this.#leaseId;
    if (lease === undefined || !this.#held.has(shard)) return Promise.reject(new StoreError(`this node no longer runs the check of ${instance.service}/${instance.id}`));
    return this.#results.write(instance, report, { key: this.#ownerKey(shard), lease });
  }

  /** Revokes the lease: etcd deletes this node's owner keys at once, and the others take its shards. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#rebalance);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#results.ownerKeys = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#held.clear();
    await lease?.revoke().catch(() => {});
  }

  /** Grants the owner lease, says this node takes part, and reads who owns what. Retried until it works. */
  async #join(): Promise<void> {
    if (this.#closed) return;
    const lease = this.#etcd.client.lease(CHECK_OWNERSHIP.leaseTtlSeconds);
    lease.on('lost', () => this.#lost(lease));
    lease.on('keepaliveSucceeded', () => {
      if (this.#lease === lease) this.#aliveAt = Date.now();
    });
    try {
      const id = await this.#etcd.call(() => lease.grant());
      const grantedAt = Date.now();
      const response = await this.#etcd.call((client) =>
        client.kv.txn({
          compare: [],
          success: [
            { request_put: { key: Buffer.from(this.#keys.key('members/', id)), value: this.#value, lease: id } },
            { request_range: this.#keys.range('members/') },
            { request_range: this.#keys.range('owners/') },
          ],
          failure: [],
        }),
      );
      if (this.#closed) {
        await lease.revoke().catch(() => {});
        return;
      }
      this.#lease = lease;
      this.#leaseId = id;
      this.#aliveAt = grantedAt;
      this.#readRevision = Number(response.header.revision);
      for (const kv of response.responses[1].response_range.kvs) this.#members.add(this.#keys.nameOf(kv.key.toString(), 'members/')!);
      for (const kv of response.responses[2].response_range.kvs) this.#owners.set(Number(this.#keys.nameOf(kv.key.toString(), 'owners/')), kv.lease);
      const pending = this.#pending ?? [];
      this.#pending = undefined;
      for (const [type, kv] of pending) this.#seen(type, kv);
      this.#balance();
    } catch {
      void lease.revoke().catch(() => {});
      this.#later(() => void this.#join(), PROBE_INTERVAL_MS);
    }
  }

  /** etcd let the lease lapse (it could not be reached long enough): everything held is gone; join again. */
  #lost(lease: Lease): void {
    if (this.#lease !== lease || this.#closed) return;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#held.clear();
    this.#owners.clear();
    this.#members.clear();
    this.#pending = [];
    this.#later(() => void this.#join(), PROBE_INTERVAL_MS);
  }

  /** An owner or member key as the watch reports it. */
  #seen(type: 'Put' | 'Delete', kv: IKeyValue): void {
    if (this.#pending) {
      this.#pending.push([type, kv]);
      return;
    }
    if (Number(kv.mod_revision) <= this.#readRevision) return;
    const key = kv.key.toString();
    const member = this.#keys.nameOf(key, 'members/');
    if (member !== undefined) {
      if (type === 'Put') this.#members.add(member);
      else this.#members.delete(member);
      this.#balance();
      return;
    }
    const shard = Number(this.#keys.nameOf(key, 'owners/'));
    if (type === 'Put') {
      this.#owners.set(shard, kv.lease);
      if (kv.lease !== this.#leaseId) this.#held.delete(shard);
      return;
    }
    this.#owners.delete(shard);
    this.#held.delete(shard);
    if (this.#wanted.has(shard)) this.#take(shard);
  }

  /** About ceil(shards with checks / nodes). */
  #share(): number {
    return Math.ceil(this.#wanted.size / Math.max(1, this.#members.size));
  }

  /** Gives back what is over this node's share (shards without checks first), and goes for free shards with checks. */
  #balance(): void {
    const lease = this.#leaseId;
    if (lease === undefined || this.#closed) return;
    // A shard still on this lease that is not held: a release that failed. Keep it if there is room.
    for (const [shard, owner] of this.#owners) if (owner === lease && !this.#held.has(shard) && this.#held.size < this.#share()) this.#held.add(shard);
    const excess = this.#held.size - this.#share();
    if (excess > 0) {
      const byNeed = [...this.#held].sort((a, b) => Number(this.#wanted.has(a)) - Number(this.#wanted.has(b)));
      for (const shard of byNeed.slice(0, excess)) this.#release(shard);
    }
    for (const shard of this.#wanted.keys()) if (!this.#owners.has(shard)) this.#take(shard);
  }

  /** Tries to take a free shard: at once while under its share, else after a while if nobody else did. */
  #take(shard: number): void {
    if (this.#taking.has(shard) || this.#leaseId === undefined) return;
    this.#taking.add(shard);
    const attempt = async () => {
      const lease = this.#leaseId;
      try {
        if (lease === undefined || this.#owners.has(shard) || !this.#wanted.has(shard)) return;
        const key = Buffer.from(this.#ownerKey(shard));
        const response = await this.#etcd.call((client) =>
          client.kv.txn({
            compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
            success: [{ request_put: { key, value: this.#value, lease } }],
            failure: [],
          }),
        );
        if (response.succeeded && this.#leaseId === lease) {
          this.#held.add(shard);
          this.#owners.set(shard, lease);
        }
      } catch {
        // etcd away: the periodic balance tries again.
      } finally {
        this.#taking.delete(shard);
      }
    };
    if (this.#held.size < this.#share()) void attempt();
    else this.#later(() => void attempt(), CHECK_OWNERSHIP.lateTakeMs);
  }

  /** Stops running a shard's checks and deletes its owner key (if still on this lease), so a node under its share takes it. */
  #release(shard: number): void {
    const lease = this.#leaseId;
    this.#held.delete(shard);
    if (lease === undefined) return;
    const key = Buffer.from(this.#ownerKey(shard));
    void this.#etcd
      .call((client) => client.kv.txn({ compare: [{ key, target: 'Lease', result: 'Equal', lease }], success: [{ request_delete_range: { key } }], failure: [] }))
      .catch(() => {});
  }

  #ownerKey(shard: number): string {
    return this.#keys.key('owners/', String(shard));
  }

  #later(run: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) run();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }
}
