// Watches: blocking queries and event streams share one count (bounded) and one event history.
import { WATCH_LIMITS } from '../config/limits.ts';
import type { Registry } from '../registry/registry.ts';
import type { RegistryEvent } from '../registry/types.ts';
import { EventStream, type StreamSink, type WatchEvent } from './stream.ts';

export type { WatchEvent } from './stream.ts';

/** Event streams right now, for /healthz and the tests: how many wait on their socket, and the most bytes one holds. */
export interface StreamFigures {
  open: number;
  behind: number;
  largestQueueBytes: number;
  /** Streams closed since start for falling further behind than the history reaches. */
  cutOff: number;
}

export interface WatchHubOptions {
  maxWatches: number;
  historySize: number;
  /** Bytes an event stream may have queued in memory before it waits for its socket; default WATCH_LIMITS. */
  streamQueuedBytes?: number;
  /** How often every stream gets a comment line; default WATCH_LIMITS. */
  streamKeepaliveMs?: number;
  /**
   * Takes, as an event happens, what its JSON for watchers will need, and returns what makes that
   * JSON's value later (the HTTP layer decides the shape): called once per event, the returned
   * function at most once, when a reader first wants the event.
   */
  body: (event: RegistryEvent) => () => unknown;
}

/**
 * Registry events fan out to watchers through here. Delivery is a synchronous call per watcher
 * that at most queues bytes on its socket, so a slow or vanished consumer never blocks the
 * registry or other consumers. Each event is kept once, in the history, and serialised once, when a
 * reader first needs it (a storm of 100,000 lapses nobody streams costs no JSON); event streams
 * (stream.ts) that fall behind read from the history rather than queueing copies.
 */
export class WatchHub {
  readonly max: number;
  #open = 0;
  readonly #history: WatchEvent[] = [];
  /** The history holds every event after this index. */
  #coveredFrom: number;
  readonly #historySize: number;
  readonly #subscribers = new Set<(event: WatchEvent) => void>();
  /** Blocking queries about one service, by service: an event is offered to its own service's only. */
  readonly #waiters = new Map<string, Set<(event: WatchEvent) => void>>();
  readonly #unsubscribe: () => void;
  readonly #registry: Registry;
  readonly #streams = new Set<EventStream>();
  readonly #streamQueuedBytes: number;
  readonly #streamKeepaliveMs: number;
  #keepalive: NodeJS.Timeout | undefined;
  #cutOff = 0;

  constructor(registry: Registry, options: WatchHubOptions) {
    this.max = options.maxWatches;
    this.#registry = registry;
    this.#historySize = options.historySize;
    this.#streamQueuedBytes = options.streamQueuedBytes ?? WATCH_LIMITS.streamQueuedBytes;
    this.#streamKeepaliveMs = options.streamKeepaliveMs ?? WATCH_LIMITS.streamKeepaliveMs;
    this.#coveredFrom = registry.index;
    this.#unsubscribe = registry.onEvent((event) => {
      const service = event.type === 'settings' ? event.service : event.instance.service;
      const watchEvent: WatchEvent = new HistoryEvent(event.index, event.type, service, options.body(event));
      this.#history.push(watchEvent);
      // Amortised trimming: drop the oldest half-size chunk at once rather than shift() per event.
      if (this.#history.length > this.#historySize * 1.5) {
        const dropped = this.#history.splice(0, this.#history.length - this.#historySize);
        this.#coveredFrom = dropped[dropped.length - 1].id;
      }
      for (const subscriber of this.#subscribers) subscriber(watchEvent);
      const waiters = this.#waiters.get(service);
      if (waiters) for (const waiter of waiters) waiter(watchEvent);
      for (const stream of this.#streams) stream.deliver(watchEvent);
    });
  }

  /** Open watches right now. */
  get open(): number {
    return this.#open;
  }

  /** Takes a watch slot; false when all are taken. Every true must be matched by release(). */
  acquire(): boolean {
    if (this.#open >= this.max) return false;
    this.#open++;
    return true;
  }

  release(): void {
    this.#open--;
  }

  /**
   * Events after `index` (for `service`, or all), or null when the history no longer reaches back
   * that far (or `index` is from the future, e.g. another server's): the client must re-read.
   */
  since(index: number, currentIndex: number, service?: string): WatchEvent[] | null {
    if (index > currentIndex) return null;
    const events = this.after(index);
    return events && events.filter((event) => !service || event.service === service);
  }

  /** Whether the history holds every event after `index` (and `index` is not from the future). */
  covers(index: number): boolean {
    // Indexes may skip values (a shared store's follow its revisions): the history covers `index`
    // iff nothing after it was dropped.
    return index >= this.#coveredFrom && index <= this.#registry.index;
  }

  /** Events after `index`, in order, or null unless the history covers `index`. */
  after(index: number): WatchEvent[] | null {
    if (!this.covers(index)) return null;
    // Ids grow along the history: binary search for the first one past `index`.
    let low = 0;
    let high = this.#history.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#history[middle].id <= index) low = middle + 1;
      else high = middle;
    }
    return this.#history.slice(low);
  }

