// The body of GET /v1/server: what this server is (version, the settings that shape its answers)
// and its figures, read from the same counters /metrics reads. The web console polls it for its charts.
import type { SignpostConfig } from '../config/flags.ts';
import { etcdHosts, formatHostPort, type HostPort } from '../config/parse.ts';
import { ANSWER_TIME, ANSWER_TIME_BOUNDS_MICROS, type AnswerTimes } from '../dns/counters.ts';
import { RCODE_NAMES } from '../dns/wire/constants.ts';
import type { ServerStatus } from '../http/routes/server.ts';
import { VERSION } from '../lib/version.ts';
import type { MetricSources } from './metrics.ts';

export interface StatusSources extends MetricSources {
  config: SignpostConfig;
  /** The bound listener addresses (real ports when 0 was asked for). */
  addresses: () => { dns: HostPort; http: HostPort };
  /** Whether a token file is in use (writes need a token). */
  tokensRequired: () => boolean;
  startedAt: number;
}

export function serverStatus({ config, addresses, tokensRequired, startedAt, registry, watches, dns, rrl, forwarder }: StatusSources): () => ServerStatus {
  const etcd = etcdHosts(config.store);
  return () => {
    const counters = dns()?.counters;
    const replies: Record<string, number> = {};
    if (counters) {
      for (let code = 0; code < 16; code++) {
        const sent = counters.udpReplies[code] + counters.tcpReplies[code];
        if (sent > 0) replies[RCODE_NAMES[code]] = sent;
      }
    }
    const times = (answers: AnswerTimes | undefined) => ({ counts: answers ? [...answers.counts] : [], sumMicros: answers?.sumMicros ?? 0 });
    const { dns: dnsAddress, http } = addresses();
    const writesNeedToken = tokensRequired();
    return {
      version: VERSION,
      node: process.version,
      startedAt: new Date(startedAt).toISOString(),
      now: new Date().toISOString(),
      config: {
        domain: config.domain,
        dns: formatHostPort(dnsAddress),
        http: formatHostPort(http),
        dnsTtl: config.dnsTtl,
        gracePeriod: config.gracePeriod,
        onlyPassing: config.onlyPassing,
        forwarding: { enabled: forwarder !== null, upstreams: forwarder ? forwarder.upstreams.map(formatHostPort) : [] },
        tokens: { writes: writesNeedToken, reads: writesNeedToken && config.readRequiresToken },
      },
      store: etcd ? { kind: 'etcd', available: registry.storeAvailable, endpoints: etcd, prefix: config.etcdPrefix } : { kind: config.store, available: registry.storeAvailable },
      dns: {
        replies,
        answerTime: {
          sampleEvery: ANSWER_TIME.sampleEvery,
          boundsMicros: [...ANSWER_TIME_BOUNDS_MICROS],
          zone: times(counters?.zoneAnswerTime),
          forwarded: times(counters?.forwardedAnswerTime),
        },
        rateLimit: { dropped: rrl.dropped, slipped: rrl.slipped },
        tcpConnections: dns()?.tcpConnections ?? 0,
      },
      registry: {
        index: registry.index,
        services: registry.serviceCount,
        instances: registry.statusCounts(),
        protectionTripped: registry.protectionTrippedCount,
        events: { ...registry.activity.events },
        deregistrations: { ...registry.activity.deregistrations },
        heartbeats: registry.activity.heartbeats,
      },
      watches: { open: watches.open, max: watches.max },
    };
  };
}
