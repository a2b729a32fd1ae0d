import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../config.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Instance, Registration } from '../../registry/types.ts';
import { HttpError } from '../errors.ts';
import { errorResponse, heartbeatResponse, instanceParams, instanceResponse, registrationBody } from '../schemas.ts';

interface InstanceParams {
  service: string;
  id: string;
}

interface RegistrationBody {
  address: string;
  port: number;
  weight: number;
  priority: number;
  ttl: number;
  tags: string[];
  meta: Record<string, string>;
}

export function instanceJson(instance: Instance) {
  return {
    ...instance,
    registeredAt: new Date(instance.registeredAt).toISOString(),
    expiresAt: new Date(instance.expiresAt).toISOString(),
  };
}

/** Register, heartbeat and deregister one instance. */
export async function instanceRoutes(app: FastifyInstance, { registry }: { registry: Registry }) {
  app.put<{ Params: InstanceParams; Body: RegistrationBody }>(
    '/v1/services/:service/instances/:id',
    {
      schema: {
        params: instanceParams,
        body: registrationBody,
        response: { 200: instanceResponse, 400: errorResponse, 503: errorResponse },
      },
    },
    async (request) => {
      const registration = toRegistration(request.params, request.body);
      return instanceJson(await registry.register(registration));
    },
  );

  app.put<{ Params: InstanceParams }>(
    '/v1/services/:service/instances/:id/heartbeat',
    { schema: { params: instanceParams, response: { 200: heartbeatResponse, 404: errorResponse } } },
    async (request) => {
      const { service, id } = lowerCase(request.params);
      const instance = registry.heartbeat(service, id);
      if (!instance) throw new HttpError(404, `instance ${id} of service ${service} is not registered; register it again`);
      return { status: instance.status, expiresAt: new Date(instance.expiresAt).toISOString() };
    },
  );

  app.delete<{ Params: InstanceParams }>(
    '/v1/services/:service/instances/:id',
    { schema: { params: instanceParams, response: { 404: errorResponse, 503: errorResponse } } },
    async (request, reply) => {
      const { service, id } = lowerCase(request.params);
      if (!(await registry.deregister(service, id))) {
        throw new HttpError(404, `instance ${id} of service ${service} is not registered`);
      }
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
  return {
    ...lowerCase(params),
    address: body.address.toLowerCase(),
    port: body.port,
    weight: body.weight,
    priority: body.priority,
    ttl: body.ttl,
    tags: [...new Set(body.tags.map((tag) => tag.toLowerCase()))],
    meta: body.meta,
  };
}
