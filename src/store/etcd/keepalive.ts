// Lease renewals over one long-lived LeaseKeepAlive stream per node: a heartbeat whose status did
// not change is one message on it, not an etcd write. Every renewal asked for in one event-loop
// turn goes out together, and two renewals of the same lease in a turn are sent once.
import type { IDuplexStream } from 'etcd3';
import { StoreError } from '../../registry/store.ts';
import { ETCD_CALL_TIMEOUT_MS, type EtcdConnection } from './connection.ts';

interface Pending {
  resolve(ttl: number): void;
  reject(error: StoreError): void;
}

type KeepAliveStream = IDuplexStream<{ ID?: string }, { ID: string; TTL: string }>;

export class KeepAlive {
  readonly #etcd: EtcdConnection;
  /** Renewals waiting for this turn's flush, and those sent and waiting for their answer, by lease id. */
  #queued = new Map<string, Pending[]>();
  readonly #inFlight = new Map<string, Pending[]>();
  #stream: Promise<KeepAliveStream> | undefined;

  constructor(etcd: EtcdConnection) {
    this.#etcd = etcd;
  }

  /** Renews a lease; resolves with its new TTL (0: the lease is gone), rejects with a StoreError. */
  renew(leaseId: string): Promise<number> {
    if (this.#etcd.closed) return Promise.reject(this.#etcd.closedError());
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const first = this.#queued.size === 0;
    let waiting = this.#queued.get(leaseId);
    if (!waiting) this.#queued.set(leaseId, (waiting = []));
    waiting.push({ resolve, reject });
    if (first) setImmediate(() => void this.#flush());
    return promise;
  }

  /** Fails every renewal waiting or in flight, and ends the stream. */
  close(): void {
    const closed = this.#etcd.closedError();
    for (const waiting of [...this.#queued.values(), ...this.#inFlight.values()]) for (const pending of waiting) pending.reject(closed);
    this.#queued.clear();
    this.#inFlight.clear();
    const stream = this.#stream;
    this.#stream = undefined;
    void stream?.then((s) => s.end(), () => {});
  }

  async #flush(): Promise<void> {
    const batch = this.#queued;
    this.#queued = new Map();
    let stream;
    try {
      stream = await this.#open();
    } catch (error) {
      const failure = this.#etcd.failure(error);
      for (const [id, waiting] of batch) {
        for (const pending of waiting) pending.reject(failure);
        if (this.#inFlight.get(id) === waiting) this.#inFlight.delete(id);
      }
      return;
    }
    for (const [id, waiting] of batch) {
      const already = this.#inFlight.get(id);
      if (already) already.push(...waiting);
      else {
        this.#inFlight.set(id, waiting);
        stream.write({ ID: id });
      }
    }
    // Answers that do not come in time fail the heartbeat (503) and drop the stream, so the next one reconnects.
    setTimeout(() => {
      let late = false;
      for (const [id, waiting] of batch) {
        if (this.#inFlight.get(id) !== waiting && !this.#inFlight.has(id)) continue;
        late = true;
        this.#inFlight.delete(id);
        const error = new StoreError(`${this.#etcd.name}: no answer to a lease renewal within ${ETCD_CALL_TIMEOUT_MS} ms`);
        for (const pending of waiting) pending.reject(error);
      }
      if (late) this.#drop(new Error('keep-alive timed out'));
    }, ETCD_CALL_TIMEOUT_MS).unref();
  }

  #open(): Promise<KeepAliveStream> {
    this.#stream ??= this.#etcd.call((client) => client.leaseClient.leaseKeepAlive()).then((stream) => {
      stream.on('data', (response: { ID: string; TTL: string }) => {
        const waiting = this.#inFlight.get(response.ID);
        this.#inFlight.delete(response.ID);
        for (const pending of waiting ?? []) pending.resolve(Number(response.TTL));
      });
      const broken = (error: Error) => this.#drop(error);
      stream.on('error', broken);
      stream.on('end', () => broken(new Error('the keep-alive stream ended')));
      return stream;
    });
    // A failed open is not kept: the next renewal tries again.
    this.#stream.catch(() => (this.#stream = undefined));
    return this.#stream;
  }

  #drop(error: Error): void {
    const stream = this.#stream;
    this.#stream = undefined;
    void stream?.then((s) => (s as unknown as { destroy?: () => void }).destroy?.(), () => {});
    const failure = this.#etcd.failure(error);
    for (const waiting of this.#inFlight.values()) for (const pending of waiting) pending.reject(failure);
    this.#inFlight.clear();
  }
}
