// Prometheus metrics (prom-client) of one Signpost, served at GET /metrics.
//
// Hot paths keep plain numbers (DnsCounters, the rate limiter's and forwarder's counts, the HTTP
// request counts below) and this module reads them when scraped (`collect`), so no query or request
// pays for prom-client's label lookups (measured: ~0.4 µs a labelled counter increment, ~0.5 µs a
// histogram observation; DNS answers cost ~1 µs in all, heartbeats ~60). Each Signpost has its own
// prom-client registry, not the global one, so several in one process (the tests) do not collide.
//
// No metric has a service or instance label: their number is the users' to choose (tens of
// thousands), which would make every scrape that large; per-service health is in the HTTP API.
import client from 'prom-client';
import { ANSWER_TIME, ANSWER_TIME_BOUNDS_MICROS, type AnswerTimes, type DnsCounters } from '../dns/counters.ts';
import type { Forwarder } from '../dns/forward/forwarder.ts';
import type { ResponseRateLimiter } from '../dns/rrl.ts';
import { RCODE_NAMES } from '../dns/wire/constants.ts';
import type { HttpMetrics } from '../http/app.ts';
import type { Registry } from '../registry/registry.ts';
import { HEALTH_STATUSES } from '../registry/types.ts';
import type { WatchHub } from '../watch/hub.ts';

export interface MetricSources {
  registry: Registry;
  watches: WatchHub;
  /** The DNS listeners' counts and open TCP connections; undefined before they are up. */
  dns: () => { counters: DnsCounters; tcpConnections: number } | undefined;
  rrl: ResponseRateLimiter;
  forwarder: Forwarder | null;
}

/**
 * Node's process metrics (CPU, memory, event-loop lag, GC), collected once per process: each
 * collection installs observers that live as long as the process, so this one registry is
 * process-wide state by nature, shared by every Signpost in the process (the tests run several).
 */
