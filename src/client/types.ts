// The shapes the client takes and gives.

export interface ClientOptions {
  /**
   * Signpost's HTTP API, or several servers (a list, or one string with commas): the client fails
   * over between them. Default: SIGNPOST_URL, else `http://127.0.0.1:8500`.
   */
  url?: string | readonly string[];
  /** `HOST:PORT` of Signpost's DNS listener: `resolve()` and `pick()` go over DNS. Absent: over HTTP. */
  dns?: string;
  /** The zone Signpost answers for (its `--domain`), for DNS names. Default `local`. */
  domain?: string;
  /** Bearer token (Signpost's `--token-file`). */
  token?: string;
  /** Deregister everything on SIGTERM and SIGINT (then the signal's usual effect follows). Default false. */
  deregisterOnSignal?: boolean;
  /** How long one HTTP attempt may take, ms. Default 5,000. */
  requestTimeout?: number;
  /**
   * How long `register()`, `deregister()` and reads keep trying (other servers, backoff, Retry-After)
   * before they reject, ms. Default 15,000. Heartbeats retry within their own period.
   */
  retryFor?: number;
}

export type ReportedStatus = 'passing' | 'warning' | 'critical';

/** What `register()` takes: the body of Signpost's registration route, with the service and id. */
export interface RegisterOptions {
  service: string;
  id: string;
  /** IPv4 or IPv6 literal. */
  address: string;
  port: number;
  weight?: number;
  priority?: number;
  /** Lease in seconds (default 15 on the server); the client heartbeats about every ttl/3. */
  ttl?: number;
  tags?: string[];
  meta?: Record<string, string>;
  check?: { http?: string; tcp?: string; interval?: number; timeout?: number; successBeforePassing?: number; failuresBeforeCritical?: number };
  deregisterCriticalAfter?: number;
}

/** An instance as `resolve()` and `pick()` give it. */
export interface ServiceInstance {
  service: string;
  id: string;
  address: string;
  port: number;
  priority: number;
  /** The weight DNS publishes (warm-up applied). */
  weight: number;
  /** The SRV target, `<id>.<service>.instance.<domain>` (over DNS; over HTTP the same name is built). */
  target: string;
  /** Over HTTP only (DNS answers do not carry them). */
  tags?: string[];
  meta?: Record<string, string>;
  status?: 'passing' | 'warning' | 'critical';
}

/** An instance as Signpost's HTTP API shows it (`GET /v1/services/:service`). */
export interface InstanceRecord {
  service: string;
  id: string;
  address: string;
  port: number;
  weight: number;
  effectiveWeight: number;
  priority: number;
  ttl: number;
  tags: string[];
  meta: Record<string, string>;
  status: 'passing' | 'warning' | 'critical' | 'maintenance';
  health: Record<string, { status: string; note: string; since: string }>;
  registeredAt: string;
  expiresAt: string | null;
  /** In a cluster, the node holding the lease when it is not the node that answered (which then knows `expiresAt` only as of that node's last write); else null. */
  leaseHolder?: string | null;
  index: number;
}

/** `GET /v1/services/:service`. */
export interface ServiceRecord {
  name: string;
  index: number;
  settings: { protectionThreshold: number; warmup: number };
  protection: { tripped: boolean; healthyShare: number };
  instances: InstanceRecord[];
}

/** One line of `GET /v1/services`. */
export interface ServiceSummary {
  name: string;
  instances: number;
  healthy: number;
}

/**
 * A change from the server's event stream; `index` is the registry index (the event id).
 * `reset`: the server could not replay what was missed while disconnected (it restarted, or its
 * history no longer reaches back): re-read what you keep.
 */
export type WatchEvent =
  | { type: 'register'; index: number; service: string; id: string; instance: InstanceRecord }
  | { type: 'deregister'; index: number; service: string; id: string; reason: 'request' | 'critical'; instance: InstanceRecord }
  | { type: 'health'; index: number; service: string; id: string; previous: InstanceRecord['status']; instance: InstanceRecord }
  | { type: 'settings'; index: number; service: string; settings: ServiceRecord['settings'] }
  | { type: 'reset'; index: number };
