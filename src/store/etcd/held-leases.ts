// The instances whose lease this node holds, and when each lapses. Their lease keys are bound to
// the node's lease for their ttl (node-leases.ts), which etcd keeps alive whatever heartbeats come
// in, so etcd cannot tell one instance's lapse from another's: the holder does. A heartbeat through
// the holder moves a deadline on one clock in memory (no etcd call); when a deadline passes, the
// holder deletes the instance's lease key, and every node sees the delete on its watch and turns the
// instance critical, as when etcd deletes a key whose lease lapsed. Deletes of one turn share a
// transaction. A lease key written since by someone else (a heartbeat through another node took it
// over) is left alone: the delete is guarded on the key's mod revision.
import { Buffer } from 'node:buffer';
import { LeaseClock } from '../../registry/lease-clock.ts';
import { PROBE_INTERVAL_MS } from './connection.ts';
import type { EtcdKeys } from './keys.ts';
import type { EtcdMirror } from './mirror.ts';
import type { TxnBatcher } from './txn-batch.ts';

export class HeldLeases {
  readonly #keys: EtcdKeys;
  readonly #mirror: EtcdMirror;
  readonly #txns: TxnBatcher;
  readonly #clock = new LeaseClock<string>((name) => this.#lapsed(name));

  constructor(keys: EtcdKeys, mirror: EtcdMirror, txns: TxnBatcher) {
    this.#keys = keys;
    this.#mirror = mirror;
    this.#txns = txns;
  }

  /** This node holds the lease of `name` (`service/id`), lapsing at `deadline` (epoch ms). */
  hold(name: string, deadline: number): void {
    this.#clock.set(name, deadline);
  }

  /** Someone else wrote the lease key, or it was deleted: this node no longer decides when it lapses. */
  release(name: string): void {
    this.#clock.delete(name);
  }

  /** When the lease of `name` lapses, if this node holds it and it has not lapsed yet. */
  dueAt(name: string): number | undefined {
    return this.#clock.dueAt(name);
  }

  close(): void {
    this.#clock.clear();
  }

  #lapsed(name: string): void {
    const known = this.#mirror.leases.get(name);
    if (!known) return;
    const key = this.#keys.key('leases/', name);
    const unchanged = { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: known.revision };
    this.#txns.write([{ request_delete_range: { key: Buffer.from(key) } }], [key], [unchanged]).catch(() => {
      // etcd did not take the delete: the instance stays as it is (fail static) and the delete is tried again.
      if (!this.#clock.has(name) && this.#mirror.leases.get(name) === known) this.#clock.set(name, Date.now() + PROBE_INTERVAL_MS);
    });
  }
}
