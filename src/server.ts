// Wires one Signpost: store → registry → (DNS zone view + DNS listeners) and (HTTP API).
import type { Server as TlsServer } from 'node:tls';
import pino, { type Logger } from 'pino';
import { addressMatcher } from './lib/addresses.ts';
import { subjectOf } from './lib/pem.ts';
import { listenError } from './lib/system-errors.ts';
import { flagName, resolveConfig, type SignpostConfig } from './config/flags.ts';
import { formatHostPort, type HostPort } from './config/parse.ts';
import { certificateCovers, etcdTls, httpsOptions } from './config/tls.ts';
import { createForwarder, type Forwarder } from './dns/forward/forwarder.ts';
import { ResponseRateLimiter } from './dns/rrl.ts';
import { startDnsServer, type DnsServer } from './dns/server.ts';
import { Zone } from './dns/zone/zone.ts';
import { EventLog } from './event-log.ts';
import { HealthChecker } from './health/checks.ts';
import { buildHttpApp } from './http/app.ts';
import { watchEventBody } from './http/routes/watch.ts';
import { loadTokenFile, type TokenSet } from './http/tokens.ts';
import { Metrics } from './metrics/metrics.ts';
import { serverStatus } from './metrics/status.ts';
import { SingleNodeChecks } from './registry/check-coordinator.ts';
import { Registry } from './registry/registry.ts';
import { openStore } from './store/open.ts';
import type { Store } from './registry/store.ts';
import { consoleRoutes } from './ui/plugin.ts';
import { WatchHub } from './watch/hub.ts';

export interface Signpost {
  config: SignpostConfig;
  registry: Registry;
  /** Bound addresses (real ports when 0 was asked for). */
  dns: HostPort;
  http: HostPort;
  /**
   * Re-reads --token-file (on SIGHUP). True when the new tokens are in use; false (logged) when the
   * file could not be read or parsed, and the previous tokens stay in use.
   */
  reloadTokens(): boolean;
  /**
   * Re-reads --tls-cert, --tls-key and --tls-client-ca (on SIGHUP): new connections get them,
   * open ones keep theirs. False (logged) when they fail the start-up checks, and the previous
   * ones stay in use; false without --tls-cert.
   */
  reloadCertificates(): boolean;
  close(): Promise<void>;
}

export interface StartOptions {
  store?: Store;
  logger?: Logger;
}

