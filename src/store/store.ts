import type { Registration, ServiceSettings } from '../registry/types.ts';

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
  put(registration: Registration): Promise<void>;
  delete(service: string, id: string): Promise<void>;
  /** Per-service settings (protection threshold, warm-up), read once at start-up. */
  loadSettings(): Promise<Map<string, ServiceSettings>>;
  putSettings(service: string, settings: ServiceSettings): Promise<void>;
  close(): Promise<void>;
}

/** A write or read the store could not complete; nothing was changed in memory. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
