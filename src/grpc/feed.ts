// The healthy instances of one service, kept current by Signpost's event stream: every event
// about the service (and `hello`/`reset` after a reconnection) leads to one read of the service,
// so a change reaches the subscribers in about a round trip. Shared by every gRPC channel
// that names the same service on the same servers.
import { SignpostError } from '../client/errors.ts';
import { EventStream } from '../client/event-stream.ts';
import { servable } from '../client/sources.ts';
import { Transport } from '../client/transport.ts';
import type { ServiceRecord } from '../client/types.ts';

export type Resolution = { ok: true; addresses: Array<{ host: string; port: number }>; note: string } | { ok: false; details: string };

/** How long one read of the service may take, ms (the stream's next event, or gRPC, asks again). */
const READ_TIMEOUT_MS = 5_000;

export class ServiceFeed {
  readonly #service: string;
  readonly #transport: Transport;
  readonly #token: string | undefined;
  readonly #subscribers = new Set<(resolution: Resolution) => void>();
  readonly #onEmpty: () => void;
  #stream: EventStream | undefined;
  #last: Resolution | undefined;
  #reading = false;
  #readAgain = false;

  constructor(urls: readonly string[], token: string | undefined, service: string, onEmpty: () => void) {
    this.#service = service;
    this.#token = token;
    this.#transport = new Transport(urls, { token, attemptTimeoutMs: READ_TIMEOUT_MS, retryForMs: READ_TIMEOUT_MS });
    this.#onEmpty = onEmpty;
  }

  /** Delivers the current resolution (never synchronously) and every later one, until the returned function is called. */
  subscribe(subscriber: (resolution: Resolution) => void): () => void {
    this.#subscribers.add(subscriber);
    if (this.#stream === undefined) {
      const path = `/v1/watch?service=${encodeURIComponent(this.#service)}`;
      this.#stream = new EventStream(this.#transport.servers, path, this.#token, {
        onEvent: () => this.refresh(),
        onError: (error) => this.#publish({ ok: false, details: error.message }),
        // Refused for good (a bad token, say): channels fail with the server's reason; their re-resolutions read again.
        onRefused: (error) => this.#publish({ ok: false, details: error.message }),
      });
      // gRPC lets a process with open channels exit; the stream must not hold it either.
      this.#stream.unref();
    } else if (this.#last !== undefined) {
      const last = this.#last;
      setImmediate(() => this.#subscribers.has(subscriber) && subscriber(last));
    }
    return () => {
      if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0) return;
      this.#stream?.close();
      this.#stream = undefined;
      this.#last = undefined;
      this.#transport.close();
      this.#onEmpty();
    };
  }

  /** Reads the service again (once more after the read in flight, if one is). */
  refresh(): void {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    void this.#read().then((resolution) => {
      this.#reading = false;
      if (this.#stream === undefined) return;
      this.#publish(resolution);
      if (this.#readAgain) {
        this.#readAgain = false;
        this.refresh();
      }
    });
  }

  async #read(): Promise<Resolution> {
    const service = this.#service;
    try {
      const reply = await this.#transport.request('GET', `/v1/services/${encodeURIComponent(service)}`);
      if (reply.status === 404) return { ok: true, addresses: [], note: `no instance of ${service} is registered in Signpost` };
      if (reply.status !== 200) return { ok: false, details: `Signpost: ${reply.status} ${(reply.body as { message?: string } | undefined)?.message ?? ''}` };
      const instances = servable(reply.body as ServiceRecord, undefined, '');
      // gRPC balances over addresses, not weights: the best priority tier, as DNS would offer first.
      const best = Math.min(...instances.map((instance) => instance.priority));
      const addresses = instances.filter((instance) => instance.priority === best).map(({ address, port }) => ({ host: address, port }));
      return { ok: true, addresses, note: addresses.length === 0 ? `no healthy instance of ${service} in Signpost` : '' };
    } catch (error) {
      return { ok: false, details: (error as SignpostError).message };
    }
  }

  #publish(resolution: Resolution): void {
    if (resolution.ok) this.#last = resolution;
    for (const subscriber of this.#subscribers) subscriber(resolution);
  }
}
