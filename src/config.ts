// Every default and limit of Signpost lives here, once. The CLI, the HTTP schemas,
// the registry and the README's flag table all read these values.
import { isIP } from 'node:net';

export interface SignpostConfig {
  /** DNS listener, UDP and TCP on the same address. Port 0 picks a free port. */
  dns: HostPort;
  /** HTTP listener. Port 0 picks a free port. */
  http: HostPort;
  /** The zone Signpost is authoritative for, without the trailing dot, lower case. */
  domain: string;
  /** What keeps registrations across restarts; see `parseStore`. */
  store: StoreKind;
  /** Where the `sqlite` store keeps its files. */
  dataDir: string;
  /** Key prefix of everything an `etcd://` store keeps in etcd (several clusters of Signpost may share one etcd). */
  etcdPrefix: string;
  /** TTL of every positive answer and of negative caching (the SOA minimum), in seconds. */
  dnsTtl: number;
  /** How long an expired (critical) instance is kept, visible in the API, before it is deleted, in seconds. */
  gracePeriod: number;
  /** pino log level. */
  logLevel: string;
  /** DNS serves only `passing` instances (otherwise `warning` ones too). */
  onlyPassing: boolean;
  /** Most active checks running at once. */
  checkConcurrency: number;
  /** Most open watches (blocking queries and event streams) at once. */
  maxWatches: number;
  /** How many past events an event stream can replay to a client that reconnects. */
  watchHistory: number;
  /** Where questions outside the zone go (forwarding); see `Recursors`. */
  recursors: Recursors;
  /** Longest a forwarded answer is cached, seconds: upstream TTLs above it are lowered to it. */
  cacheMaxTtl: number;
  /** Most forwarded answers cached; 0 turns the cache off (identical questions in flight are still coalesced). */
  cacheSize: number;
  /** How long one try waits for one upstream, ms. */
  forwardTimeout: number;
  /** How long a forwarded question may take over all its tries, ms; then the client gets SERVFAIL. */
  forwardBudget: number;
  /** Questions per second one client may send upstream (cache misses), in bursts of as many; past it, REFUSED. 0 = no limit. */
  forwardRateLimit: number;
  /** A file of write tokens (`TOKEN service-glob[,…]` or `TOKEN read`, one a line); none: writes are open. */
  tokenFile?: string;
  /** Reads (GET) need a token too (any token in the file: `read` or one with write rights). */
  readRequiresToken: boolean;
  /** Identical UDP responses per second to one client prefix (/24, /56) before they are dropped; 0 = off. */
  dnsRateLimit: number;
  /** Every Nth response dropped by the rate limit goes out as a minimal TC=1 reply instead (0 = never). */
  dnsRateLimitSlip: number;
  /** Clients never rate-limited, DNS or HTTP writes (CIDRs). */
  rateLimitExempt: string[];
  /** Most DNS TCP connections open at once, and from one client address. */
  dnsTcpMaxConnections: number;
  dnsTcpMaxPerClient: number;
  /** Forwarded questions one TCP connection may have waiting; reading from it pauses until one is answered. */
  dnsTcpMaxInFlight: number;
  /** A TCP connection idle this long (ms) is closed; a message that started must finish within `dnsTcpMessageTimeout` ms. */
  dnsTcpIdleTimeout: number;
  dnsTcpMessageTimeout: number;
  /** HTTP request bodies above this (bytes) get 413. */
  httpMaxBody: number;
  /** Most HTTP connections open at once. */
  httpMaxConnections: number;
  /** A request's headers and body must arrive within this (ms); a kept-alive connection idle this long (ms) is closed. */
  httpRequestTimeout: number;
  httpKeepAliveTimeout: number;
  /** Writes (PUT, DELETE) per second per client address; past it, 429. 0 = no limit. */
  httpWriteRateLimit: number;
  /** HTTP answers 503 (Retry-After) while the event loop lags more than this (ms); 0 = off. */
  httpMaxEventLoopDelay: number;
}

/**
 * `off`: questions outside the zone are REFUSED. `resolv.conf`: they go to the nameservers of
 * /etc/resolv.conf as read at start-up, less Signpost itself. A list: to these upstreams only.
 */
export type Recursors = 'off' | 'resolv.conf' | HostPort[];

/**
 * `sqlite`: durable, in `dataDir`. `memory`: forgotten on exit. `etcd://HOST:PORT[,HOST:PORT…]`:
 * shared by every Signpost node pointed at the same etcd cluster (see src/store/etcd.ts).
 */
