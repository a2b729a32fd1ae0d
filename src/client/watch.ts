// `client.watch()`: the event stream as an async iterable. The stream keeps the process alive
// only while the consumer waits for an event, like any pending I/O; an unread backlog past a
// bound pauses reading (the server then drops the stream, and it resumes from the last event).
import { EventStream } from './event-stream.ts';
import type { SignpostError } from './errors.ts';
import type { Servers } from './servers.ts';
import type { WatchEvent } from './types.ts';

const PAUSE_AT = 10_000;
const RESUME_AT = 1_000;

export interface WatchOptions {
  /** Start after this registry index (an `X-Signpost-Index` or an event's `index`): missed events are replayed first. */
  after?: number;
}

export class Watch implements AsyncIterableIterator<WatchEvent> {
  readonly #ready: Promise<number>;
  #opened = false;
  readonly #stream: EventStream;
  readonly #queue: WatchEvent[] = [];
  #waiting: { resolve(result: IteratorResult<WatchEvent>): void; reject(error: SignpostError): void } | undefined;
  #done = false;
  /** Why the server refused the stream for good, until a `next()` has reported it. */
  #refusal: SignpostError | undefined;
  readonly #onClose: (watch: Watch) => void;

  constructor(servers: Servers, token: string | undefined, service: string | undefined, options: WatchOptions, hooks: { error(error: SignpostError): void; closed(watch: Watch): void }) {
    this.#onClose = hooks.closed;
    let opened: (index: number) => void;
    let refused: (error: SignpostError) => void;
    this.#ready = new Promise((resolve, reject) => ((opened = resolve), (refused = reject)));
    // Handled here too: a refusal rejects `ready` whether or not anyone waits on it.
    this.#ready.catch(() => {});
    const path = service === undefined ? '/v1/watch' : `/v1/watch?service=${encodeURIComponent(service)}`;
    this.#stream = new EventStream(
      servers,
      path,
      token,
      {
        onEvent: (message) => {
          if (!this.#opened) {
            this.#opened = true;
            opened(message.index);
            if (!this.#waiting) this.#stream.unref();
          }
          if (message.event === 'hello') return;
          // A reset carries only the index; every other event names its type in its data too.
          this.#push(message.event === 'reset' ? { type: 'reset', index: message.index } : (JSON.parse(message.data) as WatchEvent));
        },
        onError: hooks.error,
        onRefused: (error) => {
          refused(error);
          this.#refusal = error;
          this.#end();
        },
      },
      options.after,
    );
    this.#stream.unref();
  }

  /**
   * Resolves with the registry index the stream starts from once the server has opened it: a
   * change made after that is seen. (A change made between `watch()` and then may or may not be.)
   * Like a pending `next()`, waiting for it keeps the process alive.
   */
  get ready(): Promise<number> {
    if (!this.#opened) this.#stream.ref();
    return this.#ready;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const queued = this.#queue.shift();
    if (queued) {
      if (this.#queue.length === RESUME_AT) this.#stream.resume();
      return Promise.resolve({ value: queued, done: false });
    }
    const refusal = this.#refusal;
    if (refusal) {
      this.#refusal = undefined;
      return Promise.reject(refusal);
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#stream.ref();
    });
  }

  /** Ends the watch (`break` in a `for await` calls this). */
  return(): Promise<IteratorResult<WatchEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    this.#refusal = undefined;
    this.#end();
  }

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#stream.close();
    this.#onClose(this);
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    this.#stream.unref();
    const refusal = this.#refusal;
    this.#refusal = undefined;
    if (refusal) waiting.reject(refusal);
    else waiting.resolve({ value: undefined, done: true });
  }

  #push(event: WatchEvent): void {
    if (this.#done) return;
    if (this.#waiting) {
      this.#deliver({ value: event, done: false });
      return;
    }
    this.#queue.push(event);
    if (this.#queue.length === PAUSE_AT) this.#stream.pause();
  }

  #deliver(result: IteratorResult<WatchEvent>): void {
    const waiting = this.#waiting;
    if (!waiting) return;
    this.#waiting = undefined;
    this.#stream.unref();
    waiting.resolve(result);
  }
}
