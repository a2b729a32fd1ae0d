import type { FastifyInstance } from 'fastify';
import type { HttpMetrics } from '../app.ts';

/**
 * `/metrics`: Prometheus text exposition. A read like any other (a token is needed only with
 * --read-requires-token), and exempt from the overload guard, so an overloaded server can still be
 * seen to be overloaded.
 */
export async function metricsRoutes(app: FastifyInstance, { metrics }: { metrics: HttpMetrics }) {
  const config = { pressureHandler: () => undefined };
  app.get('/metrics', { config, schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) => {
    const body = await metrics.render();
    return reply.type(metrics.contentType).send(body);
  });
}
