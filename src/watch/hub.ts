// Watches: blocking queries and event streams share one count (bounded) and one event history.
import type { Registry } from '../registry/registry.ts';
import type { RegistryEvent } from '../registry/types.ts';

/** A registry event as a watcher receives it: its index as id, its JSON serialised once, when it happened. */
export interface WatchEvent {
  id: number;
  type: RegistryEvent['type'];
  service: string;
  json: string;
}

export interface WatchHubOptions {
  maxWatches: number;
  historySize: number;
  /** Serialises an event for watchers (the HTTP layer decides the shape). */
  serialise: (event: RegistryEvent) => unknown;
}

/**
 * Registry events fan out to watchers through here. Delivery is a synchronous call per
 * subscriber that only queues bytes on its socket, so a slow or vanished consumer never blocks
 * the registry or other consumers (the stream drops a consumer whose backlog grows too large).
 */
export class WatchHub {
  readonly max: number;
  #open = 0;
  readonly #history: WatchEvent[] = [];
  /** The history holds every event after this index. */
  #coveredFrom: number;
  readonly #historySize: number;
  readonly #subscribers = new Set<(event: WatchEvent) => void>();
  readonly #unsubscribe: () => void;

  constructor(registry: Registry, options: WatchHubOptions) {
    this.max = options.maxWatches;
    this.#historySize = options.historySize;
    this.#coveredFrom = registry.index;
    this.#unsubscribe = registry.onEvent((event) => {
      const service = event.type === 'settings' ? event.service : event.instance.service;
      const watchEvent: WatchEvent = { id: event.index, type: event.type, service, json: JSON.stringify(options.serialise(event)) };
      this.#history.push(watchEvent);
      // Amortised trimming: drop the oldest half-size chunk at once rather than shift() per event.
      if (this.#history.length > this.#historySize * 1.5) {
        const dropped = this.#history.splice(0, this.#history.length - this.#historySize);
        this.#coveredFrom = dropped[dropped.length - 1].id;
      }
      for (const subscriber of this.#subscribers) subscriber(watchEvent);
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
    if (index === currentIndex) return [];
    // Indexes may skip values (a shared store's follow its revisions): the history covers `index`
    // iff nothing after it was dropped.
    if (index < this.#coveredFrom) return null;
    return this.#history.filter((event) => event.id > index && (!service || event.service === service));
  }

  subscribe(subscriber: (event: WatchEvent) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Resolves when `service` has a visible change past `index`, after `timeoutMs`, or when `signal` aborts. */
  waitForChange(service: string, index: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return this.waitFor((event) => event.service === service && event.id > index, timeoutMs, signal);
  }

  /**
   * Resolves at the first event `isChange` accepts, after `timeoutMs`, or when `signal` aborts.
   * Subscribers run in the order they subscribed, so one that derives state from events (and
   * subscribed first) has done so when `isChange` runs.
   */
  waitFor(isChange: (event: WatchEvent) => boolean, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const unsubscribe = this.subscribe((event) => {
        if (isChange(event)) done();
      });
      signal.addEventListener('abort', done);
    });
  }

  close(): void {
    this.#unsubscribe();
    this.#subscribers.clear();
  }
}
