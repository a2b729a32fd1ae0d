// Keeps a client's registrations alive: one timer for all of them, and one `PUT /v1/heartbeats`
// per tick renewing every registration that is due (or nearly), so a process with a thousand
// registrations sends one request every ttl/3, not a thousand.
import { LIMITS } from '../config/limits.ts';
import { SignpostError } from './errors.ts';
import { Registration, type LeaseKeeper, type LeaseState } from './registration.ts';
import { rejection, type Transport } from './transport.ts';
import type { RegisterOptions, ReportedStatus } from './types.ts';

/** What one batch may hold: as many entries as the server takes, in half the bytes it takes (room for notes). */
const BATCH_ENTRIES = LIMITS.heartbeatBatch.maxEntries;
const BATCH_BYTES = LIMITS.heartbeatBatch.maxBytes / 2;
/** How soon a registration is tried again after the server could not be reached or stored it, ms (at most its period). */
const RETRY_MS = 1_000;

interface Lease {
  registration: Registration;
  state: LeaseState;
  path: string;
  body: Record<string, unknown>;
  /** ttl/3, ms. */
  period: number;
  /** Epoch ms when it should be renewed next (Infinity: never, ttl 0). A tick in flight sets it again when it ends. */
  due: number;
  needsRegister: boolean;
  /** Bumped by setStatus; a renewal that carried version v settles the waiters up to v. */
  version: number;
  waiters: Array<{ version: number; resolve: () => void }>;
  closed: boolean;
}

interface BatchEntry {
  service: string;
  id: string;
  status: ReportedStatus;
  note?: string;
}

type BatchResult = { service: string; id: string; status?: string; expiresAt?: string; error?: number; message?: string };

export interface LeasesOptions {
  /** Where background problems go (the client's `error` event). */
  report(error: SignpostError): void;
  /** A registration the server had forgotten was registered again. */
  reregistered(registration: Registration): void;
}

/** A period with jitter: 80-100% of it, so that many clients started together spread out. */
const jittered = (period: number) => period * (0.8 + 0.2 * Math.random());
/** How long a renewal may keep trying: its period (the next tick tries again), or the transport's default for a lease-less ttl 0. */
const retryWithin = (period: number) => (Number.isFinite(period) ? period : undefined);

export class Leases implements LeaseKeeper {
  readonly #transport: Transport;
  readonly #options: LeasesOptions;
  /** By `service/id`: registering the same instance again replaces the lease. */
  readonly #leases = new Map<string, Lease>();
  readonly #byRegistration = new Map<Registration, Lease>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #inFlight: Promise<void> | undefined;

  constructor(transport: Transport, options: LeasesOptions) {
    this.#transport = transport;
    this.#options = options;
  }

  get size(): number {
    return this.#leases.size;
  }

  /** Registers and starts heartbeating; rejects when the server refuses (400, 401, 403) or cannot be reached. */
  async register(options: RegisterOptions): Promise<Registration> {
    const { service, id, ...body } = options;
    const path = `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`;
    const reply = await this.#transport.request('PUT', path, body);
    if (reply.status !== 200) throw rejection(reply, `register ${service}/${id}`, { service, id });
    const stored = reply.body as { service: string; id: string; ttl: number; expiresAt: string | null };
    const state: LeaseState = { status: 'passing', note: '', expiresAt: stored.expiresAt === null ? null : new Date(stored.expiresAt) };
    const registration = new Registration(this, stored, state);
    // ttl 0: no lease, nothing to renew; a status reported is still sent (and refused by the server, 409).
    const period = stored.ttl === 0 ? Infinity : (stored.ttl * 1000) / 3;
    const lease: Lease = {
      registration,
      state,
      path: `/v1/services/${stored.service}/instances/${stored.id}`,
      body,
      period,
      due: Date.now() + jittered(period),
      needsRegister: false,
      version: 0,
      waiters: [],
      closed: false,
    };
    const key = `${stored.service}/${stored.id}`;
    const replaced = this.#leases.get(key);
    if (replaced) this.#close(replaced);
    this.#leases.set(key, lease);
    this.#byRegistration.set(registration, lease);
    this.#schedule();
    return registration;
  }

  setStatus(registration: Registration, status: ReportedStatus, note: string): Promise<void> {
    const lease = this.#byRegistration.get(registration);
    if (!lease || lease.closed) return Promise.resolve();
    lease.state.status = status;
    lease.state.note = note;
    const version = ++lease.version;
    const delivered = new Promise<void>((resolve) => lease.waiters.push({ version, resolve }));
    lease.due = 0;
    this.#schedule();
    return delivered;
  }

  async deregister(registration: Registration): Promise<void> {
    const lease = this.#byRegistration.get(registration);
    if (!lease || lease.closed) return;
    this.#close(lease);
    this.#leases.delete(`${registration.service}/${registration.id}`);
    // A registration in flight must land before the DELETE, or it would bring the instance back.
    await this.#inFlight;
    const reply = await this.#transport.request('DELETE', lease.path);
    if (reply.status !== 204 && reply.status !== 404) throw rejection(reply, `deregister ${registration.service}/${registration.id}`, registration);
  }

