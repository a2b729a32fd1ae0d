// Every flag of `signpost serve`, declared once. From this table come the command-line options
// and their SIGNPOST_* environment variables (src/cli/serve.ts), the defaults and the type of
// the configuration (below), and the README's flag table (readme.ts; a test fails when it is stale).
import { hostname } from 'node:os';
import {
  parseChoice,
  parseConsulName,
  parseCidrList,
  parseClientList,
  parseDomain,
  parseDuration,
  parseEtcdPrefix,
  parseHostPort,
  parseInteger,
  parseOptionalDuration,
  parseRecursors,
  parseStore,
  type HostPort,
  type Recursors,
  type StoreKind,
} from './parse.ts';
import { STANDARD } from './limits.ts';

/** One flag. Its config key is the object key below; the flag is that key in kebab case unless `name` says otherwise. */
export interface Flag<T> {
  /** `--recursor` where the key (`recursors`) would not read well as a flag. */
  name?: string;
  /** Placeholder of the value in --help and the README (`SECONDS`); absent for a switch (on when given). */
  value?: string;
  /** What it does, one sentence or two, in Markdown (backticks, links): the README shows it as is, --help as plain text. */
  help: string;
  /** The default of `signpost serve`, as text, read by `parse` like a given value; absent: unset. */
  default?: string;
  /** How the README shows the default, where the text alone would not say enough. */
  defaultText?: string;
  /** The default of `startSignpost()` (code that embeds Signpost, tests included), where it differs. */
  libraryDefault?: string;
  /**
   * Reads a value given on the command line or in the environment; `previous` for a flag that
   * repeats. Throws with a message naming `flag` (the flag's name) and what it expects.
   */
  parse(text: string, flag: string, previous?: T): T;
  /** The flag may be given several times (each `parse` gets what the earlier ones made). */
  repeats?: boolean;
  /** A second flag that sets the value to `to` (`--no-recursion` → off), and may not be combined with this one. */
  negation?: { name: string; help: string; to: string };
}

interface Optional {
  optional: true;
}

function flag<T>(spec: Flag<T> & { default: string }): Flag<T> & { default: string };
function flag<T>(spec: Flag<T>): Flag<T> & Optional;
function flag<T>(spec: Flag<T>): Flag<T> {
  return spec;
}

const textFlag = (value: string, help: string, defaultValue: string) => flag<string>({ value, help, default: defaultValue, parse: (given) => given });
const switchFlag = (help: string) => flag<boolean>({ help, default: 'false', parse: (given) => given === 'true' });
const integer = (value: string, help: string, defaultValue: string, min: number, max: number) =>
  flag<number>({ value, help, default: defaultValue, parse: (given, name) => parseInteger(given, name, min, max) });
/** Milliseconds, given as `2s`, `500ms` or seconds; `orOff`: 0 turns the feature off. */
const duration = (help: string, defaultValue: string, orOff = false) =>
  flag<number>({ value: 'DURATION', help, default: defaultValue, parse: orOff ? parseOptionalDuration : parseDuration });

/** A PEM file, read and checked at start-up (src/config/tls.ts), so that a bad one stops the server with one line naming the flag. */
const pemFile = (help: string) => flag<string>({ value: 'FILE', help, parse: (given) => given });

