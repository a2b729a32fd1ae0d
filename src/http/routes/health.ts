import type { FastifyInstance } from 'fastify';
import type { WatchHub } from '../../watch/hub.ts';
import { healthResponse } from '../schemas.ts';

/** `/healthz`: 200 while both listeners are up, 503 otherwise; also how many watches are open. */
export async function healthRoutes(app: FastifyInstance, { isDnsUp, watches }: { isDnsUp: () => boolean; watches: WatchHub }) {
  app.get('/healthz', { schema: { response: { 200: healthResponse, 503: healthResponse } } }, async (_request, reply) => {
    const dnsUp = isDnsUp();
    return reply.code(dnsUp ? 200 : 503).send({
      status: dnsUp ? 'ok' : 'degraded',
      dns: dnsUp ? 'up' : 'down',
      http: 'up',
      watches: { open: watches.open, max: watches.max },
    });
  });
}