export type StoreKind = 'sqlite' | 'memory' | `etcd://${string}`;
const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'memory'];

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Node flags `signpost serve` runs with: package.json's `start` script and bin/signpost.js pass
 * them (a test checks that they agree with this list), and the benchmarks and tests start the
 * server with them too. V8 sizes its young generation by recent allocation, between 1 MB and
 * 64 MB on Node 24, and hands memory back when allocation slows, so under steady load RSS stepped
 * by ~30 MB, up or down, minutes apart (BENCHMARKS.md, soak). Fixing the semi-spaces at 16 MB
 * keeps RSS flat from the first minute; scavenges stay cheap, as they cost by live objects.
 */
export const NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'] as const;

export const DEFAULTS = {
  dns: '127.0.0.1:8600',
  http: '127.0.0.1:8500',
  domain: 'local',
  /** What `signpost serve` keeps registrations in. */
  store: 'sqlite',
  /**
   * What `startSignpost()` keeps them in when not told: code that embeds Signpost (tests included)
   * opts in to files on disk rather than finding a ./data it did not ask for.
   */
  libraryStore: 'memory',
  dataDir: './data',
  etcdPrefix: '/signpost/',
  dnsTtl: 5,
  gracePeriod: 60,
  logLevel: 'info',
  onlyPassing: false,
  checkConcurrency: 64,
  maxWatches: 4096,
  watchHistory: 10_000,
  /** What `signpost serve` forwards to without --recursor or --no-recursion. */
  recursors: 'resolv.conf',
  /** What `startSignpost()` forwards to when not told: embedding code (tests included) opts in to network traffic. */
  libraryRecursors: 'off',
  cacheMaxTtl: 3600,
  cacheSize: 10_000,
  forwardTimeout: '2s',
  forwardBudget: '4s',
  forwardRateLimit: 200,
  readRequiresToken: false,
  dnsRateLimit: 100,
  dnsRateLimitSlip: 2,
  /** Loopback is trusted: local tools, health probes and benchmarks from 127.0.0.1 are never limited. */
  rateLimitExempt: '127.0.0.0/8,::1/128',
  dnsTcpMaxConnections: 1024,
  dnsTcpMaxPerClient: 64,
  dnsTcpMaxInFlight: 32,
  dnsTcpIdleTimeout: '10s',
  dnsTcpMessageTimeout: '5s',
  httpMaxBody: 64 * 1024,
  httpMaxConnections: 1024,
  httpRequestTimeout: '30s',
  httpKeepAliveTimeout: '5s',
  httpWriteRateLimit: 100,
  httpMaxEventLoopDelay: '1s',
} as const;

/** Bounds of the hardening (issue 7) that are not flags. */
export const ABUSE_LIMITS = {
  /** (client prefix, response) pairs whose DNS rate-limit buckets are kept; the least recently seen is forgotten first. */
  rrlEntries: 100_000,
  /** Client prefix lengths the DNS rate limit counts by (BIND's defaults). */
  rrlPrefixV4: 24,
  rrlPrefixV6: 56,
  /** Seconds a client told 503 by the overload guard is asked to wait (Retry-After). */
  overloadRetryAfterSeconds: 5,
  /** Shortest token accepted in a token file, characters. */
  minTokenLength: 16,
} as const;

/** Ranges and sizes enforced on registrations (HTTP schemas and registry alike). */
export const LIMITS = {
  port: { min: 1, max: 65535 },
  weight: { min: 0, max: 65535, default: 100 },
  priority: { min: 0, max: 65535, default: 0 },
  ttl: { min: 1, max: 86400, default: 15 },
  tagsPerInstance: 64,
  metaEntries: 64,
  metaKeyLength: 64,
  /** A meta entry is published as one TXT string `key=value`, and a TXT string holds at most 255 bytes. */
  metaEntryBytes: 255,
  /** HTTP request bodies above this get 413. */
  httpBodyBytes: 64 * 1024,
  deregisterCriticalAfter: { min: 1, max: 30 * 86400 },
  check: {
    interval: { min: 0.1, max: 86400, default: 10 },
    timeout: { min: 0.1, max: 300, default: 2 },
    threshold: { min: 1, max: 100, default: 1 },
  },
  maintenanceReasonLength: 256,
  noteLength: 1024,
  /** Longest a blocking query may wait, seconds; `wait` defaults to `default`. */
  blockingWait: { max: 600, default: 30 },
} as const;

/** DNS transport sizes (RFC 1035, RFC 6891, and the 2020 DNS flag day's 1232-byte EDNS buffer). */
export const DNS_LIMITS = {
  classicUdpBytes: 512,
  maxEdnsUdpBytes: 1232,
  maxTcpMessageBytes: 65535,
  /** A few MB so bursts are not dropped by the kernel before Node reads them (default 208 KiB loses queries under load). */
  udpReceiveBufferBytes: 4 * 1024 * 1024,
  tcpIdleTimeoutMs: 10_000,
  /** A message that started arriving must be complete within this, or the connection is closed (slowloris). */
  tcpMessageDeadlineMs: 5_000,
  tcpMaxConnections: 1024,
} as const;