let processMetrics: client.Registry | undefined;
function processRegistry(): client.Registry {
  if (processMetrics === undefined) {
    processMetrics = new client.Registry();
    client.collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** A `collect` hook that resets the metric and fills it from `read` through `write` (its inc or set). */
function scrapedFrom<M extends { reset(): void }, L extends string>(
  read: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void,
  write: (metric: M) => (labels: Partial<Record<L, string>>, value: number) => void,
) {
  return function collect(this: M) {
    this.reset();
    read(write(this));
  };
}

/** Seconds; HTTP requests of the API take about a millisecond, watches up to their wait (600 s). */
const HTTP_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600];

/** One HTTP route pattern and method: replies by status, and the duration histogram's counts. */
interface RouteStats {
  labels: { method: string; route: string };
  statuses: Map<number, number>;
  /** Observations per bucket, not cumulative; the last is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class Metrics implements HttpMetrics {
  /** This Signpost's own metrics. */
  readonly registry = new client.Registry();
  /** Its own and the process's, as scraped. */
  readonly #scraped: client.Registry;
  readonly contentType = this.registry.contentType;
  /** By `${method} ${route}`: a few dozen at most (route patterns, HTTP methods Node parses). */
  readonly #http = new Map<string, RouteStats>();

  constructor({ registry, watches, dns, rrl, forwarder }: MetricSources) {
    const register = [this.registry];

    /** A metric whose value lives elsewhere: a counter (`inc`) or gauge (`set`) filled from `read` at every scrape. */
    type Read<L extends string> = (set: (labels: Partial<Record<L, string>>, value: number) => void) => void;
    const mirrored = <L extends string>(name: string, help: string, labelNames: readonly L[], read: Read<L>) =>
      new client.Counter<L>({ name, help, labelNames, registers: register, collect: scrapedFrom(read, (metric) => metric.inc.bind(metric)) });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], read: Read<L>) =>
      new client.Gauge<L>({ name, help, labelNames, registers: register, collect: scrapedFrom(read, (metric) => metric.set.bind(metric)) });

    mirrored(
      'signpost_dns_replies_total',
      'DNS replies sent, by transport and header rcode (BADVERS, an extended rcode, counts as NOERROR; replies dropped by the rate limit are not sent and not counted).',
      ['transport', 'rcode'],
      (set) => {
        const counters = dns()?.counters;
        if (!counters) return;
        // The rcodes Signpost sends are always listed (so rate() sees them from 0); others once seen.
        for (let code = 0; code < 16; code++) {
          const always = RCODE_NAMES[code] !== String(code);
          if (always || counters.udpReplies[code] > 0) set({ transport: 'udp', rcode: RCODE_NAMES[code] }, counters.udpReplies[code]);
          if (always || counters.tcpReplies[code] > 0) set({ transport: 'tcp', rcode: RCODE_NAMES[code] }, counters.tcpReplies[code]);
        }
      },
    );
    mirrored('signpost_dns_ignored_total', 'DNS messages given no reply: responses (QR=1) and runts; over TCP the connection is closed.', ['transport'], (set) => {
      const counters = dns()?.counters;
      set({ transport: 'udp' }, counters?.udpIgnored ?? 0);
      set({ transport: 'tcp' }, counters?.tcpHungUp ?? 0);
    });
    gauge('signpost_dns_tcp_connections', 'DNS TCP connections open.', [], (set) => set({}, dns()?.tcpConnections ?? 0));
    mirrored('signpost_dns_tcp_refused_total', 'DNS TCP connections refused for exceeding the per-client cap.', [], (set) => set({}, dns()?.counters.tcpRefused ?? 0));
    mirrored('signpost_dns_rrl_dropped_total', 'UDP replies dropped by the response-rate limit.', [], (set) => set({}, rrl.dropped));
    mirrored('signpost_dns_rrl_slipped_total', 'UDP replies the response-rate limit sent truncated (TC) instead of dropping.', [], (set) => set({}, rrl.slipped));
    gauge('signpost_dns_rrl_buckets', 'Response-rate limit buckets held (bounded).', [], (set) => set({}, rrl.entries));
    if (forwarder) {
      mirrored('signpost_dns_forward_cache_hits_total', 'Questions outside the zone answered from the cache.', [], (set) => set({}, forwarder.cacheHits));
      mirrored('signpost_dns_forward_upstream_tries_total', 'Queries sent to upstream resolvers.', [], (set) => set({}, forwarder.upstreamTries));
      mirrored(
        'signpost_dns_forward_upstream_failures_total',
        'Upstream queries that got no usable answer (timeout, network error, SERVFAIL, REFUSED).',
        [],
        (set) => set({}, forwarder.upstreamFailures),
      );
      gauge('signpost_dns_forward_cache_entries', 'Forwarded answers in the cache.', [], (set) => set({}, forwarder.cachedAnswers));
    }

    gauge('signpost_services', 'Services with at least one instance.', [], (set) => set({}, registry.serviceCount));
    gauge('signpost_instances', 'Instances by health status.', ['status'], (set) => {
      const counts = registry.statusCounts();
      for (const status of HEALTH_STATUSES) set({ status }, counts[status]);
    });
    gauge('signpost_services_protection_tripped', 'Services whose protection threshold has tripped (DNS serves every instance not in maintenance).', [], (set) =>
      set({}, registry.protectionTrippedCount),
    );
    gauge('signpost_registry_index', 'The registry index: raised by every change, the X-Signpost-Index of blocking queries.', [], (set) => set({}, registry.index));
    gauge('signpost_store_available', '1 while the store accepts writes; 0 while a shared store (etcd) cannot be reached.', [], (set) =>
      set({}, registry.storeAvailable ? 1 : 0),
    );
    gauge('signpost_watches_open', 'Blocking queries and event streams open.', [], (set) => set({}, watches.open));
    gauge('signpost_watches_max', 'The cap on open watches (--max-watches).', [], (set) => set({}, watches.max));

    const { activity } = registry;
    mirrored('signpost_registry_events_total', 'Registry events: register, deregister, health, settings.', ['type'], (set) => {
      for (const [type, count] of Object.entries(activity.events)) set({ type }, count);
    });
    mirrored('signpost_deregistrations_total', 'Instances removed, by reason: request (DELETE) or critical (critical past the grace period).', ['reason'], (set) => {
      for (const [reason, count] of Object.entries(activity.deregistrations)) set({ reason }, count);
    });
    mirrored('signpost_heartbeats_total', 'Heartbeats this node took (PUT …/heartbeat of a registered instance).', [], (set) => set({}, activity.heartbeats));

    mirrored('signpost_http_requests_total', 'HTTP requests answered, by method, route pattern and status.', ['method', 'route', 'status'], (set) => {
      for (const { labels, statuses } of this.#http.values()) for (const [status, count] of statuses) set({ ...labels, status: String(status) }, count);
    });
    // A histogram whose counts live in #http: prom-client's Histogram can only be observed into, so
    // this is a metric object of the shape its registry reads (name, help, type, get()).
    const name = 'signpost_http_request_duration_seconds';
    const help = 'HTTP request durations, by method and route pattern (watches last as long as they wait).';
    this.registry.registerMetric({
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: this.#histogramValues(name) }),
    } as unknown as client.Metric);
    const answerName = 'signpost_dns_answer_duration_seconds';
    const answerHelp = `DNS answer times, sampled (one query in ${ANSWER_TIME.sampleEvery}): from the listener taking a query to its reply handed to the socket; source zone or forwarded.`;
    this.registry.registerMetric({
      name: answerName,
      help: answerHelp,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ name: answerName, help: answerHelp, type: 'histogram', aggregator: 'sum', values: answerTimeValues(answerName, dns()?.counters) }),
    } as unknown as client.Metric);
    this.#scraped = client.Registry.merge([processRegistry(), this.registry]);
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = method + ' ' + route;
    let stats = this.#http.get(key);
    if (stats === undefined) {
      stats = { labels: { method, route }, statuses: new Map(), buckets: new Float64Array(HTTP_DURATION_BUCKETS.length + 1), sum: 0, count: 0 };
      this.#http.set(key, stats);
    }
    stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
    let bucket = 0;
    while (bucket < HTTP_DURATION_BUCKETS.length && seconds > HTTP_DURATION_BUCKETS[bucket]) bucket++;
    stats.buckets[bucket]++;
    stats.sum += seconds;
    stats.count++;
  }

  /** The exposition's lines of the duration histogram: cumulative buckets, +Inf, sum and count. */
  #histogramValues(name: string) {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const { labels, buckets, sum, count } of this.#http.values()) {
      let cumulative = 0;
      HTTP_DURATION_BUCKETS.forEach((bound, i) => {
        cumulative += buckets[i];
        values.push({ metricName: `${name}_bucket`, labels: { le: bound, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
      values.push({ metricName: `${name}_sum`, labels, value: sum });
      values.push({ metricName: `${name}_count`, labels, value: count });
    }
    return values;
  }

  render(): Promise<string> {
    return this.#scraped.metrics();
  }

  close(): void {
    this.registry.clear();
  }
}

/** The exposition's lines of the sampled answer-time histograms (buckets in seconds, cumulative). */
function answerTimeValues(name: string, counters: DnsCounters | undefined) {
  const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
  if (!counters) return values;
  const sources: Array<[string, AnswerTimes]> = [
    ['zone', counters.zoneAnswerTime],
    ['forwarded', counters.forwardedAnswerTime],
  ];
  for (const [source, times] of sources) {
    let cumulative = 0;
    // The last bucket is open-ended: it is +Inf.
    for (let i = 0; i < ANSWER_TIME.buckets - 1; i++) {
      cumulative += times.counts[i];
      values.push({ metricName: `${name}_bucket`, labels: { le: ANSWER_TIME_BOUNDS_MICROS[i] / 1e6, source }, value: cumulative });
    }
    cumulative += times.counts[ANSWER_TIME.buckets - 1];
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', source }, value: cumulative });
    values.push({ metricName: `${name}_sum`, labels: { source }, value: times.sumMicros / 1e6 });
    values.push({ metricName: `${name}_count`, labels: { source }, value: cumulative });
  }
  return values;
}