  /**
   * Starts an event stream on `sink` (an acquired watch slot): from `lastEventId` when the history
   * still covers it, else with one `reset` frame (or, without `lastEventId`, a `hello`) carrying the
   * current index. The returned function ends it (call it when the connection closes).
   */
  openStream(sink: StreamSink, { service, lastEventId }: { service?: string; lastEventId?: number }): () => void {
    const index = this.#registry.index;
    const resumes = lastEventId !== undefined && this.covers(lastEventId);
    const stream = new EventStream(sink, this, { service, cursor: resumes ? lastEventId : index, maxQueuedBytes: this.#streamQueuedBytes });
    if (!resumes) stream.send(`id: ${index}\nevent: ${lastEventId === undefined ? 'hello' : 'reset'}\ndata: ${JSON.stringify({ index })}\n\n`);
    // Added and started in one synchronous step: no event falls between the replay and the live ones.
    this.#streams.add(stream);
    stream.start();
    this.#keepalive ??= setInterval(() => {
      for (const open of this.#streams) open.send(': keep-alive\n\n');
    }, this.#streamKeepaliveMs).unref();
    return () => {
      if (!this.#streams.delete(stream)) return;
      if (stream.cut) this.#cutOff++;
      if (this.#streams.size === 0) {
        clearInterval(this.#keepalive);
        this.#keepalive = undefined;
      }
    };
  }

  /** Event streams now; O(streams), for /healthz. */
  get streams(): StreamFigures {
    let behind = 0;
    let largestQueueBytes = 0;
    for (const stream of this.#streams) {
      if (stream.behind) behind++;
      largestQueueBytes = Math.max(largestQueueBytes, stream.queuedBytes);
    }
    let cutOff = this.#cutOff;
    for (const stream of this.#streams) if (stream.cut) cutOff++;
    return { open: this.#streams.size, behind, largestQueueBytes, cutOff };
  }

  subscribe(subscriber: (event: WatchEvent) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Resolves when `service` has a visible change past `index`, after `timeoutMs`, or when `signal` aborts. */
  waitForChange(service: string, index: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return this.waitFor((event) => event.id > index, timeoutMs, signal, service);
  }

  /**
   * Resolves at the first event `isChange` accepts, after `timeoutMs`, or when `signal` aborts.
   * With `service`, only that service's events are offered to `isChange`: an event then costs the
   * waiters of its own service, not every waiting query. Subscribers (`subscribe`) run first, in
   * the order they subscribed, so one that derives state from events has done so when `isChange` runs.
   */
  waitFor(isChange: (event: WatchEvent) => boolean, timeoutMs: number, signal: AbortSignal, service?: string): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const waiter = (event: WatchEvent) => {
        if (isChange(event)) done();
      };
      const unsubscribe = service === undefined ? this.subscribe(waiter) : this.#addWaiter(service, waiter);
      signal.addEventListener('abort', done);
    });
  }

  #addWaiter(service: string, waiter: (event: WatchEvent) => void): () => void {
    let waiters = this.#waiters.get(service);
    if (!waiters) this.#waiters.set(service, (waiters = new Set()));
    waiters.add(waiter);
    return () => {
      waiters.delete(waiter);
      if (waiters.size === 0 && this.#waiters.get(service) === waiters) this.#waiters.delete(service);
    };
  }

  close(): void {
    this.#unsubscribe();
    this.#subscribers.clear();
    this.#waiters.clear();
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }
}

/** An event in the history: its JSON made on first read, then kept. */
class HistoryEvent implements WatchEvent {
  readonly id: number;
  readonly type: RegistryEvent['type'];
  readonly service: string;
  frame?: string;
  #body: (() => unknown) | undefined;
  #json: string | undefined;

  constructor(id: number, type: RegistryEvent['type'], service: string, body: () => unknown) {
    this.id = id;
    this.type = type;
    this.service = service;
    this.#body = body;
  }

  get json(): string {
    if (this.#json === undefined) {
      this.#json = JSON.stringify(this.#body!());
      this.#body = undefined;
    }
    return this.#json;
  }
}
