// Bounds that are not flags: what a registration may hold, DNS message sizes, and the limits of
// the forwarder and of the abuse defences. Flags and their defaults are in flags.ts.

/**
 * Where a server started without flags listens, and its zone: the defaults of `--dns`, `--http`
 * and `--domain`, which the client library and the client commands assume too.
 */
export const STANDARD = {
  httpListener: '127.0.0.1:8500',
  dnsListener: '127.0.0.1:8600',
  domain: 'local',
} as const;

/** Ranges and sizes enforced on registrations (HTTP schemas and registry alike). */
export const LIMITS = {
  port: { min: 1, max: 65535 },
  weight: { min: 0, max: 65535, default: 100 },
  priority: { min: 0, max: 65535, default: 0 },
  /** 0: no lease, the instance lives until deregistered. */
  ttl: { min: 0, max: 86400, default: 15 },
  tagsPerInstance: 64,
  /** Tags registered through the Consul API are any strings (Consul's are), up to this long. */
  consulTagLength: 512,
  metaEntries: 64,
  metaKeyLength: 64,
  /** A meta entry is published as one TXT string `key=value`, and a TXT string holds at most 255 bytes. */
  metaEntryBytes: 255,
  deregisterCriticalAfter: { min: 1, max: 30 * 86400 },
  check: {
    interval: { min: 0.1, max: 86400, default: 10 },
    timeout: { min: 0.1, max: 300, default: 2 },
    threshold: { min: 1, max: 100, default: 1 },
  },
  settings: {
    protectionThreshold: { min: 0, max: 1 },
    warmup: { min: 0, max: 86400 },
  },
  maintenanceReasonLength: 256,
  noteLength: 1024,
  /**
   * `PUT /v1/heartbeats`: most instances one request renews, and its body limit (what a batch this
   * long with short notes needs; --http-max-body applies instead when it is larger).
   */
  heartbeatBatch: { maxEntries: 10_000, maxBytes: 4 * 1024 * 1024 },
  /** Longest a blocking query may wait, seconds; `wait` defaults to `default`. */
  blockingWait: { max: 600, default: 30 },
} as const;

/**
 * Active checks in a cluster (src/store/etcd/check-owners.ts): checks are split into `shards` by a
 * hash of their name, each shard run by one node, which holds it on an etcd lease of `leaseTtlSeconds`
 * (when a node dies, its shards move within that plus one check interval). A node at its share of
 * the shards takes a free one only if no other node did within `lateTakeMs`.
 */
export const CHECK_OWNERSHIP = { shards: 64, leaseTtlSeconds: 3, lateTakeMs: 500 } as const;

/**
 * Heartbeat leases in a cluster (src/store/etcd/node-leases.ts): each node binds the lease keys of
 * the instances it holds to one etcd lease per ttl, granted for the instances' ttl plus
 * `marginSeconds` and kept alive every `keepAliveMs`. A heartbeat answered 200 promises a whole ttl
 * even if the node dies right after: so the node answers one only while its lease was confirmed
 * alive (a keep-alive etcd answered) within the last `marginSeconds`.
 */
export const HELD_LEASES = { marginSeconds: 1, keepAliveMs: 250 } as const;

/** DNS transport sizes (RFC 1035, RFC 6891, and the 2020 DNS flag day's 1232-byte EDNS buffer). */
export const DNS_LIMITS = {
  classicUdpBytes: 512,
  maxEdnsUdpBytes: 1232,
  maxTcpMessageBytes: 65535,
  /** A few MB so bursts are not dropped by the kernel before Node reads them (default 208 KiB loses queries under load). */
  udpReceiveBufferBytes: 4 * 1024 * 1024,
} as const;

/**
 * When a service's DNS records are kept up to date one instance at a time (src/dns/zone/live-records.ts)
 * rather than built afresh on the first query after a change. A rebuild costs about 2 µs an instance
 * (copying unchanged fragments, laying out, sorting by priority), so below `liveFrom` instances it
 * takes well under a millisecond and a storm of changes still costs one rebuild; from `liveFrom` on a
 * rebuild would pause every other query for milliseconds per change (16-20 ms at 10,000), while an
 * in-place change costs a few µs. The same bounds decide for each tag's set within a live service.
 * A live set turns back into a built one below `liveBelow`: half, so that one instance coming and
 * going at the edge does not switch it each time.
 */
export const RECORD_SETS = { liveFrom: 256, liveBelow: 128 } as const;

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

/**
 * The lingering close of an HTTP connection answered before its body arrived (a 413): it is read
 * and discarded until the client stops, for at most --http-request-timeout, and ends when nothing
 * arrives for `idleMs` (nginx's lingering_timeout).
 */
export const HTTP_LINGER = {
  idleMs: 2_000,
} as const;

/** Bounds of the abuse defences that are not flags. */
export const ABUSE_LIMITS = {
  /** (client prefix, response) pairs whose DNS rate-limit buckets are kept; the least recently seen is forgotten first. */
  rrlEntries: 100_000,
  /** Client prefix lengths the DNS rate limit counts by (BIND's defaults): one victim's addresses live in one prefix. */
  rrlPrefixV4: 24,
  rrlPrefixV6: 56,
  /** Seconds a client told 503 by the overload guard is asked to wait (Retry-After). */
  overloadRetryAfterSeconds: 5,
  /** Shortest token accepted in a token file, characters. */
  minTokenLength: 16,
} as const;

/** A DNS label: what service names, instance ids and tags must be. Matched case-insensitively, stored lower case. */
export const LABEL_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';
const LABEL_RE = new RegExp(LABEL_PATTERN);

export function isLabel(value: string): boolean {
  return LABEL_RE.test(value);
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

/** Bounds of watches (event streams and blocking queries) that are not flags. */
export const WATCH_LIMITS = {
  /**
   * Bytes an event stream may have queued in the server's memory (written, not yet taken by the
   * kernel) before it stops writing and waits for them to drain. Events it has not been sent yet
   * stay in the one shared history (--watch-history), from which it catches up when its socket
   * drains; a stream that falls further behind than the history reaches is closed (its client
   * resumes with Last-Event-ID and gets a `reset`). So a reader that stops reading costs at most
   * this much plus one event, however many events follow.
   */
  streamQueuedBytes: 16 * 1024,
  /** A comment line this often keeps proxies from closing an idle stream. */
  streamKeepaliveMs: 15_000,
} as const;

/**
 * Lapses within this long of a lone one are logged as one summary line at its end (each one at
 * debug level): a storm of 100,000 is a few lines, not 100,000 (7 µs of CPU each, most of a lapse's cost).
 */
export const LAPSE_SUMMARY_MS = 1000;
