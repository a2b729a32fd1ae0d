import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../config/limits.ts';
import type { Registry } from '../../registry/registry.ts';
import { DEFAULT_SETTINGS } from '../../registry/state.ts';
import { trafficSplit } from '../../registry/traffic.ts';
import type { ServiceSettings } from '../../registry/types.ts';
import type { WatchHub } from '../../watch/hub.ts';
import { HttpError } from '../errors.ts';
import {
  INDEX_HEADER,
  blockingQuery,
  errorResponse,
  serviceListResponse,
  serviceParams,
  serviceResponse,
  settingsBody,
  settingsResponse,
} from '../schemas.ts';
import { instanceJson } from './instances.ts';

/** Read the catalogue (every service with counts; one service, optionally as a blocking query) and per-service settings. */
export async function serviceRoutes(app: FastifyInstance, { registry, watches, answerTtl }: { registry: Registry; watches: WatchHub; answerTtl: number }) {
  app.get('/v1/services', { schema: { response: { 200: serviceListResponse } } }, async (_request, reply) => {
    const services = registry.catalogue().map((name) => {
      const instances = registry.instances(name) ?? [];
      return {
        name,
        instances: instances.length,
        healthy: instances.filter((instance) => registry.isServable(instance)).length,
        tags: [...new Set(instances.flatMap((instance) => instance.tags))].sort(),
        protection: registry.protection(name),
      };
    });
    reply.header(INDEX_HEADER, registry.index);
    return { services };
  });

  /** One service as `GET /v1/services/:service` shows it; undefined when it has neither instances nor settings. */
  const serviceJson = (name: string) => {
    const instances = registry.instances(name) ?? (registry.hasOwnSettings(name) ? [] : undefined);
    if (!instances) return undefined;
    return {
      name,
      index: registry.serviceIndex(name),
      settings: registry.settings(name),
      protection: registry.protection(name),
      instances: [...instances].sort((a, b) => a.id.localeCompare(b.id)).map((instance) => instanceJson(instance, registry)),
      traffic: trafficSplit(registry.answerable(name) ?? []),
    };
  };
  /**
   * Answers of blocking queries that one change woke, serialised once for all of them: they wake in
   * the same turn of the event loop, and the entry is dropped at the end of it (lease times in the
   * body move with heartbeats, which take no index, so it must not outlive the turn).
   */
  const woken = new Map<string, { index: number; wire: string }>();

  app.get<{ Params: { service: string }; Querystring: { index?: number; wait?: number } }>(
    '/v1/services/:service',
    { schema: { params: serviceParams, querystring: blockingQuery, response: { 200: serviceResponse, 404: errorResponse, 503: errorResponse } } },
    async (request, reply) => {
      const name = request.params.service.toLowerCase();
      const { index, wait = LIMITS.blockingWait.default } = request.query;
      // A blocking query: answer once the service changed past `index`, or after `wait` seconds.
      const held = index !== undefined && registry.serviceIndex(name) <= index && wait > 0;
      if (held) {
        if (!watches.acquire()) throw new HttpError(503, `too many open watches (${watches.max}); retry later`);
        const closed = new AbortController();
        const onClose = () => closed.abort();
        request.raw.once('close', onClose);
        try {
          await watches.waitForChange(name, index, wait * 1000, closed.signal);
        } finally {
          request.raw.off('close', onClose);
          watches.release();
        }
      }
      registry.refreshLeases(name);
      const current = registry.serviceIndex(name);
      reply.header(INDEX_HEADER, current);
      // As long as DNS lets resolvers keep the answer: clients that resolve over HTTP cache it as long.
      reply.header('cache-control', `max-age=${answerTtl}`);
      const shared = held ? woken.get(name) : undefined;
      if (shared?.index === current) return reply.type('application/json; charset=utf-8').send(shared.wire);
      const body = serviceJson(name);
      if (!body) throw new HttpError(404, `service ${name} has no registered instances and no settings of its own`);
      if (!held) return body;
      const wire = reply.serialize(body) as string;
      if (woken.size === 0) setImmediate(() => woken.clear());
      woken.set(name, { index: current, wire });
      return reply.type('application/json; charset=utf-8').send(wire);
    },
  );

  app.get<{ Params: { service: string } }>(
    '/v1/services/:service/settings',
    { schema: { params: serviceParams, response: { 200: settingsResponse } } },
    async (request) => registry.settings(request.params.service.toLowerCase()),
  );

  app.put<{ Params: { service: string }; Body: Partial<ServiceSettings> }>(
    '/v1/services/:service/settings',
    { schema: { params: serviceParams, body: settingsBody, response: { 200: settingsResponse, 503: errorResponse } } },
    async (request) => {
      const name = request.params.service.toLowerCase();
      return registry.setSettings(name, { ...registry.settings(name), ...request.body });
    },
  );

  // Back to the defaults: a service without instances then leaves the catalogue.
  app.delete<{ Params: { service: string } }>(
    '/v1/services/:service/settings',
    { schema: { params: serviceParams, response: { 503: errorResponse } } },
    async (request, reply) => {
      const name = request.params.service.toLowerCase();
      if (registry.hasOwnSettings(name)) await registry.setSettings(name, { ...DEFAULT_SETTINGS });
      return reply.code(204).send();
    },
  );
}
