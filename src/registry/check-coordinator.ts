// Who runs an active check, and where its result goes: the port between the health checker and a
// store shared by several nodes. Alone, a node runs every check and keeps results in memory.
import { createHash } from 'node:crypto';
import type { Instance, ReportedStatus } from './types.ts';

/** A check's result as every node applies it: `since` is when the node that probed saw it change. */
export interface CheckReport {
  status: ReportedStatus;
  note: string;
  since: number;
}

/**
 * Asked by the health checker. With several nodes on one store, each check runs on one node at a
 * time (its owner) and the owner's results reach every node through the store, so all of them show
 * the same health and answer DNS alike.
 */
export interface CheckCoordinator {
  /** An instance with a check exists (every node knows every instance): its owner must be found. */
  want(service: string, id: string): void;
  /** The instance's check is gone (deregistered or replaced). */
  unwant(service: string, id: string): void;
  /** Whether this node runs the check of `service/id` now; asked before every probe. */
  owns(service: string, id: string): boolean;
  /**
   * Stores a changed result so that every node applies it; resolves with the store's revision (nothing
   * alone), after which the caller applies it to its own memory. Rejects (a StoreError) when the store
   * cannot take it or this node no longer owns the check: then nothing is applied anywhere.
   */
  publish(instance: Instance, report: CheckReport): Promise<number | void>;
  /** Gives up everything this node owns (another node takes it at once) and stops. */
  close(): Promise<void>;
}

/** One node alone: it owns every check, and a result only has to reach its own memory. */
export class SingleNodeChecks implements CheckCoordinator {
  want(): void {}
  unwant(): void {}
  owns(): boolean {
    return true;
  }
  publish(): Promise<number | void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Names one registration of an instance by its body (maintenance aside: it keeps health, as does the
 * same body registered again). A result stored for a registration replaced since does not match, so
 * a node never applies it to the replacement (which starts over, awaiting its first check). Not the
 * registration time: registrations stored before it was kept get a different one on each node.
 * Keys are sorted first: nodes may hold the same registration with its keys in another order.
 */
export function registrationFingerprint(instance: Instance): string {
  const { status, health, registeredAt, expiresAt, warmingSince, index, maintenance, ...body } = instance;
  const canonical = JSON.stringify(body, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
  return createHash('sha1').update(canonical).digest('base64url').slice(0, 16);
}