export const FLAGS = {
  dns: flag<HostPort>({ value: 'HOST:PORT', help: 'DNS listener, UDP and TCP (`[::1]:8600` for IPv6; port 0 picks one)', default: STANDARD.dnsListener, parse: parseHostPort }),
  http: flag<HostPort>({ value: 'HOST:PORT', help: 'HTTP API listener', default: STANDARD.httpListener, parse: parseHostPort }),
  domain: flag<string>({ value: 'NAME', help: 'the zone Signpost is authoritative for', default: STANDARD.domain, parse: parseDomain }),
  store: flag<StoreKind>({
    value: 'KIND',
    help:
      'what keeps registrations: `sqlite` (durable, in `--data-dir`), `memory` (forgotten on exit), or `etcd://HOST:PORT[,HOST:PORT…]` ' +
      '(shared by a cluster of nodes; see [Clustering](#clustering-on-etcd))',
    default: 'sqlite',
    // Code that embeds Signpost (tests included) opts in to files on disk rather than finding a ./data it did not ask for.
    libraryDefault: 'memory',
    parse: parseStore,
  }),
  etcdPrefix: flag<string>({
    value: 'PREFIX',
    help: 'key prefix of everything an `etcd://` store keeps (several Signpost clusters can share one etcd)',
    default: '/signpost/',
    parse: parseEtcdPrefix,
  }),
  etcdCa: pemFile(
    'etcd over TLS: the CA (PEM) that signed the etcd members\' certificates. Any of `--etcd-ca`, `--etcd-cert`, `--etcd-key` makes ' +
      'every etcd connection TLS (without `--etcd-ca`, the system\'s CAs); see [Clustering](#clustering-on-etcd)',
  ),
  etcdCert: pemFile('etcd over TLS: this node\'s client certificate (PEM), for members started with `--client-cert-auth`; needs `--etcd-key`'),
  etcdKey: pemFile('etcd over TLS: the private key (PEM) of `--etcd-cert`'),
  dataDir: textFlag('DIR', 'where the `sqlite` store keeps its database (`signpost.db`); one server per directory', './data'),
  dnsTtl: integer('SECONDS', 'TTL of answers and of negative caching (SOA minimum)', '5', 0, 86400),
  gracePeriod: integer(
    'SECONDS',
    'how long an instance may stay critical before it is deleted, unless its registration sets `deregisterCriticalAfter`',
    '60',
    0,
    30 * 86400,
  ),
  onlyPassing: switchFlag('DNS answers with `passing` instances only (otherwise `warning` ones too)'),
  checkConcurrency: integer('N', 'most active health checks in flight at once', '64', 1, 100_000),
  maxWatches: integer('N', 'most open blocking queries and event streams together', '4096', 0, 1_000_000),
  watchHistory: integer('EVENTS', 'events an event stream can replay to a client that reconnects', '10000', 1, 10_000_000),
  recursors: flag<Recursors>({
    name: '--recursor',
    value: 'HOST[:PORT]',
    help: 'upstream resolver for names outside the zone; repeatable or comma-separated; port 53 unless given (`[::1]:5353` for IPv6 with a port)',
    default: 'resolv.conf',
    defaultText: 'the nameservers of `/etc/resolv.conf`',
    // Embedding code (tests included) opts in to network traffic.
    libraryDefault: 'off',
    parse: (given, name, previous) => (given === 'resolv.conf' || given === 'off' ? given : parseRecursors(given, name, previous)),
    repeats: true,
    negation: { name: '--no-recursion', help: 'forward nothing: names outside the zone get REFUSED', to: 'off' },
  }),
  allowRecursion: flag<string[]>({
    value: 'CIDRS',
    help:
      'clients whose questions outside the zone are forwarded (and whose answers carry RA); everyone else gets REFUSED for them, ' +
      'and zone answers as before. Comma-separated CIDRs, `localnets` (loopback and the networks of this host\'s interfaces, read at ' +
      'start-up: BIND\'s default) or `any`; `""` = nobody',
    // An open resolver is a reflection amplifier and a cache anyone can probe: as BIND, only the host and its own networks.
    default: 'localnets',
    parse: parseClientList,
  }),
  cacheMaxTtl: integer('SECONDS', 'longest a forwarded answer is cached (its TTLs are lowered to this)', '3600', 0, 7 * 86400),
  cacheSize: integer('ENTRIES', 'forwarded answers cached (also at most 64 MiB); 0 = no cache', '10000', 0, 10_000_000),
  forwardTimeout: duration('how long one try waits for an upstream (`2s`, `500ms`; a bare number is seconds)', '2s'),
  forwardBudget: duration('how long a forwarded question may take over all tries before SERVFAIL', '4s'),
  forwardRateLimit: integer(
    'N',
    'questions per second one client may send upstream (cache hits do not count); past it, REFUSED; 0 = no limit',
    '200',
    0,
    1_000_000,
  ),
  tlsCert: pemFile(
    'serve HTTPS (the API, the Consul API and the web console) with this certificate (PEM; intermediates after it); needs `--tls-key`; ' +
      're-read on `SIGHUP`; see [Security](#security)',
  ),
  tlsKey: pemFile('the private key (PEM, unencrypted) of `--tls-cert`'),
  tlsClientCa: pemFile(
    'with `--tls-cert`: require a client certificate signed by this CA (PEM) on every HTTPS connection; others are refused in the TLS handshake',
  ),
  tokenFile: flag<string>({
    value: 'FILE',
    help:
      'bearer tokens, one a line: `TOKEN service-glob[,service-glob…]` may write (and read) the matching services (`*`, `pay*`, `web-?`); ' +
      '`TOKEN read` may only read; `#` comments. Reloaded on `SIGHUP`',
    defaultText: 'none: writes are open (a warning at start-up)',
    parse: (given) => given,
  }),
  readRequiresToken: switchFlag('reads need a token too (any in the file); `/healthz` stays open'),
  dnsRateLimit: integer('N', 'identical UDP responses per second to one client /24 (IPv6 /56) before they are dropped (RRL); 0 = off', '100', 0, 1_000_000),
  dnsRateLimitSlip: integer(
    'N',
    'every Nth response the rate limit drops goes out truncated (TC) instead, so real clients retry over TCP; 0 = none',
    '2',
    0,
    100,
  ),
  rateLimitExempt: flag<string[]>({
    value: 'CIDRS',
    help: 'clients never rate-limited (DNS responses, HTTP writes); comma-separated; `""` = none',
    // Loopback is trusted: local tools, health probes and benchmarks are never limited.
    default: '127.0.0.0/8,::1/128',
    parse: parseCidrList,
  }),
  dnsTcpMaxConnections: integer('N', 'most DNS TCP connections at once', '1024', 1, 1_000_000),
  dnsTcpMaxPerClient: integer('N', 'most DNS TCP connections from one address; more are closed at once', '64', 1, 1_000_000),
  dnsTcpMaxInFlight: integer('N', 'forwarded questions one TCP connection may have waiting; reading from it pauses past that', '32', 1, 65535),
  dnsTcpIdleTimeout: duration('an idle DNS TCP connection is closed', '10s'),
  dnsTcpMessageTimeout: duration('a DNS TCP message that started arriving must be complete within this', '5s'),
  httpMaxBody: integer('BYTES', 'larger request bodies get 413', '65536', 1024, 64 * 1024 * 1024),
  httpMaxConnections: integer('N', 'most HTTP connections at once', '1024', 1, 1_000_000),
  httpRequestTimeout: duration("a request's headers (at most 10 s) and body must arrive within this", '30s'),
  httpKeepAliveTimeout: duration('an idle kept-alive HTTP connection is closed', '5s'),
  httpWriteRateLimit: integer('N', 'writes (PUT, DELETE) per second per client address; past it, 429 with `Retry-After`; 0 = no limit', '100', 0, 1_000_000),
  httpMaxEventLoopDelay: duration(
    'HTTP answers 503 with `Retry-After` while the event loop lags more than this, so DNS keeps answering (judged from two samples after listening, so start-up work is not shed); `/healthz` is exempt; 0 = off',
    '1s',
    true,
  ),
  nodeName: flag<string>({
    value: 'NAME',
    help: 'the node this server is in its [Consul HTTP API](#consul-http-api) (`Node`, `NodeName`); one node per Signpost server',
    // Made a valid name whatever the host is called: a default must never stop the server starting.
    default: hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128) || 'signpost',
    defaultText: 'the host name',
    parse: parseConsulName,
  }),
  datacenter: flag<string>({
    value: 'NAME',
    help: 'the datacenter of the [Consul HTTP API](#consul-http-api) (`Datacenter`, `/v1/catalog/datacenters`); a request for another gets 500 `No path to datacenter`',
    default: 'dc1',
    parse: parseConsulName,
  }),
  logLevel: flag<string>({
    value: 'LEVEL',
    help: 'pino level (`fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`); `debug` adds one line per HTTP request',
    default: 'info',
    parse: (given, name) => parseChoice(given, name, ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  }),
};

