// One etcd client per node, every call bounded in time, and whether etcd can be reached now.
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import type { EtcdTls } from '../../config/tls.ts';
import { StoreError } from '../../registry/store.ts';

/** How long one etcd call may take before the write fails with 503 (never a hang). */
export const ETCD_CALL_TIMEOUT_MS = 2_000;
/** While etcd is unreachable, how often the connection checks whether it is back. */
export const PROBE_INTERVAL_MS = 500;

/**
 * `call` runs one etcd request: a failure becomes a StoreError (503) and marks etcd unavailable,
 * a success marks it available again. While unavailable, a cheap read every PROBE_INTERVAL_MS
 * finds out when it is back. Listeners hear of each transition once.
 */
export class EtcdConnection {
  readonly client: Etcd3;
  /** For messages: the members as configured. */
  readonly name: string;
  readonly #probeKey: string;
  readonly #listeners = new Set<(up: boolean) => void>();
  #available = true;
  /** How many times etcd came back: a call that began before it last did says nothing about now. */
  #recoveries = 0;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;

  /** `tls`: every connection is TLS (with a client certificate if it has one); otherwise plain gRPC. */
  constructor(hosts: string[], probeKey: string, tls?: EtcdTls) {
    this.name = `etcd ${hosts.join(',')}`;
    this.#probeKey = probeKey;
    this.client = new Etcd3({
      hosts: hosts.map((host) => `${tls ? 'https' : 'http'}://${host}`),
      // etcd3 passes these to grpc.credentials.createSsl; a missing root certificate means the system's CAs.
      ...(tls ? { credentials: tls as { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } } : {}),
      dialTimeout: ETCD_CALL_TIMEOUT_MS,
      // Unary calls get a deadline; the watch and keep-alive streams live on.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      faultHandling: {
        // One failed member is skipped for 1 s (not the client's default 5 s): a restarted etcd is used again soon.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
        // One retry, on another member if there is one (a killed leader); two tries stay within a few seconds.
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        // A watch that broke is re-established within a second once etcd is back (the default backs off to 30 s).
        watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }).next(),
      },
    });
  }

  get available(): boolean {
    return this.#available;
  }

  /** How many times etcd came back so far: give it to `failure` for a failure of something begun now. */
  get recoveries(): number {
    return this.#recoveries;
  }

  get closed(): boolean {
    return this.#closed;
  }

  onAvailability(listener: (up: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async call<T>(request: (client: Etcd3) => Promise<T>): Promise<T> {
    if (this.#closed) throw this.closedError();
    const recoveries = this.#recoveries;
    try {
      const result = await request(this.client);
      this.setAvailable(true);
      return result;
    } catch (error) {
      throw this.failure(error, recoveries);
    }
  }

  /**
   * A failure as the StoreError clients see (503), marking etcd unavailable, unless etcd came back
   * since the failed call began (`recoveries`, as it was then).
   */
  failure(error: unknown, recoveries = this.#recoveries): StoreError {
    if (error instanceof StoreError) return error;
    if (recoveries === this.#recoveries) this.setAvailable(false);
    return new StoreError(`${this.name} unavailable: ${grpcReason((error as Error).message)}`, { cause: error });
  }

  closedError(): StoreError {
    return new StoreError(`${this.name}: the store is closed`);
  }

  setAvailable(up: boolean): void {
    if (this.#closed || up === this.#available) return;
    this.#available = up;
    if (up) this.#recoveries++;
    for (const listener of this.#listeners) listener(up);
    clearTimeout(this.#probe);
    if (!up) this.#scheduleProbe();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#probe);
    this.client.close();
  }

  #scheduleProbe(): void {
    this.#probe = setTimeout(() => {
      this.client.kv
        .range({ key: Buffer.from(this.#probeKey) })
        .then(
          () => this.setAvailable(true),
          () => {
            if (!this.#available) this.#scheduleProbe();
          },
        );
    }, PROBE_INTERVAL_MS);
    this.#probe.unref();
  }
}

/**
 * The part of a gRPC error a person can act on: `14 UNAVAILABLE: No connection established. Last
 * error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ` → `connect ECONNREFUSED 127.0.0.1:1`.
 */
export function grpcReason(message: string): string {
  const firstLine = message.split('\n')[0];
  const last = /Last error: (?:\w*Error: )?(.+?)\.?(?: Resolution note:.*)?$/.exec(firstLine);
  return (last ? last[1] : firstLine).trim();
}
