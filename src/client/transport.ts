// HTTP requests to Signpost with failover and backoff. Every request the client makes is
// idempotent (PUT, DELETE, GET), so any of them may be sent again, to the same server or another.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeFailure, SignpostError } from './errors.ts';
import { retryAfterMs, Servers } from './servers.ts';

export interface TransportOptions {
  token?: string;
  /** How long one attempt may take, ms. */
  attemptTimeoutMs: number;
  /** How long a request keeps trying (other servers, backoffs, Retry-After) before it fails, ms. */
  retryForMs: number;
}

export interface Reply {
  status: number;
  body: unknown;
  headers: Headers;
}

/** A JSON error body as Signpost sends it. */
interface ErrorBody {
  message?: string;
  field?: string;
}

export class Transport {
  readonly servers: Servers;
  readonly #options: TransportOptions;
  readonly #closed = new AbortController();

  constructor(urls: readonly string[], options: TransportOptions) {
    this.servers = new Servers(urls);
    this.#options = options;
  }

  get token(): string | undefined {
    return this.#options.token;
  }

  /**
   * Sends the request until a server answers with something other than 429 or 5xx (which it
   * returns, 4xx included), trying the other servers and backing off meanwhile. Rejects with an
   * `unavailable` SignpostError naming every server's problem when `retryForMs` runs out.
   */
  async request(method: string, path: string, body?: unknown, retryForMs = this.#options.retryForMs): Promise<Reply> {
    const deadline = Date.now() + retryForMs;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#options.token) headers.authorization = `Bearer ${this.#options.token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const url = this.servers.choose(now);
      if (url === undefined || (attempt > 0 && now >= deadline)) {
        const readyAt = this.servers.readyAt();
        if (readyAt > deadline || now >= deadline) {
          throw new SignpostError('unavailable', `no Signpost server answered ${method} ${path}: ${this.servers.problems()}`);
        }
        await sleep(readyAt - now, undefined, { signal: this.#closed.signal }).catch(() => {});
        if (this.#closed.signal.aborted) throw new SignpostError('unavailable', 'the client is closed');
        continue;
      }
      let response: Response;
      let text: string;
      try {
        response = await fetch(url + path, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.any([AbortSignal.timeout(this.#options.attemptTimeoutMs), this.#closed.signal]),
        });
        text = await response.text();
      } catch (error) {
        if (this.#closed.signal.aborted) throw new SignpostError('unavailable', 'the client is closed');
        this.servers.failed(url, describeFailure(error), Date.now());
        continue;
      }
      const parsed = parseBody(text);
      if (response.status === 429 || response.status >= 500) {
        const message = (parsed as ErrorBody | undefined)?.message ?? response.statusText;
        this.servers.failed(url, `${response.status} ${message}`, Date.now(), retryAfterMs(response.headers.get('retry-after'), Date.now()));
        continue;
      }
      this.servers.succeeded(url);
      return { status: response.status, body: parsed, headers: response.headers };
    }
  }

  /** Stops waits and requests in flight (they reject). */
  close(): void {
    this.#closed.abort();
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

/** The error for a 4xx reply, with the server's own words (they name the field at fault). */
export function rejection(reply: Reply, what: string, details: { service?: string; id?: string } = {}): SignpostError {
  const body = (reply.body ?? {}) as ErrorBody;
  return new SignpostError('rejected', `${what}: ${reply.status} ${body.message ?? 'refused'}`, { status: reply.status, field: body.field, ...details });
}
