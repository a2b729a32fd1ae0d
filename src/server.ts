// Wires one Signpost: store → registry → (DNS zone view + DNS listeners) and (HTTP API).
import pino, { type Logger } from 'pino';
import { formatHostPort, resolveConfig, type HostPort, type SignpostConfig } from './config.ts';
import { startDnsServer, type DnsServer } from './dns/server.ts';
import { Zone } from './dns/zone.ts';
import { buildHttpApp } from './http/app.ts';
import { Registry } from './registry/registry.ts';
import type { RegistryEvent } from './registry/types.ts';
import { MemoryStore } from './store/memory.ts';
import type { Store } from './store/store.ts';

export interface Signpost {
  config: SignpostConfig;
  registry: Registry;
  /** Bound addresses (real ports when 0 was asked for). */
  dns: HostPort;
  http: HostPort;
  close(): Promise<void>;
}

export interface StartOptions {
  store?: Store;
  logger?: Logger;
}

export async function startSignpost(partial: Partial<SignpostConfig> = {}, options: StartOptions = {}): Promise<Signpost> {
  const config = resolveConfig(partial);
  const log = options.logger ?? pino({ level: config.logLevel });
  const store = options.store ?? new MemoryStore();
  const registry = new Registry(store, { gracePeriod: config.gracePeriod });
  registry.onEvent((event) => logEvent(log, event));
  const restored = await registry.start();

  const zone = new Zone(registry, { domain: config.domain, ttl: config.dnsTtl, nameServerAddress: config.dns.host });
  let dnsServer: DnsServer | undefined;
  const app = buildHttpApp({ registry, logger: log, isDnsUp: () => dnsServer !== undefined });
  try {
    dnsServer = await startDnsServer(config.dns, zone, log);
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await dnsServer?.close();
    await app.close();
    await registry.close();
    await store.close();
    throw error;
  }
  const httpAddress = app.server.address();
  const http = { host: config.http.host, port: typeof httpAddress === 'object' && httpAddress ? httpAddress.port : config.http.port };
  log.info(
    { dns: formatHostPort(dnsServer.address), http: formatHostPort(http), domain: config.domain, restored },
    'signpost ready',
  );

  let closing: Promise<void> | undefined;
  return {
    config,
    registry,
    dns: dnsServer.address,
    http,
    close: () =>
      (closing ??= (async () => {
        const dns = dnsServer;
        dnsServer = undefined;
        await Promise.all([dns?.close(), app.close()]);
        await registry.close();
        await store.close();
        log.info('signpost stopped');
      })()),
  };
}

function logEvent(log: Logger, event: RegistryEvent): void {
  const { service, id, address, port } = event.instance;
  if (event.type === 'register') log.info({ service, id, address, port, replaced: event.replaced }, 'registered');
  else if (event.type === 'deregister') log.info({ service, id, reason: event.reason }, 'deregistered');
  else log.info({ service, id, status: event.instance.status, previous: event.previous }, 'health changed');
}
