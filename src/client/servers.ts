// Which Signpost server to ask next: the last one that answered, else the next one that may be
// asked. A server that failed waits out a backoff (or the Retry-After it sent) before it is asked again.

/** Backoff after consecutive failures of one server: doubles from the first value up to the second, jittered. */
const BACKOFF_MS = [100, 5_000] as const;

interface Server {
  readonly url: string;
  /** Epoch ms before which this server is not asked again. */
  notBefore: number;
  failures: number;
  /** What went wrong last, for the error that names every server. */
  problem: string;
}

export class Servers {
  readonly #servers: Server[];
  #current = 0;

  constructor(urls: readonly string[]) {
    this.#servers = urls.map((url) => ({ url, notBefore: 0, failures: 0, problem: '' }));
  }

  get urls(): string[] {
    return this.#servers.map((server) => server.url);
  }

  /** The URL to ask now, or undefined when every server is waiting out a backoff (see `readyAt`). */
  choose(now: number): string | undefined {
    for (let step = 0; step < this.#servers.length; step++) {
      const index = (this.#current + step) % this.#servers.length;
      if (this.#servers[index].notBefore <= now) return this.#servers[index].url;
    }
    return undefined;
  }

  /** Epoch ms when the first server may be asked again. */
  readyAt(): number {
    return Math.min(...this.#servers.map((server) => server.notBefore));
  }

  succeeded(url: string): void {
    const index = this.#servers.findIndex((server) => server.url === url);
    const server = this.#servers[index];
    server.failures = 0;
    server.notBefore = 0;
    server.problem = '';
    this.#current = index;
  }

  /** `retryAfterMs`: what the server asked for (429/503 with Retry-After); otherwise an exponential backoff. */
  failed(url: string, problem: string, now: number, retryAfterMs?: number): void {
    const index = this.#servers.findIndex((server) => server.url === url);
    const server = this.#servers[index];
    server.failures++;
    server.problem = problem;
    const backoff = Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** (server.failures - 1)) * (0.5 + Math.random() / 2);
    server.notBefore = now + (retryAfterMs ?? backoff);
    // The next request starts with the next server rather than waiting for this one.
    if (index === this.#current) this.#current = (index + 1) % this.#servers.length;
  }

  /** Every server that failed and why: `http://a:8500: ECONNREFUSED; http://b:8500: 503 server overloaded`. */
  problems(): string {
    return this.#servers
      .filter((server) => server.problem !== '')
      .map((server) => `${server.url}: ${server.problem}`)
      .join('; ');
  }
}

/** Retry-After in ms: delay-seconds or an HTTP date (RFC 9110); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
