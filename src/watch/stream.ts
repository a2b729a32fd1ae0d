// One server-sent-events stream: a cursor into the hub's shared history and a bounded write queue.
import type { RegistryEvent } from '../registry/types.ts';

/** A registry event as a watcher receives it: its index as id, its JSON serialised once (on first read). */
export interface WatchEvent {
  readonly id: number;
  readonly type: RegistryEvent['type'];
  readonly service: string;
  readonly json: string;
  /** Its server-sent-events frame, made by the first stream that sends it. */
  frame?: string;
}

/** Where a stream's bytes go: an HTTP response (the parts of it used here). */
export interface StreamSink {
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
  /** Bytes written and not yet handed to the kernel. */
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): void;
}

/** What a stream reads from: the hub's history of events. */
export interface EventSource {
  /** Events after `index` in order, or null when the history no longer reaches back that far. */
  after(index: number): readonly WatchEvent[] | null;
  /** Whether the history still holds every event after `index` (what `after` would not refuse). */
  covers(index: number): boolean;
}

/** An event as one SSE frame, made once per event whoever sends it. */
function frameOf(event: WatchEvent): string {
  return (event.frame ??= `id: ${event.id}\nevent: ${event.type}\ndata: ${event.json}\n\n`);
}

/**
 * Sends events to one client without ever holding more than `maxQueuedBytes` (plus the frame
 * that crossed it) in the server's memory for it. While its socket is behind, events are not
 * copied anywhere: the stream only remembers the id of the last one it dealt with (its cursor)
 * and, once the socket has taken what was queued, catches up from the shared history. A stream
 * so far behind that the history no longer holds its next event is closed: memory stays bounded
 * whatever the client does, and the client resumes with Last-Event-ID (getting a `reset`).
 */
export class EventStream {
  readonly #sink: StreamSink;
  readonly #source: EventSource;
  readonly #service: string | undefined;
  readonly #maxQueuedBytes: number;
  /** The id of the last event this stream wrote or skipped (another service's). */
  #cursor: number;
  /** Waiting for the socket to take what is queued; new events wait in the history meanwhile. */
  #behind = false;
  #cut = false;

  constructor(sink: StreamSink, source: EventSource, options: { service?: string; cursor: number; maxQueuedBytes: number }) {
    this.#sink = sink;
    this.#source = source;
    this.#service = options.service;
    this.#cursor = options.cursor;
    this.#maxQueuedBytes = options.maxQueuedBytes;
  }

  /** Waiting for its socket to drain (its client reads slower than events come). */
  get behind(): boolean {
    return this.#behind;
  }

  /** Closed by the server for falling further behind than the history reaches. */
  get cut(): boolean {
    return this.#cut;
  }

  /** Bytes queued for this stream in the server's memory now. */
  get queuedBytes(): number {
    return this.#sink.writableLength;
  }

  /** Writes a frame outside the history (hello, reset, keep-alive), unless the stream is behind. */
  send(frame: string): void {
    if (!this.#behind && !this.#sink.destroyed) this.#write(frame);
  }

  /** Sends what the history holds after the cursor; the caller's check that it reaches back is done. */
  start(): void {
    this.#catchUp();
  }

  /** A new event (already in the history): written now, or later from the history if the stream is behind. */
  deliver(event: WatchEvent): void {
    if (this.#sink.destroyed) return;
    if (this.#behind) {
      // Cut as soon as the history has dropped what this stream still needs: nothing would ever fill the gap.
      if (!this.#source.covers(this.#cursor)) this.#cutOff();
      return;
    }
    this.#cursor = event.id;
    if (this.#service === undefined || event.service === this.#service) this.#write(frameOf(event));
  }

  #write(frame: string): void {
    const crossing = this.#sink.writableLength + frame.length >= this.#maxQueuedBytes;
    if (!crossing) {
      this.#sink.write(frame);
      return;
    }
    // The callback runs once this frame, and so everything queued before it, is in the kernel's hands.
    this.#behind = true;
    this.#sink.write(frame, (error) => {
      if (error || this.#sink.destroyed) return;
      this.#behind = false;
      this.#catchUp();
    });
  }

  #catchUp(): void {
    const missed = this.#source.after(this.#cursor);
    if (missed === null) {
      this.#cutOff();
      return;
    }
    for (const event of missed) {
      this.#cursor = event.id;
      if (this.#service !== undefined && event.service !== this.#service) continue;
      this.#write(frameOf(event));
      if (this.#behind || this.#sink.destroyed) return;
    }
  }

  #cutOff(): void {
    this.#cut = true;
    this.#sink.destroy();
  }
}