  /** Deregisters every registration; problems are reported, not thrown (the leases lapse anyway). */
  async deregisterAll(): Promise<void> {
    const registrations = [...this.#leases.values()].map((lease) => lease.registration);
    const results = await Promise.allSettled(registrations.map((registration) => this.deregister(registration)));
    for (const result of results) if (result.status === 'rejected') this.#options.report(result.reason as SignpostError);
    clearTimeout(this.#timer);
  }

  #close(lease: Lease): void {
    lease.closed = true;
    this.#byRegistration.delete(lease.registration);
    for (const waiter of lease.waiters) waiter.resolve();
    lease.waiters = [];
  }

  /** Arms the one timer for the earliest due lease (none while a tick is in flight: it re-arms after). */
  #schedule(): void {
    if (this.#inFlight) return;
    let next = Infinity;
    for (const lease of this.#leases.values()) next = Math.min(next, lease.due);
    if (next === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    if (next === Infinity) return;
    // Unref'd: heartbeats alone do not keep a process alive (what it serves does).
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - Date.now()));
    this.#timer.unref();
  }

  #tick(): void {
    this.#timerAt = Infinity;
    const now = Date.now();
    const toRegister: Lease[] = [];
    const toRenew: Lease[] = [];
    for (const lease of this.#leases.values()) {
      // Renewing up to half a period early costs nothing, and keeps the leases of a process in one batch.
      if (lease.due === Infinity || lease.due > now + lease.period / 2) continue;
      (lease.needsRegister ? toRegister : toRenew).push(lease);
    }
    const work = [...toRegister.map((lease) => this.#reregister(lease)), ...batches(toRenew).map((batch) => this.#renew(batch))];
    // allSettled: nothing here may stop the timer for good, whatever an 'error' listener throws.
    this.#inFlight = Promise.allSettled(work).then(() => {
      this.#inFlight = undefined;
      this.#schedule();
    });
  }

  async #renew(batch: Lease[]): Promise<void> {
    const sent = batch.map((lease) => lease.version);
    const instances: BatchEntry[] = batch.map(({ registration, state }) => ({
      service: registration.service,
      id: registration.id,
      status: state.status,
      ...(state.note === '' ? {} : { note: state.note }),
    }));
    const retryFor = retryWithin(Math.min(...batch.map((lease) => lease.period)));
    let results: BatchResult[];
    try {
      const reply = await this.#transport.request('PUT', '/v1/heartbeats', { instances }, retryFor);
      if (reply.status !== 200) throw rejection(reply, `heartbeat ${batch.length} instance(s)`);
      results = (reply.body as { results?: BatchResult[] }).results ?? [];
      if (results.length !== batch.length) throw new SignpostError('rejected', `heartbeat: ${results.length} results for ${batch.length} instances`);
    } catch (error) {
      this.#options.report(error as SignpostError);
      const retry = Date.now() + RETRY_MS;
      for (const lease of batch) lease.due = Math.min(retry, Date.now() + lease.period);
      return;
    }
    const now = Date.now();
    batch.forEach((lease, index) => {
      const result = results[index];
      if (lease.closed) return;
      if (result.error === 404) {
        lease.needsRegister = true;
        lease.due = now;
        return;
      }
      if (result.error !== undefined) {
        const { service, id } = lease.registration;
        this.#options.report(new SignpostError('rejected', `heartbeat ${service}/${id}: ${result.error} ${result.message}`, { status: result.error, service, id }));
        if (result.error === 503) {
          lease.due = now + Math.min(RETRY_MS, lease.period);
          return;
        }
        // Refused for good (403: not this token's service; 409: ttl 0): setStatus has its answer, and the error says why.
        this.#delivered(lease, sent[index]);
        lease.due = now + jittered(lease.period);
        return;
      }
      lease.state.expiresAt = new Date(result.expiresAt!);
      this.#delivered(lease, sent[index]);
      // A status set while this was in flight goes out at once.
      lease.due = lease.version === sent[index] ? now + jittered(lease.period) : now;
    });
  }

  async #reregister(lease: Lease): Promise<void> {
    const { service, id } = lease.registration;
    try {
      const reply = await this.#transport.request('PUT', lease.path, lease.body, retryWithin(lease.period));
      if (lease.closed) return;
      if (reply.status !== 200) {
        this.#options.report(rejection(reply, `register ${service}/${id} again`, { service, id }));
        lease.due = Date.now() + jittered(lease.period);
        return;
      }
      const stored = reply.body as { expiresAt: string | null };
      lease.needsRegister = false;
      lease.state.expiresAt = stored.expiresAt === null ? null : new Date(stored.expiresAt);
      // Registered as passing: a status other than that is reported with a heartbeat right away.
      lease.due = lease.state.status === 'passing' ? Date.now() + jittered(lease.period) : 0;
      if (lease.state.status === 'passing') this.#delivered(lease, lease.version);
      this.#options.reregistered(lease.registration);
    } catch (error) {
      this.#options.report(error as SignpostError);
      lease.due = Date.now() + Math.min(RETRY_MS, lease.period);
    }
  }

  #delivered(lease: Lease, version: number): void {
    if (lease.waiters.length === 0) return;
    const waiting = lease.waiters;
    lease.waiters = waiting.filter((waiter) => waiter.version > version);
    for (const waiter of waiting) if (waiter.version <= version) waiter.resolve();
  }
}

/** Splits leases into requests the server takes (entries and body size), in order. */
function batches(leases: Lease[]): Lease[][] {
  const out: Lease[][] = [];
  let current: Lease[] = [];
  let bytes = 0;
  for (const lease of leases) {
    // An entry's size: the names, the note, and ~60 bytes of JSON around them (UTF-16 length is close enough).
    const size = 60 + lease.registration.service.length + lease.registration.id.length + lease.state.note.length * 3;
    if (current.length === BATCH_ENTRIES || (current.length > 0 && bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(lease);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