/** Bounds of the forwarder (src/dns/forward/) that are not flags. */
export const FORWARD_LIMITS = {
  /** Tries per upstream per question, each up to --forward-timeout, all within --forward-budget. */
  triesPerUpstream: 2,
  /** Distinct questions waiting on upstreams at once (each holds a socket); more get SERVFAIL. */
  maxInFlight: 1024,
  /** Bytes of answers the cache holds at most; with --cache-size, whichever fills first evicts. */
  cacheBytes: 64 * 1024 * 1024,
  /** Clients whose rate-limit buckets are kept; the least recently seen is forgotten first. */
  rateLimitClients: 10_000,
  /** The port of `nameserver` lines in resolv.conf, and of a --recursor without one. */
  defaultPort: 53,
} as const;

/** A DNS label: what service names, instance ids and tags must be. Matched case-insensitively, stored lower case. */
export const LABEL_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';
const LABEL_RE = new RegExp(LABEL_PATTERN);

export function isLabel(value: string): boolean {
  return LABEL_RE.test(value);
}

/** Parses `HOST:PORT`, `[V6]:PORT`. Throws with a message naming the flag. */
export function parseHostPort(value: string, flag: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) throw new Error(`${flag}: expected HOST:PORT (or [IPv6]:PORT), got "${value}"`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`${flag}: port ${port} is out of range 0-65535`);
  return { host: match[1] ?? match[2], port };
}

/** Parses a --recursor: an IP literal, with an optional port (`10.0.0.2`, `10.0.0.2:5353`, `::1`, `[::1]:5353`). */
export function parseRecursor(value: string): HostPort {
  const text = value.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(text);
  const match = bracketed ?? v4 ?? (text.includes(':') ? [text, text, undefined] : null);
  const host = match?.[1];
  if (!host || !isIP(host.replace(/%.*$/, ''))) {
    throw new Error(`--recursor: expected an IP address with an optional port (10.0.0.2, 10.0.0.2:5353, [::1]:5353), got "${value}"`);
  }
  const port = match[2] === undefined ? FORWARD_LIMITS.defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`--recursor: port ${port} is out of range 1-65535`);
  return { host, port };
}

/** Parses a duration into milliseconds: `2s`, `1.5s`, `500ms`; a bare number is seconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  const ms = match ? Math.round(Number(match[1]) * (match[2] === 'ms' ? 1 : 1000)) : NaN;
  if (!(ms >= 1 && ms <= 600_000)) throw new Error(`${flag}: expected a duration from 1ms to 600s such as 2s or 500ms, got "${value}"`);
  return ms;
}

/**
 * Parses a comma-separated list of CIDRs (`10.0.0.0/8,::1/128`; a bare address is one host).
 * Returns them normalised as `ADDRESS/PREFIX`. An empty string is an empty list.
 */
export function parseCidrList(value: string, flag: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const [address, prefix, ...rest] = part.split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
      if (family === 0 || rest.length > 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
        throw new Error(`${flag}: expected IP addresses or CIDRs such as 10.0.0.0/8 or ::1/128, comma-separated, got "${part}"`);
      }
      return `${address}/${bits}`;
    });
}

/** Parses a duration where 0 means off: `0` or a duration as `parseDuration` reads it. */
export function parseOptionalDuration(value: string, flag: string): number {
  return /^0+(?:\.0*)?(ms|s)?$/.test(value.trim()) ? 0 : parseDuration(value, flag);
}

