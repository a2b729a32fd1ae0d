// This node's etcd leases: one per ttl, shared by the lease keys of every instance of that ttl the
// node holds. Granting a lease is a raft write and a gRPC call of its own (etcd has no batched
// grant); with one per instance it was most of what a new registration cost. One per (node, ttl) is
// granted once and kept alive on a short interval, whatever the number of instances on it.
//
// The promise a heartbeat's 200 makes: the instance stays alive a whole ttl, even if this node dies
// right after answering (etcd then lets the node's lease lapse and deletes its lease keys). A lease
// is granted for ttl + HELD_LEASES.marginSeconds, and counts as confirmed for marginSeconds after a
// keep-alive etcd answered was sent: a lease confirmed now outlives now + ttl. A node whose
// keep-alives go unanswered beyond that answers heartbeats 503 rather than promise what etcd may not keep.
import { HELD_LEASES } from '../../config/limits.ts';
import type { EtcdConnection } from './connection.ts';
import type { KeepAlive } from './keepalive.ts';

interface NodeLease {
  /** etcd's id, once granted; undefined while none is known to be alive. */
  id: string | undefined;
  granting: Promise<string> | undefined;
  /** When the last keep-alive (or the grant) that etcd answered alive was sent, epoch ms. */
  confirmedAt: number;
}

const MARGIN_MS = HELD_LEASES.marginSeconds * 1000;

export class NodeLeases {
  readonly #etcd: EtcdConnection;
  readonly #keepAlive: KeepAlive;
  readonly #leases = new Map<number, NodeLease>();
  readonly #timer: NodeJS.Timeout;

  constructor(etcd: EtcdConnection, keepAlive: KeepAlive) {
    this.#etcd = etcd;
    this.#keepAlive = keepAlive;
    this.#timer = setInterval(() => this.#keepAll(), HELD_LEASES.keepAliveMs);
    this.#timer.unref();
  }

  /** This node's lease for `ttl` if it is confirmed alive now (it outlives now + ttl); else undefined. */
  confirmed(ttl: number): string | undefined {
    const lease = this.#leases.get(ttl);
    return lease?.id !== undefined && Date.now() - lease.confirmedAt <= MARGIN_MS ? lease.id : undefined;
  }

  /**
   * This node's lease for `ttl`, confirmed alive: as it is when it was confirmed recently, else after
   * a keep-alive (within `timeoutMs`), else a new grant. Rejects with a StoreError.
   */
  async lease(ttl: number, timeoutMs: number): Promise<string> {
    const ready = this.confirmed(ttl);
    if (ready) return ready;
    let lease = this.#leases.get(ttl);
    if (!lease) this.#leases.set(ttl, (lease = { id: undefined, granting: undefined, confirmedAt: 0 }));
    const id = lease.id;
    if (id !== undefined) {
      const sentAt = Date.now();
      if ((await this.#keepAlive.renew(id, timeoutMs)) > 0) {
        this.#confirm(lease, id, sentAt);
        return id;
      }
      this.lapsed(id);
    }
    return this.#grant(ttl, lease);
  }

  /** Whether `id` is one of this node's leases (as far as it knows, alive). */
  owns(id: string): boolean {
    for (const lease of this.#leases.values()) if (lease.id === id) return true;
    return false;
  }

  /** etcd no longer has lease `id` (a keep-alive said so, or a write bound to it was refused): the next need grants another. */
  lapsed(id: string): void {
    for (const lease of this.#leases.values()) if (lease.id === id) lease.id = undefined;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #grant(ttl: number, lease: NodeLease): Promise<string> {
    const sentAt = Date.now();
    lease.granting ??= this.#etcd
      .call((client) => client.leaseClient.leaseGrant({ TTL: ttl + HELD_LEASES.marginSeconds }))
      .then(({ ID: id }) => {
        lease.id = id;
        lease.confirmedAt = sentAt;
        return id;
      })
      .finally(() => (lease.granting = undefined));
    return lease.granting;
  }

  #confirm(lease: NodeLease, id: string, sentAt: number): void {
    if (lease.id === id) lease.confirmedAt = Math.max(lease.confirmedAt, sentAt);
  }

  /** Every lease kept alive, one keep-alive each per interval on the node's stream. */
  #keepAll(): void {
    if (this.#etcd.closed) return;
    for (const lease of this.#leases.values()) {
      const id = lease.id;
      if (id === undefined) continue;
      const sentAt = Date.now();
      this.#keepAlive.renew(id).then(
        (left) => (left > 0 ? this.#confirm(lease, id, sentAt) : this.lapsed(id)),
        // Unanswered: the lease stays unconfirmed, and heartbeats are refused once the margin is spent.
        () => {},
      );
    }
  }
}
