// Health policy: how sources combine into a status, which statuses DNS serves, warm-up weights,
// and the health an instance starts with.
import { HEALTH_STATUSES, type HealthSource, type HealthStatus, type Instance, type Registration } from './types.ts';

export interface HealthPolicy {
  /** Serve only `passing` instances (otherwise `warning` ones too). */
  onlyPassing: boolean;
}

/** The worst status among the sources present (passing when there is none). */
export function instanceStatus(health: Partial<Record<string, { status: HealthStatus } | undefined>>): HealthStatus {
  let worst = 0;
  for (const source of Object.values(health)) {
    if (source) worst = Math.max(worst, HEALTH_STATUSES.indexOf(source.status));
  }
  return HEALTH_STATUSES[worst];
}

/** Whether DNS may answer with an instance of this status. */
export function isServable(status: HealthStatus, policy: HealthPolicy): boolean {
  return status === 'passing' || (status === 'warning' && !policy.onlyPassing);
}

/** Share of its weight a just-servable instance starts at during warm-up. */
const WARMUP_START_SHARE = 0.1;

/** The weight to publish now: a warming instance ramps linearly from 10% to 100% over `warmupSeconds`. */
export function warmupWeight(instance: Instance, warmupSeconds: number, now: number): number {
  if (instance.warmingSince === null || warmupSeconds <= 0 || instance.weight === 0) return instance.weight;
  const progress = Math.min(1, Math.max(0, (now - instance.warmingSince) / (warmupSeconds * 1000)));
  const share = WARMUP_START_SHARE + (1 - WARMUP_START_SHARE) * progress;
  return Math.max(1, Math.round(instance.weight * share));
}

/** The health an instance starts with when (re)registered. */
export function initialHealth(registration: Registration, now: number): Instance['health'] {
  const health: Instance['health'] = {};
  // A heartbeat-only instance starts passing on its lease; one with a check starts critical until
  // the check passes: no traffic to an instance that has not proven itself.
  if (registration.check) health.check = { status: 'critical', note: 'awaiting the first check', since: now };
  else health.lease = { status: 'passing', note: '', since: now };
  if (registration.maintenance) health.maintenance = maintenanceSource(registration.maintenance.reason, now);
  return health;
}

/** The maintenance source of an instance an operator took out of service. */
export function maintenanceSource(reason: string, now: number): HealthSource {
  return { status: 'maintenance', note: reason, since: now };
}

/** Whether the instance's own sources (maintenance aside) make it critical: its grace period runs. */
export function isCriticalBelowMaintenance(instance: Instance): boolean {
  return instanceStatus({ lease: instance.health.lease, check: instance.health.check }) === 'critical';
}

/** The note of a lease that lapsed. */
export function leaseLapsedNote(ttl: number): string {
  return `TTL expired: no heartbeat for ${ttl}s`;
}