type FlagValue<F> = F extends Flag<infer T> ? (F extends Optional ? T | undefined : T) : never;

/** What one Signpost runs with: a value for every flag. */
export type SignpostConfig = { [K in keyof typeof FLAGS]: FlagValue<(typeof FLAGS)[K]> };

export type FlagKey = keyof typeof FLAGS;

/** The flag of a config key: its `name`, or the key in kebab case (`dnsTtl` → `--dns-ttl`). */
export function flagName(key: FlagKey): string {
  return FLAGS[key].name ?? `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** The environment variable of a flag: `--data-dir` → `SIGNPOST_DATA_DIR`. */
export function envName(name: string): string {
  return `SIGNPOST_${name.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

/** The defaults of `signpost serve` (`'cli'`) or of `startSignpost()` (`'library'`), parsed. */
export function defaults(kind: 'cli' | 'library'): SignpostConfig {
  const config: Partial<Record<FlagKey, unknown>> = {};
  for (const [key, spec] of Object.entries(FLAGS) as Array<[FlagKey, Flag<unknown>]>) {
    const text = (kind === 'library' ? spec.libraryDefault : undefined) ?? spec.default;
    if (text !== undefined) config[key] = spec.parse(text, flagName(key));
  }
  return config as SignpostConfig;
}

const LIBRARY_DEFAULTS = defaults('library');

/** A whole configuration from the values given, the library defaults for the rest. */
export function resolveConfig(partial: Partial<SignpostConfig> = {}): SignpostConfig {
  const config = { ...LIBRARY_DEFAULTS };
  for (const [key, value] of Object.entries(partial) as Array<[FlagKey, unknown]>) {
    if (value !== undefined) (config as Record<FlagKey, unknown>)[key] = value;
  }
  // The zone is compared byte by byte with questions: normalise it however it was given.
  config.domain = parseDomain(config.domain, flagName('domain'));
  return config;
}
