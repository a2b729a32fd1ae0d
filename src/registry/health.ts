// Health policy: how sources combine into a status, which statuses DNS serves, warm-up weights,
// and the health an instance starts with.
import { HEALTH_STATUSES, type HealthSource, type HealthStatus, type Instance, type Registration, type ReportedStatus } from './types.ts';

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
  const weight = statusWeight(instance);
  const progress = warmupProgress(instance, warmupSeconds, now);
  if (progress === null || weight === 0) return weight;
  const share = WARMUP_START_SHARE + (1 - WARMUP_START_SHARE) * progress;
  return Math.max(1, Math.round(weight * share));
}

/** Ends the warm-up of `instances` warm `warmupMs` after they started, at `now`; true while any still warms. */
export function endWarmups(instances: Iterable<Instance>, warmupMs: number, now: number): boolean {
  let warming = false;
  for (const instance of instances) {
    if (instance.warmingSince === null) continue;
    if (now - instance.warmingSince >= warmupMs) instance.warmingSince = null;
    else warming = true;
  }
  return warming;
}

/** The registered weight for the instance's status: its warning weight while it is `warning`. */
function statusWeight(instance: Instance): number {
  return instance.status === 'warning' ? (instance.warningWeight ?? instance.weight) : instance.weight;
}

/** Whether heartbeats keep the instance alive: no active check and a ttl (0 = lives until deregistered). */
export function isLeased(registration: Registration): boolean {
  return !registration.check && registration.ttl > 0;
}

/** Whether an instance starts passing on its lease alone, if any (no check, no maintenance, no other initial status). */
export function startsPassing(registration: Registration): boolean {
  return !registration.check && !registration.maintenance && (registration.initialStatus ?? 'passing') === 'passing';
}

/** What a registration reports for its lease until the first heartbeat. */
export function initialReport(registration: Registration): { status: ReportedStatus; note: string } {
  const status = registration.initialStatus ?? 'passing';
  return { status, note: status === 'passing' ? '' : 'awaiting the first heartbeat' };
}

/** The health an instance starts with when (re)registered. */
export function initialHealth(registration: Registration, now: number): Instance['health'] {
  const health: Instance['health'] = {};
  // A heartbeat-only instance starts on its lease (passing unless it asked otherwise); one with a
  // check starts critical until the check passes: no traffic to an instance that has not proven
  // itself. One with neither (ttl 0) has no source: passing until deregistered.
  if (registration.check) health.check = { status: 'critical', note: 'awaiting the first check', since: now };
  else if (isLeased(registration)) health.lease = { ...initialReport(registration), since: now };
  if (registration.maintenance) health.maintenance = maintenanceSource(registration.maintenance.reason, registration.maintenance.since ?? now);
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

/** Instances by status over every service's instances: a plain walk, no generator. */
export function countStatuses(services: Iterable<Map<string, Instance>>): Record<HealthStatus, number> {
  const counts: Record<HealthStatus, number> = { passing: 0, warning: 0, critical: 0, maintenance: 0 };
  for (const instances of services) for (const instance of instances.values()) counts[instance.status]++;
  return counts;
}

/** The status `instance` has once its lease lapsed (the lease source critical). */
export function statusAfterLapse(instance: Instance): HealthStatus {
  return instanceStatus({ ...instance.health, lease: { status: 'critical' } });
}

/** The note of a lease that lapsed. */
export function leaseLapsedNote(ttl: number): string {
  return `TTL expired: no heartbeat for ${ttl}s`;
}

/** How far a warming instance is through its warm-up (0-1), or null when it is not warming. */
export function warmupProgress(instance: Instance, warmupSeconds: number, now: number): number | null {
  if (instance.warmingSince === null || warmupSeconds <= 0) return null;
  return Math.min(1, Math.max(0, (now - instance.warmingSince) / (warmupSeconds * 1000)));
}
