// Where the instances of a service come from: Signpost's DNS (SRV, then each target's address),
// or its HTTP API with the same choice of instances DNS makes.
import { Resolver } from 'node:dns/promises';
import { describeFailure, SignpostError } from './errors.ts';
import { rejection, type Transport } from './transport.ts';
import type { ServiceInstance, ServiceRecord } from './types.ts';

/** The instances of a service, and for how long they may be kept (seconds). */
export interface Answer {
  instances: ServiceInstance[];
  ttl: number;
}

export type Source = (service: string, tag: string | undefined) => Promise<Answer>;

/** How long "no such service" is kept, seconds: short, so an instance that registers is found soon. */
export const NEGATIVE_TTL = 1;
/** Signpost's default --dns-ttl, for a server that did not say. */
const DEFAULT_TTL = 5;

/** Over DNS: `_<service>._tcp.service.<domain>` (or `_<service>._<tag>`), then A (else AAAA) of each target. */
export function dnsSource(server: string, domain: string, timeoutMs: number): Source {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers([server]);
  const fail = (name: string, error: unknown) => new SignpostError('unavailable', `DNS ${server}: ${name}: ${describeFailure(error)}`, { cause: error });
  return async (service, tag) => {
    const name = `_${service}._${tag ?? 'tcp'}.service.${domain}`;
    let records;
    try {
      records = await resolver.resolveSrv(name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return { instances: [], ttl: NEGATIVE_TTL };
      throw fail(name, error);
    }
    let ttl = Infinity;
    const instances = await Promise.all(
      records.map(async (record): Promise<ServiceInstance> => {
        let addresses;
        try {
          addresses = await resolver.resolve4(record.name, { ttl: true });
        } catch (error) {
          if ((error as { code?: string }).code !== 'ENODATA') throw fail(record.name, error);
          addresses = await resolver.resolve6(record.name, { ttl: true }).catch((error: unknown) => {
            throw fail(record.name, error);
          });
        }
        ttl = Math.min(ttl, addresses[0].ttl);
        return {
          service,
          id: record.name.slice(0, record.name.indexOf('.')),
          address: addresses[0].address,
          port: record.port,
          priority: record.priority,
          weight: record.weight,
          target: record.name,
        };
      }),
    );
    return { instances, ttl: ttl === Infinity ? NEGATIVE_TTL : ttl };
  };
}

/** Over HTTP: `GET /v1/services/<service>`, kept for the Cache-Control max-age the server sends. */
export function httpSource(transport: Transport, domain: string, retryForMs: number): Source {
  return async (service, tag) => {
    const reply = await transport.request('GET', `/v1/services/${encodeURIComponent(service)}`, undefined, retryForMs);
    const maxAge = /max-age=(\d+)/.exec(reply.headers.get('cache-control') ?? '');
    const ttl = maxAge ? Number(maxAge[1]) : DEFAULT_TTL;
    if (reply.status === 404) return { instances: [], ttl: NEGATIVE_TTL };
    if (reply.status !== 200) throw rejection(reply, `resolve ${service}`);
    return { instances: servable(reply.body as ServiceRecord, tag, domain), ttl };
  };
}

/**
 * The instances DNS would answer with, from the API's view of a service: passing and warning
 * ones (all but those in maintenance while the protection threshold has tripped), at the
 * weight DNS publishes. A server started with --only-passing leaves warning ones out of DNS;
 * the API does not say so, and they are kept here.
 */
export function servable(record: ServiceRecord, tag: string | undefined, domain: string): ServiceInstance[] {
  const wanted = tag?.toLowerCase();
  return record.instances
    .filter((instance) => (record.protection.tripped ? instance.status !== 'maintenance' : instance.status === 'passing' || instance.status === 'warning'))
    // As DNS matches a tag label: whatever the case it was registered in (Consul keeps the case given).
    .filter((instance) => wanted === undefined || instance.tags.some((each) => each.toLowerCase() === wanted))
    .map((instance) => ({
      service: instance.service,
      id: instance.id,
      address: instance.address,
      port: instance.port,
      priority: instance.priority,
      weight: instance.effectiveWeight,
      target: `${instance.id}.${instance.service}.instance.${domain}`,
      tags: instance.tags,
      meta: instance.meta,
      status: instance.status as ServiceInstance['status'],
    }));
}
