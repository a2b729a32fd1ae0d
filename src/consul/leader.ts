// Consul's X-Consul-KnownLeader and X-Consul-LastContact, mapped onto Signpost's store: the
// "leader" of a Signpost node is the store it writes to. With the embedded store (or a reachable
// etcd) the leader is known and was just in contact; while etcd cannot be reached, the node serves
// reads from its last view (fail static), and says so as Consul's followers do when the leader is
// lost: KnownLeader false, and how long since the last contact, so that `?stale` clients can judge.
import type { Registry } from '../registry/registry.ts';

export class LeaderContact {
  /** Since when the store has been unreachable (ms since the epoch); undefined while it is reachable. */
  #lostAt: number | undefined;
  readonly #unsubscribe: () => void;

  constructor(registry: Registry) {
    if (!registry.storeAvailable) this.#lostAt = Date.now();
    this.#unsubscribe = registry.onStoreAvailability((up) => {
      this.#lostAt = up ? undefined : (this.#lostAt ?? Date.now());
    });
  }

  get knownLeader(): boolean {
    return this.#lostAt === undefined;
  }

  /** Milliseconds since the store last answered: 0 while it answers. */
  lastContactMs(now = Date.now()): number {
    return this.#lostAt === undefined ? 0 : now - this.#lostAt;
  }

  close(): void {
    this.#unsubscribe();
  }
}
