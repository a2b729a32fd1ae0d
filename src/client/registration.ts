import type { ReportedStatus } from './types.ts';

/** What a Registration asks of the part that keeps it alive (heartbeats.ts). */
export interface LeaseKeeper {
  setStatus(registration: Registration, status: ReportedStatus, note: string): Promise<void>;
  deregister(registration: Registration): Promise<void>;
}

/** What the keeper updates and a Registration shows. */
export interface LeaseState {
  status: ReportedStatus;
  note: string;
  expiresAt: Date | null;
}

/**
 * One instance this client registered and keeps alive: it heartbeats about every ttl/3 (with
 * jitter, batched with the client's other registrations) and registers again when the server
 * forgot it. Problems in the background are emitted as the client's `error` events.
 */
export class Registration {
  readonly service: string;
  readonly id: string;
  /** The lease in seconds, as the server stored it. */
  readonly ttl: number;
  readonly #keeper: LeaseKeeper;
  readonly #state: LeaseState;

  constructor(keeper: LeaseKeeper, fields: { service: string; id: string; ttl: number }, state: LeaseState) {
    this.#keeper = keeper;
    this.service = fields.service;
    this.id = fields.id;
    this.ttl = fields.ttl;
    this.#state = state;
  }

  /** The status this instance reports with every heartbeat. */
  get status(): ReportedStatus {
    return this.#state.status;
  }

  get note(): string {
    return this.#state.note;
  }

  /** When the lease lapses unless renewed, as the server last said (null: no lease, e.g. an active check only). */
  get expiresAt(): Date | null {
    return this.#state.expiresAt;
  }

  /**
   * Reports `warning` or `critical` (with a note readers of the API see), or `passing` again.
   * Sent at once, and with every heartbeat after; resolves once the server has it, or has refused
   * it for good (a token without rights on the service; ttl 0, which has no lease to report on).
   * It never rejects: failures are retried, and emitted as the client's `error` events.
   */
  setStatus(status: ReportedStatus, note = ''): Promise<void> {
    return this.#keeper.setStatus(this, status, note);
  }

  /** Stops heartbeating and removes the instance from Signpost (an instance already gone counts as removed). */
  deregister(): Promise<void> {
    return this.#keeper.deregister(this);
  }
}
