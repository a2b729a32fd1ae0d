// Where registrations get their etcd leases. Every heartbeat instance keeps a lease of its own (so
// that a heartbeat through any node is a keep-alive, and etcd alone decides each instance's expiry),
// but granting one is a raft write and a round trip of its own. So:
//  - registering again with the same ttl keeps the lease it has: one keep-alive, no grant;
//  - new leases are granted ahead, per ttl, into a small stock sized by recent demand, so a
//    registration takes one that is ready, and grants run many at once, off the request's path.
// A lease taken from the stock is renewed (a keep-alive on the node's stream) before it is handed
// out: it then runs its whole ttl from about now, as a lease granted for the request would.
import { ETCD_CALL_TIMEOUT_MS, type EtcdConnection } from './connection.ts';
import type { KeepAlive } from './keepalive.ts';

/** Most leases kept in stock per ttl, and most grants in flight at once per ttl. */
const MAX_STOCK = 512;
const MAX_GRANTING = 128;
/** A stocked lease older than this share of its ttl is left to lapse rather than handed out. */
const MAX_STOCK_AGE = 0.5;
/** Demand is counted over windows this long; the stock aims at one window's takes. */
const DEMAND_WINDOW_MS = 1_000;

interface Stock {
  /** Granted and unused, oldest first. */
  leases: Array<{ id: string; grantedAt: number }>;
  /** Takes waiting for a grant in flight, first come first served. */
  waiting: Array<{ resolve(id: string): void; reject(error: unknown): void }>;
  granting: number;
  /** Takes in the current and in the previous window. */
  taken: number;
  takenBefore: number;
  windowStart: number;
}

export class LeaseStock {
  readonly #etcd: EtcdConnection;
  readonly #keepAlive: KeepAlive;
  readonly #stocks = new Map<number, Stock>();

  constructor(etcd: EtcdConnection, keepAlive: KeepAlive) {
    this.#etcd = etcd;
    this.#keepAlive = keepAlive;
  }

  /**
   * A live lease of `ttl` seconds for an instance that holds `current` (its lease now, if any): the
   * same one renewed when it is still alive with that ttl, else a new one. Rejects with a StoreError.
   */
  async lease(ttl: number, current?: { id: string; ttl: number }): Promise<string> {
    if (current && current.id !== '0' && current.ttl === ttl && (await this.#keepAlive.renew(current.id, ETCD_CALL_TIMEOUT_MS)) > 0) return current.id;
    return this.take(ttl);
  }

  /** A new lease of `ttl` seconds, running its whole ttl from about now. Rejects with a StoreError. */
  async take(ttl: number): Promise<string> {
    if (this.#etcd.closed) throw this.#etcd.closedError();
    const stock = this.#stock(ttl);
    stock.taken++;
    for (let ready = this.#fresh(stock, ttl); ready; ready = this.#fresh(stock, ttl)) {
      this.#refill(ttl, stock);
      // Renewed first: it has been ticking since it was granted. One that lapsed anyway is skipped.
      if ((await this.#keepAlive.renew(ready, ETCD_CALL_TIMEOUT_MS)) > 0) return ready;
    }
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    stock.waiting.push({ resolve, reject });
    this.#refill(ttl, stock);
    return promise;
  }

  /** The newest stocked lease young enough to hand out; older ones are dropped (they lapse by themselves). */
  #fresh(stock: Stock, ttl: number): string | undefined {
    const ready = stock.leases.pop();
    if (!ready) return undefined;
    if (ready.grantedAt >= Date.now() - ttl * 1000 * MAX_STOCK_AGE) return ready.id;
    stock.leases.length = 0;
    return undefined;
  }

  #stock(ttl: number): Stock {
    let stock = this.#stocks.get(ttl);
    if (!stock) this.#stocks.set(ttl, (stock = { leases: [], waiting: [], granting: 0, taken: 0, takenBefore: 0, windowStart: Date.now() }));
    const now = Date.now();
    if (now - stock.windowStart >= DEMAND_WINDOW_MS) {
      stock.takenBefore = now - stock.windowStart >= 2 * DEMAND_WINDOW_MS ? 0 : stock.taken;
      stock.taken = 0;
      stock.windowStart = now;
    }
    return stock;
  }

  /** Grants leases, many at once, for the takes waiting and until the stock holds what recent windows took. */
  #refill(ttl: number, stock: Stock): void {
    // While etcd is unreachable only waiting takes are served: the stock is refilled once it is back.
    const want = stock.waiting.length + (this.#etcd.available ? Math.min(MAX_STOCK, Math.max(stock.taken, stock.takenBefore)) : 0);
    while (!this.#etcd.closed && stock.granting < MAX_GRANTING && stock.leases.length + stock.granting < want) {
      stock.granting++;
      this.#etcd.call((client) => client.leaseClient.leaseGrant({ TTL: ttl })).then(
        ({ ID: id }) => {
          stock.granting--;
          const waiter = stock.waiting.shift();
          if (waiter) waiter.resolve(id);
          else stock.leases.push({ id, grantedAt: Date.now() });
          this.#refill(ttl, stock);
        },
        (error: unknown) => {
          stock.granting--;
          // etcd did not grant it: the first waiting take fails (503); the stock waits for demand.
          stock.waiting.shift()?.reject(error);
          if (stock.waiting.length > stock.granting) this.#refill(ttl, stock);
        },
      );
    }
  }
}
