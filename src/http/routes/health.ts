import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.ts';
import type { WatchHub } from '../../watch/hub.ts';
import { healthResponse } from '../schemas.ts';

/**
 * `/healthz`: 200 while both listeners are up, 503 otherwise; also how many watches are open, and
 * of the event streams how many wait for a slow client and the most bytes one holds queued.
 * `store: "unavailable"` (status `degraded`, still 200) while a shared store cannot be reached: the
 * node keeps answering DNS from its last view, so a load balancer should keep it; writes get 503.
 * Exempt from the overload guard (under-pressure): a busy server is still up, and an orchestrator
 * restarting it for being busy would only make things worse. Open even with a token file.
 */
export async function healthRoutes(
  app: FastifyInstance,
  { isDnsUp, watches, registry }: { isDnsUp: () => boolean; watches: WatchHub; registry?: Registry },
) {
  const config = { pressureHandler: () => undefined, tokenFree: true };
  app.get('/healthz', { config, schema: { response: { 200: healthResponse, 503: healthResponse } } }, async (_request, reply) => {
    const dnsUp = isDnsUp();
    const storeUp = registry?.storeAvailable ?? true;
    return reply.code(dnsUp ? 200 : 503).send({
      status: dnsUp && storeUp ? 'ok' : 'degraded',
      store: storeUp ? 'available' : 'unavailable',
      dns: dnsUp ? 'up' : 'down',
      http: 'up',
      watches: { open: watches.open, max: watches.max, streams: watches.streams },
    });
  });
}
