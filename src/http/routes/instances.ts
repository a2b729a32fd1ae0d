import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../config/limits.ts';
import type { Registry } from '../../registry/registry.ts';
import type { CheckDefinition, HealthSource, Instance, Registration, ReportedStatus } from '../../registry/types.ts';
import { HttpError } from '../errors.ts';
import {
  INDEX_HEADER,
  errorResponse,
  heartbeatBody,
  heartbeatResponse,
  instanceParams,
  instanceResponse,
  maintenanceBody,
  registrationBody,
} from '../schemas.ts';

interface InstanceParams {
  service: string;
  id: string;
}

/** The registration body after its schema: the defaults filled in, service and id from the path. */
type RegistrationBody = Omit<Registration, 'service' | 'id' | 'maintenance'>;

/** What the API shows of an instance beside its fields: the registry's, or as they were at an event. */
export interface InstanceFigures {
  effectiveWeight(instance: Instance): number;
  warmupProgress(instance: Instance): number | null;
  leaseHeldElsewhere(instance: Instance): string | null;
}

/**
 * An instance as the API shows it: times as ISO strings, the weight DNS publishes beside the
 * registered one, when its lease was last renewed (a heartbeat, or the registration itself) and how
 * far it is through a warm-up.
 */
export function instanceJson(instance: Instance, registry: InstanceFigures) {
  const health: Record<string, { status: string; note: string; since: string }> = {};
  for (const [name, source] of Object.entries(instance.health) as Array<[string, HealthSource]>) {
    health[name] = { status: source.status, note: source.note, since: iso(source.since) };
  }
  const { warmingSince, ...shown } = instance;
  const progress = registry.warmupProgress(instance);
  return {
    ...shown,
    // When it began is in `health.maintenance.since` (a clustered store keeps it with the flag).
    maintenance: instance.maintenance ? { reason: instance.maintenance.reason } : null,
    effectiveWeight: registry.effectiveWeight(instance),
    health,
    registeredAt: iso(instance.registeredAt),
    expiresAt: instance.expiresAt === null ? null : iso(instance.expiresAt),
    // A lease lasts one ttl from its last renewal.
    lastHeartbeatAt: instance.expiresAt === null ? null : iso(instance.expiresAt - instance.ttl * 1000),
    // In a cluster, another node may hold the lease: it counts the heartbeats it takes without writing
    // them, so here the two times above are as of its last write, and it has the exact ones.
    leaseHolder: registry.leaseHeldElsewhere(instance),
    warmingUp: warmingSince === null || progress === null ? null : { since: iso(warmingSince), progress },
  };
}

export const iso = (epochMs: number) => new Date(epochMs).toISOString();

/** Why a heartbeat renewed nothing, in the words of the single and the batched route alike. */
export const HEARTBEAT_REFUSALS = {
  unknown: ({ service, id }: InstanceParams) => `instance ${id} of service ${service} is not registered; register it again`,
  noLease: ({ service, id }: InstanceParams) => `instance ${id} of service ${service} was registered with ttl 0: it has no lease to renew and lives until deregistered`,
};

