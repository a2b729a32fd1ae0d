// Lease renewals over one long-lived LeaseKeepAlive stream per node: a heartbeat whose status did
// not change is one message on it, not an etcd write. Every renewal asked for in one event-loop
// turn goes out together, and two renewals of the same lease in a turn are sent once.
//
// etcd answers a keep-alive stream in order (it reads a request, renews, answers, then reads the
// next), so the renewals sent and not yet answered are a queue, and each answer settles the head
// of it. Each request is its own entry: an answer, a timeout or a broken stream settles exactly the
// renewals of that request, never those of a later request for the same lease. (Bookkeeping keyed
// by lease id let a stale timer take a later renewal of the same lease for its own, unsettled: that
// heartbeat hung, and the lease lapsed while its client was still beating.)
import type { IDuplexStream } from 'etcd3';
import { StoreError } from '../../registry/store.ts';
import type { EtcdConnection } from './connection.ts';

/**
 * How long etcd may take to answer a renewal before the heartbeat fails (503) and the stream is
 * dropped (the next renewal opens a new one). Renewals are answered from the leader's memory in
 * about a millisecond; this leaves room for a loaded machine and keeps a heartbeat's answer, 200
 * or 503, within a second.
 */
export const RENEWAL_TIMEOUT_MS = 600;

interface Waiter {
  resolve(ttl: number): void;
  reject(error: StoreError): void;
}

/** One keep-alive request written to the stream, and the renewals it answers. */
interface Sent {
  id: string;
  waiters: Waiter[];
  sentAt: number;
}

type KeepAliveStream = IDuplexStream<{ ID?: string }, { ID: string; TTL: string }>;

interface Open {
  stream: KeepAliveStream;
  /** Requests written to this stream and not answered yet, oldest first. */
  sent: Sent[];
  timer: NodeJS.Timeout | undefined;
  dropped: boolean;
  /** etcd's recoveries when it was opened: a stream from before etcd came back breaking says nothing new. */
  recoveries: number;
}

export class KeepAlive {
  readonly #etcd: EtcdConnection;
  /** Renewals waiting for this turn's flush, by lease id. */
  #queued = new Map<string, Waiter[]>();
  /** The stream in use, and one being opened. */
  #current: Open | undefined;
  #opening: Promise<Open> | undefined;

  constructor(etcd: EtcdConnection) {
    this.#etcd = etcd;
  }

  /** Renews a lease; resolves with its new TTL (0: the lease is gone), rejects with a StoreError. */
  renew(leaseId: string): Promise<number> {
    if (this.#etcd.closed) return Promise.reject(this.#etcd.closedError());
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    if (this.#queued.size === 0) setImmediate(() => void this.#flush());
    let waiting = this.#queued.get(leaseId);
    if (!waiting) this.#queued.set(leaseId, (waiting = []));
    waiting.push({ resolve, reject });
    return promise;
  }

  /** Fails every renewal waiting or in flight, and ends the stream. */
  close(): void {
    const closed = this.#etcd.closedError();
    for (const waiting of this.#queued.values()) for (const waiter of waiting) waiter.reject(closed);
    this.#queued.clear();
    if (this.#current) this.#drop(this.#current, closed);
  }

  async #flush(): Promise<void> {
    const batch = this.#queued;
    this.#queued = new Map();
    let open: Open;
    try {
      open = await this.#connect();
    } catch (error) {
      const failure = this.#etcd.failure(error);
      for (const waiting of batch.values()) for (const waiter of waiting) waiter.reject(failure);
      return;
    }
    const now = Date.now();
    for (const [id, waiters] of batch) {
      open.sent.push({ id, waiters, sentAt: now });
      open.stream.write({ ID: id });
    }
    this.#watchHead(open);
  }

  async #connect(): Promise<Open> {
    if (this.#current) return this.#current;
    if (this.#etcd.closed) throw this.#etcd.closedError();
    const recoveries = this.#etcd.recoveries;
    // Not through `call`: opening a stream sends nothing yet, so it says nothing about whether etcd answers.
    this.#opening ??= this.#etcd.client.leaseClient
      .leaseKeepAlive()
      .catch((error: unknown) => {
        throw this.#etcd.failure(error, recoveries);
      })
      .then((stream) => {
        const open: Open = { stream, sent: [], timer: undefined, dropped: false, recoveries };
        stream.on('data', (response: { ID: string; TTL: string }) => this.#answered(open, response));
        stream.on('error', (error: Error) => this.#drop(open, error));
        stream.on('end', () => this.#drop(open, new Error('the keep-alive stream ended')));
        if (this.#etcd.closed) {
          this.#drop(open, this.#etcd.closedError());
          throw this.#etcd.closedError();
        }
        this.#current = open;
        return open;
      })
      // A failed open is not kept: the next renewal tries again.
      .finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  #answered(open: Open, response: { ID: string; TTL: string }): void {
    // In order: the answer is the oldest request's. Should etcd ever answer out of order, the
    // answer still goes to the oldest request for that lease, and nothing else is settled.
    const at = open.sent[0]?.id === response.ID ? 0 : open.sent.findIndex((sent) => sent.id === response.ID);
    if (at < 0) return;
    const [sent] = open.sent.splice(at, 1);
    for (const waiter of sent.waiters) waiter.resolve(Number(response.TTL));
  }

  /**
   * One timer per stream watches the oldest unanswered request. It is armed when there is none and
   * re-armed only when it fires (answers move the head without touching it: no timer work per renewal).
   */
  #watchHead(open: Open): void {
    if (open.timer || open.sent.length === 0) return;
    open.timer = setTimeout(() => {
      // Judged after this turn's I/O: on a loop that was blocked, an answer already in the socket is read first.
      setImmediate(() => {
        open.timer = undefined;
        const head = open.sent[0];
        if (!head || open.dropped) return;
        if (Date.now() - head.sentAt < RENEWAL_TIMEOUT_MS) return this.#watchHead(open);
        this.#drop(open, new StoreError(`${this.#etcd.name}: no answer to a lease renewal within ${RENEWAL_TIMEOUT_MS} ms`));
      });
    }, Math.max(1, open.sent[0].sentAt + RENEWAL_TIMEOUT_MS - Date.now()));
    open.timer.unref();
  }

  /** The stream broke or is stuck: every renewal in flight on it fails, and the next renewal opens a new one. */
  #drop(open: Open, error: Error): void {
    if (open.dropped) return;
    open.dropped = true;
    if (this.#current === open) this.#current = undefined;
    this.#fail(open, this.#etcd.closed ? this.#etcd.closedError() : this.#etcd.failure(error, open.recoveries));
    // Ended from this side first, so the client library does not take the cancellation for a failed
    // etcd member (it would reset every connection to it, the watch's too).
    open.stream.end();
    (open.stream as unknown as { cancel?: () => void }).cancel?.();
  }

  #fail(open: Open, error: StoreError): void {
    clearTimeout(open.timer);
    open.timer = undefined;
    const sent = open.sent.splice(0);
    for (const request of sent) for (const waiter of request.waiters) waiter.reject(error);
  }
}
