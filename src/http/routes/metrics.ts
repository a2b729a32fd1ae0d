import type { FastifyInstance } from 'fastify';

/** What `/metrics` serves: a scrape in Prometheus's text format. */
export interface MetricsExposition {
  readonly contentType: string;
  render(): Promise<string>;
}

/**
 * `/metrics`: Prometheus text exposition. A read like any other (a token is needed only with
 * --read-requires-token), and exempt from the overload guard, so an overloaded server can still be
 * seen to be overloaded.
 */
export async function metricsRoutes(app: FastifyInstance, { metrics }: { metrics: MetricsExposition }) {
  const config = { pressureHandler: () => undefined };
  app.get('/metrics', { config, schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) => {
    const body = await metrics.render();
    return reply.type(metrics.contentType).send(body);
  });
}