/** Read, register, heartbeat, maintenance and deregister one instance. */
export async function instanceRoutes(app: FastifyInstance, { registry }: { registry: Registry }) {
  const notRegistered = ({ service, id }: InstanceParams) => new HttpError(404, `instance ${id} of service ${service} is not registered`);

  app.get<{ Params: InstanceParams }>(
    '/v1/services/:service/instances/:id',
    { schema: { params: instanceParams, response: { 200: instanceResponse, 404: errorResponse } } },
    async (request, reply) => {
      const params = lowerCase(request.params);
      // In a cluster, `expiresAt` as this node knows it (exact where the lease is held: a heartbeat may have reached another node).
      registry.refreshLeases(params.service);
      reply.header(INDEX_HEADER, registry.serviceIndex(params.service));
      const instance = registry.get(params.service, params.id);
      if (!instance) throw notRegistered(params);
      return instanceJson(instance, registry);
    },
  );

  app.put<{ Params: InstanceParams; Body: RegistrationBody }>(
    '/v1/services/:service/instances/:id',
    {
      schema: {
        params: instanceParams,
        body: registrationBody,
        response: { 200: instanceResponse, 400: errorResponse, 503: errorResponse },
      },
    },
    async (request) => instanceJson(await registry.register(toRegistration(request.params, request.body)), registry),
  );

  app.put<{ Params: InstanceParams; Body: { status: ReportedStatus; note: string } | undefined }>(
    '/v1/services/:service/instances/:id/heartbeat',
    {
      schema: { params: instanceParams, body: heartbeatBody, response: { 200: heartbeatResponse, 404: errorResponse, 409: errorResponse, 503: errorResponse } },
      // A bare `PUT …/heartbeat` (no body) is the common case: it means passing, via the schema's defaults.
      preValidation: async (request) => {
        request.body ??= {} as never;
      },
    },
    async (request) => {
      const params = lowerCase(request.params);
      if (registry.get(params.service, params.id)?.ttl === 0) {
        throw new HttpError(409, HEARTBEAT_REFUSALS.noLease(params));
      }
      // Async: with a shared store (etcd) the heartbeat renews the shared lease first, or fails with 503.
      const instance = await registry.heartbeat(params.service, params.id, request.body!);
      if (!instance) throw new HttpError(404, HEARTBEAT_REFUSALS.unknown(params));
      return { status: instance.status, expiresAt: iso(instance.expiresAt!) };
    },
  );

  app.put<{ Params: InstanceParams; Body: { enabled: boolean; reason: string } }>(
    '/v1/services/:service/instances/:id/maintenance',
    { schema: { params: instanceParams, body: maintenanceBody, response: { 200: instanceResponse, 404: errorResponse, 503: errorResponse } } },
    async (request) => {
      const params = lowerCase(request.params);
      const instance = await registry.setMaintenance(params.service, params.id, request.body.enabled, request.body.reason);
      if (!instance) throw notRegistered(params);
      return instanceJson(instance, registry);
    },
  );

  app.delete<{ Params: InstanceParams }>(
    '/v1/services/:service/instances/:id',
    { schema: { params: instanceParams, response: { 404: errorResponse, 503: errorResponse } } },
    async (request, reply) => {
      const params = lowerCase(request.params);
      if (!(await registry.deregister(params.service, params.id))) throw notRegistered(params);
      return reply.code(204).send();
    },
  );
}

function lowerCase(params: InstanceParams): InstanceParams {
  return { service: params.service.toLowerCase(), id: params.id.toLowerCase() };
}

/** The checks JSON schema cannot express; everything else was validated by the route schema. */
function toRegistration(params: InstanceParams, body: RegistrationBody): Registration {
  for (const [key, value] of Object.entries(body.meta)) {
    if (Buffer.byteLength(`${key}=${value}`) > LIMITS.metaEntryBytes) {
      throw new HttpError(400, `meta.${key}: "key=value" must fit in ${LIMITS.metaEntryBytes} bytes (one DNS TXT string)`, `meta.${key}`);
    }
  }
  if (body.check) {
    if (Boolean(body.check.http) === Boolean(body.check.tcp)) {
      throw new HttpError(400, 'check: give exactly one of "http" (a URL) or "tcp" (host:port)', 'check');
    }
    if (body.check.timeout > body.check.interval) {
      throw new HttpError(400, 'check.timeout must not be longer than check.interval', 'check.timeout');
    }
  }
  return {
    ...lowerCase(params),
    address: body.address.toLowerCase(),
    port: body.port,
    weight: body.weight,
    ...(body.warningWeight !== undefined ? { warningWeight: body.warningWeight } : {}),
    priority: body.priority,
    ttl: body.ttl,
    ...(body.initialStatus !== undefined ? { initialStatus: body.initialStatus } : {}),
    tags: [...new Set(body.tags.map((tag) => tag.toLowerCase()))],
    meta: body.meta,
    ...(body.check ? { check: body.check } : {}),
    ...(body.deregisterCriticalAfter !== undefined ? { deregisterCriticalAfter: body.deregisterCriticalAfter } : {}),
  };
}
