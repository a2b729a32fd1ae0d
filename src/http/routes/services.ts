import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.ts';
import { HttpError } from '../errors.ts';
import { errorResponse, serviceListResponse, serviceParams, serviceResponse } from '../schemas.ts';
import { instanceJson } from './instances.ts';

/** Read the catalogue: every service with counts, or one service's instances with health. */
export async function serviceRoutes(app: FastifyInstance, { registry }: { registry: Registry }) {
  app.get('/v1/services', { schema: { response: { 200: serviceListResponse } } }, async () => {
    const services = [...registry.serviceNames()].sort().map((name) => {
      const instances = registry.instances(name) ?? [];
      return {
        name,
        instances: instances.length,
        healthy: instances.filter((instance) => instance.status === 'passing').length,
      };
    });
    return { services };
  });

  app.get<{ Params: { service: string } }>(
    '/v1/services/:service',
    { schema: { params: serviceParams, response: { 200: serviceResponse, 404: errorResponse } } },
    async (request) => {
      const name = request.params.service.toLowerCase();
      const instances = registry.instances(name);
      if (!instances) throw new HttpError(404, `service ${name} has no registered instances`);
      return { name, instances: [...instances].sort((a, b) => a.id.localeCompare(b.id)).map(instanceJson) };
    },
  );
}
