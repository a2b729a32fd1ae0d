/** What a service instance registers: the durable part of an instance. */
export interface Registration {
  service: string;
  id: string;
  address: string;
  port: number;
  weight: number;
  priority: number;
  /** Heartbeat lease, seconds. */
  ttl: number;
  tags: string[];
  meta: Record<string, string>;
}

/** `passing` while the lease is live; `critical` once it lapsed, until the grace period deletes it. */
export type HealthStatus = 'passing' | 'critical';

/** A registered instance as the registry holds it. Treat as read-only outside the registry. */
export interface Instance extends Registration {
  status: HealthStatus;
  /** Epoch milliseconds. */
  registeredAt: number;
  /** Epoch milliseconds when the lease lapses unless renewed. */
  expiresAt: number;
}

export type RegistryEvent =
  | { type: 'register'; instance: Instance; replaced: boolean }
  | { type: 'deregister'; instance: Instance; reason: 'request' | 'expired' }
  | { type: 'health'; instance: Instance; previous: HealthStatus };

/**
 * The read-only face of the registry, the only part the DNS side sees.
 * `onChange` fires synchronously whenever what a consumer of `service` could see changes.
 */
export interface RegistryView {
  instances(service: string): readonly Instance[] | undefined;
  serviceNames(): IterableIterator<string>;
  onChange(listener: (service: string) => void): () => void;
}
