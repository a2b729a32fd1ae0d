import type { ReplicatedStore } from './store.ts';
import type { Instance } from './types.ts';

/**
 * With a shared store, the node holding an instance's lease counts the heartbeats it takes without
 * telling the others, so the deadlines the registry has from the changes it applied go stale. Reads
 * that show deadlines first take the store's (exact for the leases this node holds; elsewhere the
 * last one written). A lease the store no longer has is reported by its watch (the instance turns
 * critical), not here.
 */
export class LeaseDeadlines {
  readonly #store: ReplicatedStore;

  constructor(store: ReplicatedStore) {
    this.#store = store;
  }

  refresh(instances: readonly Instance[]): void {
    const now = Date.now();
    for (const instance of instances) {
      if (instance.health.lease === undefined) continue;
      const remaining = this.#store.leaseRemaining(instance.service, instance.id);
      if (remaining !== undefined) instance.expiresAt = now + remaining;
    }
  }
}