export async function startSignpost(partial: Partial<SignpostConfig> = {}, options: StartOptions = {}): Promise<Signpost> {
  const config = resolveConfig(partial);
  // Tokens never reach the logs, whatever logs a request's headers.
  const log = options.logger ?? pino({ level: config.logLevel, redact: ['req.headers.authorization', 'headers.authorization', 'authorization'] });
  // Read first: a bad token file stops start-up before anything is opened.
  let tokens: TokenSet | null = config.tokenFile === undefined ? null : loadTokenFile(config.tokenFile);
  // Certificates too: an expired or mismatched one is a one-line refusal, not a failed handshake later.
  let https = httpsOptions(config);
  const store = options.store ?? (await openStore(config, etcdTls(config)));
  const registry = new Registry(store, { gracePeriod: config.gracePeriod, onlyPassing: config.onlyPassing });
  let restored: number;
  try {
    restored = await registry.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  // Subscribed after start(): restored instances are counted in the ready line, not logged one by one.
  const eventLog = new EventLog(log);
  registry.onEvent((event) => eventLog.event(event));
  // A shared store (etcd) that cannot be reached: once per transition, not per failed write.
  registry.onStoreAvailability((up) => {
    if (up) log.info('store reachable again: writes and heartbeats accepted, view catching up');
    else log.warn('store unreachable: answering DNS from the last view (fail static); writes and heartbeats get 503');
  });
  registry.onProtection((service, tripped, healthyShare) => {
    const { protectionThreshold } = registry.settings(service);
    if (tripped) log.warn({ service, healthyShare, protectionThreshold }, 'protection threshold tripped: serving every instance not in maintenance');
    else log.info({ service, healthyShare, protectionThreshold }, 'protection threshold cleared');
  });
  // In a cluster each check runs on one node and its results are shared; alone, this node runs them all.
  const coordinator = store.replicated?.checkCoordinator?.(config.nodeName) ?? new SingleNodeChecks();
  const checker = new HealthChecker(registry, { concurrency: config.checkConcurrency, log, coordinator });
  const watches = new WatchHub(registry, {
    maxWatches: config.maxWatches,
    historySize: config.watchHistory,
    body: (event) => watchEventBody(event, registry),
  });

  const zone = new Zone(registry, { domain: config.domain, ttl: config.dnsTtl, nameServerAddress: config.dns.host });
  const forwarder = createForwarder(config, log);
  let dnsServer: DnsServer | undefined;
  const rrl = new ResponseRateLimiter({ perSecond: config.dnsRateLimit, slip: config.dnsRateLimitSlip, exempt: addressMatcher(config.rateLimitExempt) });
  const figures = { registry, watches, dns: () => dnsServer, rrl, forwarder };
  const metrics = new Metrics(figures);
  let bound = { dns: config.dns, http: config.http };
  const status = serverStatus({ ...figures, config, addresses: () => bound, tokensRequired: () => tokens !== null, startedAt: Date.now() });
  const app = buildHttpApp({
    registry,
    watches,
    logger: log,
    https: https?.server,
    isDnsUp: () => dnsServer !== undefined,
    tokens: () => tokens,
    limits: config,
    metrics,
    status,
    answerTtl: config.dnsTtl,
    consul: { nodeName: config.nodeName, datacenter: config.datacenter, httpHost: config.http.host },
  });
  app.register(consoleRoutes);
  const tcp = {
    maxConnections: config.dnsTcpMaxConnections,
    maxPerClient: config.dnsTcpMaxPerClient,
    maxInFlight: config.dnsTcpMaxInFlight,
    idleTimeoutMs: config.dnsTcpIdleTimeout,
    messageTimeoutMs: config.dnsTcpMessageTimeout,
  };
  /** Stops what was started, listeners first (no new work), the store last (writes in flight finish). */
  const stopParts = async (dns: DnsServer | undefined) => {
    await Promise.all([dns?.close(), app.close()]);
    metrics.close();
    checker.close();
    await coordinator.close();
    watches.close();
    await registry.close();
    eventLog.flush();
    await store.close();
  };
  try {
    dnsServer = await startDnsServer(config.dns, zone, forwarder, log, { rrl, tcp }).catch((error: unknown) => {
      throw listenError(error, { what: 'DNS', flag: flagName('dns'), ...config.dns, usualOwner: USUAL_OWNERS[config.dns.port] });
    });
    await app.listen({ host: config.http.host, port: config.http.port }).catch((error: unknown) => {
      throw listenError(error, { what: 'HTTP', flag: flagName('http'), ...config.http, usualOwner: USUAL_OWNERS[config.http.port] });
    });
  } catch (error) {
    await stopParts(dnsServer);
    throw error;
  }
  const httpAddress = app.server.address();
  const http = { host: config.http.host, port: typeof httpAddress === 'object' && httpAddress ? httpAddress.port : config.http.port };
  bound = { dns: dnsServer.address, http };
  if (tokens === null) {
    log.warn(
      { http: formatHostPort(http) },
      'no --token-file: HTTP writes are open, anyone who can reach the API can register, replace and delete any instance; keep it on loopback or set --token-file',
    );
  } else {
    log.info({ tokens: tokens.size, readRequiresToken: config.readRequiresToken }, 'HTTP writes need a bearer token');
  }
  if (https && !certificateCovers(https.certificate, http.host)) {
    log.warn(
      { http: formatHostPort(http), certificate: https.certificate.subjectAltName ?? https.certificate.subject },
      `the certificate of ${flagName('tlsCert')} does not name ${http.host}: clients that connect to that address will refuse it`,
    );
  }
  logForwarding(log, config.domain, forwarder);
  if (isMulticastDomain(config.domain)) {
    log.info(
      { domain: config.domain },
      `.local is also multicast DNS (RFC 6762): machines with nss-mdns, Avahi, systemd-resolved or macOS may send .${config.domain} names ` +
        'to mDNS instead of to Signpost. Clients that ask Signpost directly are fine; to serve names through a resolv.conf ' +
        'pointed at Signpost, start it with --domain internal (or --domain consul)',
    );
  }
  log.info(
    {
      dns: formatHostPort(dnsServer.address),
      http: formatHostPort(http),
      console: `${https ? 'https' : 'http'}://${formatHostPort(http)}/ui/`,
      tls: https ? { clientCertificates: https.server.requestCert } : 'off',
      domain: config.domain,
      restored,
      upstreams: forwarder ? forwarder.upstreams.map(formatHostPort) : 'off',
      forwardingFor: forwarder ? forwarder.clients : [],
    },
    'signpost ready',
  );

  let closing: Promise<void> | undefined;
  return {
    config,
    registry,
    dns: dnsServer.address,
    http,
    reloadTokens() {
      if (config.tokenFile === undefined) {
        log.warn('reload asked for, but there is no --token-file to reload');
        return false;
      }
      try {
        tokens = loadTokenFile(config.tokenFile);
      } catch (error) {
        log.error({ error: (error as Error).message }, 'token file not reloaded: keeping the previous tokens');
        return false;
      }
      log.info({ tokens: tokens.size }, 'token file reloaded');
      return true;
    },
    reloadCertificates() {
      if (!https) return false;
      try {
        const fresh = httpsOptions(config);
        if (!fresh) return false;
        (app.server as unknown as TlsServer).setSecureContext(fresh.server);
        https = fresh;
      } catch (error) {
        log.error({ error: (error as Error).message }, 'certificates not reloaded: keeping the previous ones');
        return false;
      }
      log.info({ certificate: subjectOf(https.certificate), validTo: https.certificate.validToDate.toISOString() }, 'certificates reloaded');
      return true;
    },
    close: () =>
      (closing ??= (async () => {
        const dns = dnsServer;
        dnsServer = undefined;
        await stopParts(dns);
        log.info('signpost stopped');
      })()),
  };
}

/** Ports other software is known for, named when Signpost cannot have them (its defaults are Consul's). */
const USUAL_OWNERS: Record<number, string> = { 8500: "Consul's HTTP API", 8600: "Consul's DNS interface", 53: 'the DNS server' };

/** `local`, or a zone under it: names multicast DNS claims (RFC 6762). */
function isMulticastDomain(domain: string): boolean {
  return domain === 'local' || domain.endsWith('.local');
}

/** Where names outside the zone go, and who may send them there. */
function logForwarding(log: Logger, domain: string, forwarder: Forwarder | null): void {
  if (!forwarder) {
    log.info(`forwarding off: names outside ${domain} get REFUSED`);
    return;
  }
  const upstreams = forwarder.upstreams.map(formatHostPort);
  const clients = forwarder.clients;
  log.info(
    { upstreams, clients },
    `forwarding names outside ${domain} to ${upstreams.join(', ')} for clients in ${clients.length > 0 ? clients.join(', ') : 'no network'}` +
      ' (--allow-recursion); other clients get REFUSED for them',
  );
}
