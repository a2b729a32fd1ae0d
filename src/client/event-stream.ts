// Signpost's event stream (`GET /v1/watch`), kept open across dropped connections and servers:
// it reconnects with Last-Event-ID, so the server replays what was missed (or says `reset`), and
// passes on each event once. node:http rather than fetch: an open fetch body keeps the process
// alive (this stream must not, unless someone waits on it), and undici ends a body silent for 300 s.
import http from 'node:http';
import https from 'node:https';
import { describeFailure, SignpostError } from './errors.ts';
import { retryAfterMs, type Servers } from './servers.ts';
import { SseParser, type SseMessage } from './sse.ts';

/** Signpost writes a comment every 15 s: this long without a byte means the connection is dead. */
const IDLE_MS = 45_000;
/** How much of an error body is read for its message. */
const ERROR_BODY_BYTES = 4096;

export interface EventStreamHandlers {
  /** Each event once, in order: `hello` and `reset` as they come, changes only if newer than the last one passed on. */
  onEvent(message: SseMessage & { index: number }): void;
  /** The stream cannot be (re)opened; it keeps trying. Called once per outage, not per attempt. */
  onError(error: SignpostError): void;
  /**
   * The server refused the stream in a way no retry changes (a 4xx other than 408 and 429: a bad
   * service name, a missing or unknown token). The stream is closed; this is its last call.
   */
  onRefused(error: SignpostError): void;
}

export class EventStream {
  readonly #servers: Servers;
  readonly #path: string;
  readonly #token: string | undefined;
  readonly #handlers: EventStreamHandlers;
  readonly #parser: SseParser;
  #lastIndex: number | undefined;
  #request: http.ClientRequest | undefined;
  #response: http.IncomingMessage | undefined;
  #retry: NodeJS.Timeout | undefined;
  #idle: NodeJS.Timeout | undefined;
  #referenced = true;
  #paused = false;
  #closed = false;
  /** An error was reported and no event has arrived since. */
  #failing = false;

  constructor(servers: Servers, path: string, token: string | undefined, handlers: EventStreamHandlers, after?: number) {
    this.#servers = servers;
    this.#path = path;
    this.#token = token;
    this.#handlers = handlers;
    this.#lastIndex = after;
    this.#parser = new SseParser((message) => this.#message(message));
    this.#connect();
  }

  /** Whether the stream keeps the process alive (like a socket's ref/unref). */
  ref(): void {
    this.#referenced = true;
    this.#applyReference();
  }

  unref(): void {
    this.#referenced = false;
    this.#applyReference();
  }

  /** Stops reading (the server keeps its place in the shared history, and closes a stream that falls further behind than its --watch-history; it then resumes from the last event). */
  pause(): void {
    this.#paused = true;
    this.#response?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#response?.resume();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#idle);
    this.#request?.destroy();
  }

  #connect(): void {
    if (this.#closed) return;
    const now = Date.now();
    const base = this.#servers.choose(now);
    if (base === undefined) {
      this.#retryAt(this.#servers.readyAt());
      return;
    }
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (this.#lastIndex !== undefined) headers['last-event-id'] = String(this.#lastIndex);
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const url = base + this.#path;
    const request = (url.startsWith('https:') ? https : http).get(url, { headers });
    this.#request = request;
    this.#parser.reset();
    let received = false;
    let ended = false;
    const end = (problem: string, retryAfter?: number) => {
      if (ended) return;
      ended = true;
      clearTimeout(this.#idle);
      request.destroy();
      if (this.#closed) return;
      // A stream that delivered events and dropped is reopened at once; one that never worked backs off.
      if (received) this.#connect();
      else {
        this.#servers.failed(base, problem, Date.now(), retryAfter);
        this.#fail(`watch ${url}: ${problem}; retrying`);
        this.#retryAt(this.#servers.readyAt());
      }
    };
    request.on('socket', (socket) => {
      if (!this.#referenced) socket.unref();
    });
    request.on('error', (error) => end(describeFailure(error)));
    request.on('response', (response) => {
      const type = response.headers['content-type'] ?? '';
      if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        let body = '';
        response.setEncoding('utf8');
        response.on('error', (error) => end(describeFailure(error)));
        response.on('data', (chunk: string) => {
          if (body.length < ERROR_BODY_BYTES) body += chunk;
        });
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (isFinal(status)) {
            ended = true;
            this.close();
            this.#handlers.onRefused(new SignpostError('rejected', `watch ${url}: ${status} ${errorMessage(body)}`, { status }));
            return;
          }
          end(`${status} ${errorMessage(body)}`, retryAfterMs(response.headers['retry-after'], Date.now()));
        });
        return;
      }
      this.#response = response;
      if (this.#paused) response.pause();
      response.setEncoding('utf8');
      this.#armIdle(request);
      response.on('data', (chunk: string) => {
        if (!received) {
          received = true;
          this.#servers.succeeded(base);
        }
        this.#armIdle(request);
        this.#parser.push(chunk);
      });
      // A connection cut mid-stream is an 'error' (ECONNRESET, "aborted") on the response, then 'close'.
      response.on('error', (error) => end(describeFailure(error)));
      response.on('end', () => end('stream ended'));
      response.on('close', () => end('stream closed'));
    });
  }

  #message(message: SseMessage): void {
    const index = Number(message.id);
    if (!Number.isSafeInteger(index)) return;
    // `hello` and `reset` start over (another server's index may be lower); a change seen before is not passed on twice.
    const restart = message.event === 'hello' || message.event === 'reset';
    if (!restart && this.#lastIndex !== undefined && index <= this.#lastIndex) return;
    this.#lastIndex = index;
    this.#failing = false;
    this.#handlers.onEvent({ ...message, index });
  }

  #fail(message: string): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#handlers.onError(new SignpostError('unavailable', message));
  }

  #retryAt(at: number): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.#connect(), Math.max(0, at - Date.now()));
    if (!this.#referenced) this.#retry.unref();
  }

  #armIdle(request: http.ClientRequest): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => request.destroy(new Error(`no data for ${IDLE_MS / 1000} s`)), IDLE_MS);
    this.#idle.unref();
  }

  #applyReference(): void {
    const socket = this.#request?.socket;
    if (this.#referenced) {
      socket?.ref();
      this.#retry?.ref();
    } else {
      socket?.unref();
      this.#retry?.unref();
    }
  }
}

/** A refusal that asking again, here or at another server, would only repeat. */
function isFinal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function errorMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {
    return body.slice(0, 200);
  }
}
