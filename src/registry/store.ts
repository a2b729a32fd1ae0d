import type { CheckCoordinator } from './check-coordinator.ts';
import type { Registration, ReportedStatus, ServiceSettings } from './types.ts';

/** The revision a shared store made a write at (changes are indexed by it); nothing for other stores. */
export type StoreRevision = number | void;

/**
 * Where registrations are kept. The registry owns leases and health in memory;
 * a store only has to remember what was registered, so that a restart brings it back.
 *
 * Every method resolves only once the change is as durable as the store promises
 * (the registry acknowledges a write to its client after that).
 */
export interface Store {
  /** Every stored registration, read once at start-up. */
  load(): Promise<Registration[]>;
  /**
   * The same, handed over a page at a time as the store reads them (resolves with how many), so
   * that the registry takes in one page while the store reads the next. Optional: a store that
   * reads everything at once has only `load`.
   */
  loadInPages?(onPage: (registrations: readonly Registration[]) => void): Promise<number>;
  put(registration: Registration): Promise<StoreRevision>;
  delete(service: string, id: string): Promise<StoreRevision>;
  /** Per-service settings (protection threshold, warm-up), read once at start-up. */
  loadSettings(): Promise<Map<string, ServiceSettings>>;
  putSettings(service: string, settings: ServiceSettings): Promise<StoreRevision>;
  close(): Promise<void>;
  /** Present on a store shared by several Signpost nodes (etcd); absent on the embedded stores. */
  readonly replicated?: ReplicatedStore;
}

/**
 * What a shared store adds: changes made by other nodes (and lease expiry, which the store decides,
 * not the registry's timers), heartbeats that reach the store, and whether the store is reachable.
 */
export interface ReplicatedStore {
  /**
   * Called once, after load(): first the lease state of the loaded instances, then every later change
   * made elsewhere, in order. Changes this node made itself are not delivered (memory has them).
   * Returns the revision of the snapshot load() read.
   */
  follow(apply: (change: RemoteChange) => void): number;
  /**
   * Renews the instance's lease and records the status it reported. Resolves false if the store no
   * longer has it, true when renewed, or the revision at which a changed status was written.
   */
  renew(service: string, id: string, ttl: number, report: { status: ReportedStatus; note: string }): Promise<boolean | number>;
  /**
   * Milliseconds left on the instance's lease as this node knows them: exact where the lease is held;
   * elsewhere as of the last write to the store (see `leaseHeldElsewhere`). Undefined when the store
   * holds no live lease for it, or it knows no time still ahead. From memory: no store round trip.
   */
  leaseRemaining(service: string, id: string): number | undefined;
  /**
   * The node that holds the instance's lease when it is not this one (it counts heartbeats this node
   * does not see: here the lease times are as of the last write to the store); undefined otherwise.
   */
  leaseHeldElsewhere(service: string, id: string): string | undefined;
  /** False while the store cannot be reached: the node answers from its last view (fail static). */
  readonly available: boolean;
  onAvailability(listener: (up: boolean) => void): () => void;
  /**
   * Shares active checks between the nodes: one owner per check, results stored for all (`node`
   * names this node to the others). Absent: every node runs every check.
   */
  checkCoordinator?(node: string): CheckCoordinator;
}

/** A change made elsewhere, with the store revision that made it (every node indexes it from that). */
export type RemoteChange = { revision?: number } & (
  | { kind: 'put'; registration: Registration }
  | { kind: 'delete'; service: string; id: string }
  | { kind: 'settings'; service: string; settings: ServiceSettings }
  /** A heartbeat's report, or `expired` when the lease lapsed. */
  | { kind: 'lease'; service: string; id: string; status: ReportedStatus | 'expired'; note: string }
  /** An active check's result, from the node that runs it, for the registration `fingerprint` names. */
  | { kind: 'check'; service: string; id: string; fingerprint: string; status: ReportedStatus; note: string; since: number }
);

/** A write or read the store could not complete; nothing was changed in memory. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
