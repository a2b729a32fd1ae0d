import type { ReplicatedStore } from './store.ts';
import type { Instance } from './types.ts';

/** Lease look-ups in flight at once for one refresh: enough to overlap round trips, few enough to be polite to etcd. */
const CONCURRENT_LOOKUPS = 32;

/**
 * With a shared store, a heartbeat taken by another node renews the shared lease without telling
 * this node (renewals are not writes), so the deadlines this node holds go stale. Reads that show
 * deadlines first ask the store how long each lease has left. Concurrent refreshes of one service
 * share one round of look-ups. Fails static: a store that cannot answer leaves memory as it was.
 */
export class LeaseDeadlines {
  readonly #store: ReplicatedStore;
  readonly #running = new Map<string, Promise<void>>();

  constructor(store: ReplicatedStore) {
    this.#store = store;
  }

  refresh(service: string, instances: readonly Instance[], isCurrent: (instance: Instance) => boolean): Promise<void> {
    if (!this.#store.available) return Promise.resolve();
    let running = this.#running.get(service);
    if (!running) {
      running = this.#lookUp(instances.filter((instance) => instance.health.lease !== undefined), isCurrent).finally(() => this.#running.delete(service));
      this.#running.set(service, running);
    }
    return running;
  }

  async #lookUp(instances: Instance[], isCurrent: (instance: Instance) => boolean): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < instances.length) {
        const instance = instances[next++];
        let remaining: number | undefined;
        try {
          remaining = await this.#store.leaseRemaining(instance.service, instance.id);
        } catch {
          return;
        }
        // A lease the store no longer has is reported by its watch (the instance turns critical), not here.
        if (remaining !== undefined && isCurrent(instance)) instance.expiresAt = Date.now() + remaining;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_LOOKUPS, instances.length) }, worker));
  }
}
