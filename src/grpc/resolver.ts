// A name resolver for @grpc/grpc-js: `signpost:///greeter` (the server from SIGNPOST_URL, default
// http://127.0.0.1:8500) or `signpost://HOST:PORT/greeter` resolves to the healthy instances of
// `greeter`, and follows them through Signpost's event stream (pushed, not polled).
import { experimental, Metadata, status, type ChannelOptions } from '@grpc/grpc-js';
import { serverUrls } from '../client/client.ts';
import { isLabel } from '../config/limits.ts';
import { ServiceFeed, type Resolution } from './feed.ts';

export interface SignpostResolverOptions {
  /** Signpost's HTTP API (one URL, a list, or comma-separated) for `signpost:///NAME` targets. Default: SIGNPOST_URL, else http://127.0.0.1:8500. */
  url?: string | readonly string[];
  /** Bearer token, when Signpost is started with --read-requires-token. Default: SIGNPOST_TOKEN. */
  token?: string;
}

/** Channel options that override the registered defaults for one channel. */
export const URL_OPTION = 'signpost.url';
export const TOKEN_OPTION = 'signpost.token';

/** The feeds of one registration, one per (servers, token, service): channels that name the same service share one. */
class Feeds {
  readonly #feeds = new Map<string, ServiceFeed>();

  for(urls: string[], token: string | undefined, service: string): ServiceFeed {
    const key = `${urls.join(',')}\n${token ?? ''}\n${service}`;
    let feed = this.#feeds.get(key);
    if (!feed) {
      feed = new ServiceFeed(urls, token, service, () => this.#feeds.delete(key));
      this.#feeds.set(key, feed);
    }
    return feed;
  }
}

/** What grpc-js constructs per channel (through the class `registerSignpostResolver` registers). */
class SignpostResolver implements experimental.Resolver {
  readonly #service: string;
  readonly #listener: experimental.ResolverListener;
  readonly #urls: string[] | Error;
  readonly #token: string | undefined;
  readonly #feeds: Feeds;
  #unsubscribe: (() => void) | undefined;
  #feed: ServiceFeed | undefined;

  constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, channelOptions: ChannelOptions, defaults: SignpostResolverOptions, feeds: Feeds) {
    this.#feeds = feeds;
    this.#service = target.path.toLowerCase();
    this.#listener = listener;
    this.#token = (channelOptions[TOKEN_OPTION] as string | undefined) ?? defaults.token ?? (process.env.SIGNPOST_TOKEN || undefined);
    // `signpost:///x` has an empty authority: the configured server; `signpost://host:port/x` names it.
    const url = target.authority ? `http://${target.authority}` : ((channelOptions[URL_OPTION] as string | undefined) ?? defaults.url);
    try {
      this.#urls = serverUrls(url);
    } catch (error) {
      this.#urls = error as Error;
    }
  }

  updateResolution(): void {
    if (this.#unsubscribe) {
      this.#feed!.refresh();
      return;
    }
    const problem = this.#urls instanceof Error ? this.#urls.message : isLabel(this.#service) ? undefined : `"${this.#service}" is not a Signpost service name`;
    if (problem !== undefined) {
      // Never synchronously from updateResolution (grpc-js's rule).
      setImmediate(() => this.#deliver({ ok: false, details: `signpost resolver: ${problem}` }));
      return;
    }
    this.#feed = this.#feeds.for(this.#urls as string[], this.#token, this.#service);
    this.#unsubscribe = this.#feed.subscribe((resolution) => this.#deliver(resolution));
  }

  /** Also called when the channel goes idle; a later updateResolution() subscribes again. */
  destroy(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#feed = undefined;
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path;
  }

  #deliver(resolution: Resolution): void {
    if (resolution.ok) {
      const endpoints = resolution.addresses.map((address) => ({ addresses: [address] }));
      this.#listener(experimental.statusOrFromValue(endpoints), {}, null, resolution.note);
    } else {
      // After a good list, grpc-js keeps using it: a Signpost outage does not cut traffic.
      this.#listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details: resolution.details, metadata: new Metadata() }), {}, null, resolution.details);
    }
  }
}

/**
 * Registers the `signpost:` scheme with @grpc/grpc-js (importing `signpost/grpc` already did, with
 * the defaults); call it again to change the defaults for channels created afterwards.
 */
export function registerSignpostResolver(options: SignpostResolverOptions = {}): void {
  const defaults = { ...options };
  const feeds = new Feeds();
  experimental.registerResolver(
    'signpost',
    class extends SignpostResolver {
      constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, channelOptions: ChannelOptions) {
        super(target, listener, channelOptions, defaults, feeds);
      }
    },
  );
}
