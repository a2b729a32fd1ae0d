/** An active health check the registry runs against the instance (seconds for times). */
export interface CheckDefinition {
  /** `http://host:port/path`: 2xx passing, 429 warning, anything else (or no answer in time) critical. */
  http?: string;
  /** `host:port`: passing when a TCP connection opens in time. */
  tcp?: string;
  interval: number;
  timeout: number;
  /** Consecutive passes needed to go from not passing to passing. */
  successBeforePassing: number;
  /** Consecutive failures needed to go from passing or warning to critical. */
  failuresBeforeCritical: number;
}

/** What a service instance registers: the durable part of an instance. */
export interface Registration {
  service: string;
  id: string;
  address: string;
  port: number;
  weight: number;
  priority: number;
  /** Heartbeat lease, seconds; 0: no lease, the instance lives (passing) until deregistered. */
  ttl: number;
  /** The weight while the instance is `warning`; unset: `weight`. */
  warningWeight?: number;
  /** The status the lease starts with, until the first heartbeat; unset: passing. */
  initialStatus?: ReportedStatus;
  tags: string[];
  meta: Record<string, string>;
  check?: CheckDefinition;
  /** Seconds an instance may stay critical before it is deleted; unset: the server's grace period. */
  deregisterCriticalAfter?: number;
  /**
   * Set while an operator has taken the instance out; kept across re-registration and restarts. With
   * a store shared by several nodes it also holds when (`since`, epoch ms), so every node shows the same.
   */
  maintenance?: { reason: string; since?: number } | null;
  /**
   * Epoch ms of the registration, stored only by a store shared by several nodes, so that every node
   * (one started later too) counts warm-up and health from the same moment. Never part of a request.
   */
  registeredAt?: number;
}

/** Worst last: an instance's status is the worst of its sources. */
export const HEALTH_STATUSES = ['passing', 'warning', 'critical', 'maintenance'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];
/** What a heartbeat or a check may report. */
export type ReportedStatus = Exclude<HealthStatus, 'maintenance'>;

export interface HealthSource {
  status: HealthStatus;
  note: string;
  /** Epoch ms of the last change of `status` or `note`. */
  since: number;
}

/** A registered instance as the registry holds it. Treat as read-only outside the registry. */
export interface Instance extends Registration {
  /** The worst of `health`'s sources. */
  status: HealthStatus;
  /**
   * Where the status comes from: `lease` (heartbeats; absent for an instance with a check that never
   * heartbeated), `check` (active check), `maintenance` (present while in maintenance).
   */
  health: { lease?: HealthSource; check?: HealthSource; maintenance?: HealthSource };
  /** Epoch ms. */
  registeredAt: number;
  /** Epoch ms when the lease lapses unless renewed; null without a lease. */
  expiresAt: number | null;
  /** Epoch ms when it last became servable while its service had a warm-up; null when not warming. */
  warmingSince: number | null;
  /** The registry index of the last visible change to this instance. */
  index: number;
}

export interface ServiceSettings {
  /** 0–1; when the healthy share falls to or below it, DNS serves every instance not in maintenance. 0 = off. */
  protectionThreshold: number;
  /** Seconds over which a newly servable instance ramps from 10% to 100% of its weight. 0 = off. */
  warmup: number;
}

export type RegistryEvent =
  | { type: 'register'; index: number; instance: Instance; replaced: boolean }
  | { type: 'deregister'; index: number; instance: Instance; reason: 'request' | 'critical' }
  /** `lapsed`: the lease lapsed (a storm of these is logged as one line). */
  | { type: 'health'; index: number; instance: Instance; previous: HealthStatus; lapsed: boolean }
  | { type: 'settings'; index: number; service: string; settings: ServiceSettings };

/** An instance DNS may answer with, and the weight it publishes and orders by. */
export interface Answerable {
  instance: Instance;
  weight: number;
}

/**
 * The read-only face of the registry, the only part the DNS side sees.
 * `onChange` fires synchronously whenever what a consumer of `service` could see changes; with
 * `instanceId` when that change can only have changed what DNS answers for that one instance
 * (so a consumer may re-read it alone, through `answerableInstance`), without when it may have
 * changed others too (service settings, warm-up steps, a protection threshold in play).
 */
export interface RegistryView {
  /**
   * The instances DNS answers with at `now` (health, maintenance, protection and warm-up applied; a
   * lease past its deadline counts as lapsed); undefined for an unknown service.
   */
  answerable(service: string, now?: number): readonly Answerable[] | undefined;
  /** The entry of instance `id` that `answerable(service)` holds now, or undefined when it holds none. */
  answerableInstance(service: string, id: string): Answerable | undefined;
  /**
   * The earliest lease deadline of `service` later than `after` (epoch ms; Infinity: none): what
   * `answerable` returns may change then without `onChange` firing first (a lapse is handed out
   * after its deadline, late in a storm of them).
   */
  nextLeaseDeadline(service: string, after: number): number;
  /** The deadline of instance `id`'s lease on the local clock (epoch ms; Infinity: none). */
  leaseDeadline(service: string, id: string): number;
  /** Every service with registered instances: reverse lookups (PTR) search them all. */
  serviceNames(): Iterable<string>;
  /** Whether `service` has registered instances (healthy or not). */
  hasService(service: string): boolean;
  onChange(listener: (service: string, instanceId?: string) => void): () => void;
}

/** The stored part of an instance. */
export function registrationOf(instance: Instance): Registration {
  const { status, health, registeredAt, expiresAt, warmingSince, index, ...registration } = instance;
  return registration;
}
