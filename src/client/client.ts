import { EventEmitter } from 'node:events';
import { STANDARD } from '../config/limits.ts';
import { SignpostError } from './errors.ts';
import { Leases } from './heartbeats.ts';
import { InstanceCache } from './instance-cache.ts';
import type { Registration } from './registration.ts';
import { dnsSource, httpSource } from './sources.ts';
import { rejection, Transport } from './transport.ts';
import type { ClientOptions, RegisterOptions, ServiceInstance, ServiceRecord, ServiceSummary } from './types.ts';
import { Watch, type WatchOptions } from './watch.ts';

export const DEFAULT_URL = `http://${STANDARD.httpListener}`;
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The servers of `url` (a list, or comma-separated), checked, without trailing slashes. */
export function serverUrls(url: string | readonly string[] | undefined): string[] {
  const given = url ?? (process.env.SIGNPOST_URL || DEFAULT_URL);
  const list = (typeof given === 'string' ? given.split(',') : given).map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (list.length === 0) throw new TypeError('url: give at least one Signpost URL (http://HOST:PORT)');
  return list.map((entry) => {
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      throw new TypeError(`url: "${entry}" is not a URL (expected http://HOST:PORT)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`url: "${entry}" is not an http:// or https:// URL`);
    return entry.replace(/\/+$/, '');
  });
}

/**
 * A Signpost client: registers instances and keeps them alive, finds instances (over DNS or
 * HTTP, cached), and follows changes. Background problems (a heartbeat that could not be sent, a
 * watch that lost its server) are emitted as `error` events, never thrown; without an `error`
 * listener they become process warnings. `reregister` is emitted with a Registration the server
 * had forgotten and that was registered again.
 */
export class SignpostClient extends EventEmitter {
  /** The servers this client talks to, in the order it tries them. */
  readonly urls: readonly string[];
  readonly #transport: Transport;
  readonly #leases: Leases;
  readonly #cache: InstanceCache;
  readonly #watches = new Set<Watch>();
  readonly #retryForMs: number;
  readonly #readRetryMs: number;
  #closing: Promise<void> | undefined;
  #onSignal: ((signal: NodeJS.Signals) => void) | undefined;

  constructor(options: ClientOptions = {}) {
    super();
    this.urls = serverUrls(options.url);
    const attemptTimeoutMs = options.requestTimeout ?? 5_000;
    this.#retryForMs = options.retryFor ?? 15_000;
    // A read goes round the servers once and gives up: a cached answer is served meanwhile.
    this.#readRetryMs = Math.min(this.#retryForMs, attemptTimeoutMs);
    this.#transport = new Transport(this.urls, { token: options.token, attemptTimeoutMs, retryForMs: this.#retryForMs });
    const report = (error: SignpostError) => this.#report(error);
    this.#leases = new Leases(this.#transport, { report, reregistered: (registration) => this.emit('reregister', registration) });
    const domain = (options.domain ?? STANDARD.domain).replace(/\.$/, '');
    let source;
    try {
      source = options.dns === undefined ? httpSource(this.#transport, domain, this.#readRetryMs) : dnsSource(options.dns, domain, Math.min(attemptTimeoutMs, 2_000));
    } catch (error) {
      throw new TypeError(`dns: "${options.dns}" is not HOST:PORT (${(error as Error).message})`);
    }
    this.#cache = new InstanceCache(source, report);
    if (options.deregisterOnSignal) this.#handleSignals();
  }

  /**
   * Registers an instance and keeps it alive until `deregister()` or `close()`. Rejects when the
   * server refuses it (the error names the field, e.g. `port`) or no server answers within `retryFor`.
   */
  async register(options: RegisterOptions): Promise<Registration> {
    this.#open();
    return this.#leases.register(options);
  }

  /** The healthy instances of a service (only those with `tag`), cached for the answer's TTL. */
  resolve(service: string, options: { tag?: string } = {}): Promise<readonly ServiceInstance[]> {
    return this.#cache.resolve(service, options.tag);
  }

  /**
   * One healthy instance: the best priority, then chosen at random by weight (RFC 2782). Answered
   * from the cache without I/O while the answer is fresh. Rejects with code `no-instances` when
   * there is none.
   */
  pick(service: string, options: { tag?: string } = {}): Promise<ServiceInstance> {
    return this.#cache.pick(service, options.tag);
  }

  /**
   * Changes as they happen (of one service, or all), as an async iterable. Across dropped
   * connections and failovers it resumes from the last event: nothing is lost or repeated, or a
   * `reset` event says the server could not replay the gap (re-read then).
   */
  watch(service?: string, options: WatchOptions = {}): Watch {
    this.#open();
    const watch = new Watch(this.#transport.servers, this.#transport.token, service, options, {
      error: (error) => this.#report(error),
      closed: (closed) => this.#watches.delete(closed),
    });
    this.#watches.add(watch);
    return watch;
  }

  /** Every service with its instance and healthy counts. */
  async services(): Promise<ServiceSummary[]> {
    const reply = await this.#transport.request('GET', '/v1/services', undefined, this.#readRetryMs);
    if (reply.status !== 200) throw rejection(reply, 'list services');
    return (reply.body as { services: ServiceSummary[] }).services;
  }

  /** A service with all its instances, healthy or not, as the API shows it; undefined when none is registered. */
  async service(name: string): Promise<ServiceRecord | undefined> {
    const reply = await this.#transport.request('GET', `/v1/services/${encodeURIComponent(name)}`, undefined, this.#readRetryMs);
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw rejection(reply, `read service ${name}`);
    return reply.body as ServiceRecord;
  }

  /** Removes any instance (not only this client's). False when it was not registered. */
  async deregister(service: string, id: string): Promise<boolean> {
    const reply = await this.#transport.request('DELETE', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`);
    if (reply.status === 404 && (reply.body as { message?: string } | undefined)?.message?.startsWith('instance ')) return false;
    if (reply.status !== 204) throw rejection(reply, `deregister ${service}/${id}`, { service, id });
    return true;
  }

  /** Deregisters every registration of this client and ends its watches. Problems are emitted, not thrown. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const watch of this.#watches) watch.close();
      await this.#leases.deregisterAll();
      this.#transport.close();
      if (this.#onSignal) for (const signal of SIGNALS) process.off(signal, this.#onSignal);
    })();
    return this.#closing;
  }

  #open(): void {
    if (this.#closing) throw new SignpostError('unavailable', 'the client is closed');
  }

  #report(error: SignpostError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  }

  /** On SIGTERM or SIGINT: deregister, then let the signal do what it would have done without this handler. */
  #handleSignals(): void {
    this.#onSignal = (signal) => {
      for (const each of SIGNALS) process.off(each, this.#onSignal!);
      void this.close().finally(() => {
        // Nobody else handles it: the default action (exit by the signal) follows, as if never caught.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    for (const signal of SIGNALS) process.on(signal, this.#onSignal);
  }
}
