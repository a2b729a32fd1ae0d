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
import { ETCD_CALL_TIMEOUT_MS, type EtcdConnection } from './connection.ts';

/**
 * How long a heartbeat's renewal may wait for etcd's answer before the heartbeat fails (503).
 * Renewals are answered from the leader's memory in about a millisecond; this leaves room for a
 * loaded machine and keeps a heartbeat's answer, 200 or 503, within a second. The request stays
 * on the stream (its late answer is dropped): the stream itself is replaced only when etcd has not
 * answered its oldest request for ETCD_CALL_TIMEOUT_MS, as any etcd call would fail by then.
 */
export const RENEWAL_TIMEOUT_MS = 600;
/** How often renewals in flight are checked against their deadlines. */
const SWEEP_MS = 100;

interface Waiter {
  resolve(ttl: number): void;
  reject(error: StoreError): void;
  /** Epoch ms after which it fails, answered or not. */
  deadline: number;
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

  /**
   * Renews a lease; resolves with its new TTL (0: the lease is gone), rejects with a StoreError, at
   * the latest `timeoutMs` from now.
   */
  renew(leaseId: string, timeoutMs = RENEWAL_TIMEOUT_MS): Promise<number> {
    if (this.#etcd.closed) return Promise.reject(this.#etcd.closedError());
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    if (this.#queued.size === 0) setImmediate(() => void this.#flush());
    let waiting = this.#queued.get(leaseId);
    if (!waiting) this.#queued.set(leaseId, (waiting = []));
    waiting.push({ resolve, reject, deadline: Date.now() + timeoutMs });
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
   * While requests are in flight, one timer per stream checks them every SWEEP_MS (no timer work
   * per renewal): renewals past their deadline fail, and a stream whose oldest request went
   * unanswered for ETCD_CALL_TIMEOUT_MS is dropped.
   */
  #watchHead(open: Open): void {
    if (open.timer || open.sent.length === 0) return;
    open.timer = setTimeout(() => {
      // Judged after this turn's I/O: on a loop that was blocked, an answer already in the socket is read first.
      setImmediate(() => {
        open.timer = undefined;
        if (open.dropped || open.sent.length === 0) return;
        const now = Date.now();
        if (now - open.sent[0].sentAt >= ETCD_CALL_TIMEOUT_MS) {
          this.#drop(open, new StoreError(`${this.#etcd.name}: no answer on the keep-alive stream within ${ETCD_CALL_TIMEOUT_MS} ms`));
          return;
        }
        for (const request of open.sent) {
          if (!request.waiters.some((waiter) => waiter.deadline <= now)) continue;
          const late = new StoreError(`${this.#etcd.name}: no answer to a lease renewal within ${Math.round(now - request.sentAt)} ms`);
          request.waiters = request.waiters.filter((waiter) => {
            if (waiter.deadline > now) return true;
            waiter.reject(late);
            return false;
          });
        }
        this.#watchHead(open);
      });
    }, SWEEP_MS);
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
