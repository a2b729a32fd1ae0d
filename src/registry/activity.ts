import type { RegistryEvent } from './types.ts';

/**
 * What the registry did since it started, as plain counts that `/metrics` and `GET /v1/server` read
 * (the console draws rates from them). Bumped on every event and heartbeat: a few increments, no
 * allocation. Events include those another node made (a shared store delivers them as events too);
 * heartbeats are those this node took.
 */
export class RegistryActivity {
  readonly events: Record<RegistryEvent['type'], number> = { register: 0, deregister: 0, health: 0, settings: 0 };
  /** Deregistrations by reason: `request` (DELETE) or `critical` (critical past the grace period). */
  readonly deregistrations: Record<'request' | 'critical', number> = { request: 0, critical: 0 };
  /** Heartbeats this node took (of registered instances). */
  heartbeats = 0;

  count(event: RegistryEvent): void {
    this.events[event.type]++;
    if (event.type === 'deregister') this.deregistrations[event.reason]++;
  }
}