export function parseStore(value: string): StoreKind {
  const etcd = /^etcd:\/\/(.+)$/i.exec(value.trim());
  if (etcd) {
    const hosts = etcd[1].split(',').map((host) => formatHostPort(parseHostPort(host, '--store etcd://')));
    return `etcd://${hosts.join(',')}`;
  }
  const kind = STORE_KINDS.find((known) => known === value.trim().toLowerCase());
  if (!kind) throw new Error(`--store: expected one of ${STORE_KINDS.join(', ')} or etcd://HOST:PORT[,HOST:PORT...], got "${value}"`);
  return kind;
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The `HOST:PORT`s of an `etcd://` store, or undefined for another kind. */
export function etcdHosts(store: StoreKind): string[] | undefined {
  return store.startsWith('etcd://') ? store.slice('etcd://'.length).split(',') : undefined;
}

/** An etcd key prefix: starts and ends with `/`. */
export function parseEtcdPrefix(value: string): string {
  const prefix = value.trim();
  if (!/^\/[\x21-\x7e]*$/.test(prefix)) throw new Error(`--etcd-prefix: expected a key prefix starting with "/", got "${value}"`);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** Normalises a zone name: lower case, no trailing dot, each part a DNS label. */
export function parseDomain(value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, '');
  if (!domain || !domain.split('.').every(isLabel) || domain.length > 200) {
    throw new Error(`--domain: "${value}" is not a domain name made of DNS labels`);
  }
  return domain;
}

export function resolveConfig(partial: Partial<SignpostConfig> = {}): SignpostConfig {
  return {
    dns: partial.dns ?? parseHostPort(DEFAULTS.dns, '--dns'),
    http: partial.http ?? parseHostPort(DEFAULTS.http, '--http'),
    domain: parseDomain(partial.domain ?? DEFAULTS.domain),
    store: partial.store ?? DEFAULTS.libraryStore,
    dataDir: partial.dataDir ?? DEFAULTS.dataDir,
    etcdPrefix: partial.etcdPrefix ?? DEFAULTS.etcdPrefix,
    dnsTtl: partial.dnsTtl ?? DEFAULTS.dnsTtl,
    gracePeriod: partial.gracePeriod ?? DEFAULTS.gracePeriod,
    logLevel: partial.logLevel ?? DEFAULTS.logLevel,
    onlyPassing: partial.onlyPassing ?? DEFAULTS.onlyPassing,
    checkConcurrency: partial.checkConcurrency ?? DEFAULTS.checkConcurrency,
    maxWatches: partial.maxWatches ?? DEFAULTS.maxWatches,
    watchHistory: partial.watchHistory ?? DEFAULTS.watchHistory,
    recursors: partial.recursors ?? DEFAULTS.libraryRecursors,
    cacheMaxTtl: partial.cacheMaxTtl ?? DEFAULTS.cacheMaxTtl,
    cacheSize: partial.cacheSize ?? DEFAULTS.cacheSize,
    forwardTimeout: partial.forwardTimeout ?? parseDuration(DEFAULTS.forwardTimeout, '--forward-timeout'),
    forwardBudget: partial.forwardBudget ?? parseDuration(DEFAULTS.forwardBudget, '--forward-budget'),
    forwardRateLimit: partial.forwardRateLimit ?? DEFAULTS.forwardRateLimit,
    ...(partial.tokenFile !== undefined ? { tokenFile: partial.tokenFile } : {}),
    readRequiresToken: partial.readRequiresToken ?? DEFAULTS.readRequiresToken,
    dnsRateLimit: partial.dnsRateLimit ?? DEFAULTS.dnsRateLimit,
    dnsRateLimitSlip: partial.dnsRateLimitSlip ?? DEFAULTS.dnsRateLimitSlip,
    rateLimitExempt: partial.rateLimitExempt ?? parseCidrList(DEFAULTS.rateLimitExempt, '--rate-limit-exempt'),
    dnsTcpMaxConnections: partial.dnsTcpMaxConnections ?? DEFAULTS.dnsTcpMaxConnections,
    dnsTcpMaxPerClient: partial.dnsTcpMaxPerClient ?? DEFAULTS.dnsTcpMaxPerClient,
    dnsTcpMaxInFlight: partial.dnsTcpMaxInFlight ?? DEFAULTS.dnsTcpMaxInFlight,
    dnsTcpIdleTimeout: partial.dnsTcpIdleTimeout ?? parseDuration(DEFAULTS.dnsTcpIdleTimeout, '--dns-tcp-idle-timeout'),
    dnsTcpMessageTimeout: partial.dnsTcpMessageTimeout ?? parseDuration(DEFAULTS.dnsTcpMessageTimeout, '--dns-tcp-message-timeout'),
    httpMaxBody: partial.httpMaxBody ?? DEFAULTS.httpMaxBody,
    httpMaxConnections: partial.httpMaxConnections ?? DEFAULTS.httpMaxConnections,
    httpRequestTimeout: partial.httpRequestTimeout ?? parseDuration(DEFAULTS.httpRequestTimeout, '--http-request-timeout'),
    httpKeepAliveTimeout: partial.httpKeepAliveTimeout ?? parseDuration(DEFAULTS.httpKeepAliveTimeout, '--http-keep-alive-timeout'),
    httpWriteRateLimit: partial.httpWriteRateLimit ?? DEFAULTS.httpWriteRateLimit,
    httpMaxEventLoopDelay: partial.httpMaxEventLoopDelay ?? parseOptionalDuration(DEFAULTS.httpMaxEventLoopDelay, '--http-max-event-loop-delay'),
  };
}
