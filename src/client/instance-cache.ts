// `resolve()` and `pick()`: answers kept for their TTL and refreshed in the background before
// they expire, so that a service in steady use is picked from memory, never waiting on I/O.
import { SignpostError } from './errors.ts';
import { Picker } from './pick.ts';
import type { Source } from './sources.ts';
import type { ServiceInstance } from './types.ts';

/** The shortest time an answer is kept, seconds: a TTL of 0 would put a query behind every pick. */
const MIN_TTL = 1;
/** Refreshed in the background once this share of its TTL has passed. */
const REFRESH_AT = 0.75;

interface Entry {
  instances: readonly ServiceInstance[];
  picker: Picker<ServiceInstance>;
  ttlMs: number;
  /** Epoch ms. */
  expiresAt: number;
  refreshAt: number;
}

export class InstanceCache {
  readonly #source: Source;
  readonly #report: (error: SignpostError) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #refreshing = new Map<string, Promise<Entry>>();

  constructor(source: Source, report: (error: SignpostError) => void) {
    this.#source = source;
    this.#report = report;
  }

  async resolve(service: string, tag?: string): Promise<readonly ServiceInstance[]> {
    return (await this.#entry(service, tag)).instances;
  }

  pick(service: string, tag?: string): Promise<ServiceInstance> {
    const entry = this.#entry(service, tag);
    if (entry instanceof Promise) return entry.then((ready) => choose(ready, service));
    try {
      return Promise.resolve(choose(entry, service));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The cached entry when fresh (starting a background refresh near its end), else a refresh to wait for. */
  #entry(service: string, tag: string | undefined): Entry | Promise<Entry> {
    const key = tag === undefined ? service : `${service}\0${tag}`;
    const entry = this.#entries.get(key);
    const now = Date.now();
    if (entry !== undefined && now < entry.expiresAt) {
      if (now >= entry.refreshAt && !this.#refreshing.has(key)) this.#refresh(key, service, tag).catch((error: SignpostError) => this.#report(error));
      return entry;
    }
    return this.#refresh(key, service, tag);
  }

  #refresh(key: string, service: string, tag: string | undefined): Promise<Entry> {
    const pending = this.#refreshing.get(key);
    if (pending) return pending;
    const refresh = this.#source(service.toLowerCase(), tag?.toLowerCase()).then(
      (answer) => {
        const ttl = Math.max(MIN_TTL, answer.ttl) * 1000;
        const now = Date.now();
        const entry: Entry = {
          instances: Object.freeze(answer.instances),
          picker: new Picker(answer.instances),
          ttlMs: ttl,
          expiresAt: now + ttl,
          refreshAt: now + ttl * REFRESH_AT,
        };
        this.#entries.set(key, entry);
        return entry;
      },
      (error: SignpostError) => {
        const stale = this.#entries.get(key);
        if (!stale) throw error;
        // Serve the last answer while the server cannot be reached (as DNS serve-stale does), and ask again in a while.
        this.#report(error);
        const retry = Date.now() + stale.ttlMs;
        stale.expiresAt = retry;
        stale.refreshAt = retry;
        return stale;
      },
    );
    this.#refreshing.set(key, refresh);
    void refresh.finally(() => this.#refreshing.delete(key)).catch(() => {});
    return refresh;
  }
}

function choose(entry: Entry, service: string): ServiceInstance {
  const instance = entry.picker.pick();
  if (instance === undefined) throw new SignpostError('no-instances', `no healthy instance of service ${service}`);
  return instance;
}
