import type { FastifyInstance } from 'fastify';
import type { WatchHub } from '../../watch/hub.ts';
import { HttpError } from '../errors.ts';
import { errorResponse, watchQuery } from '../schemas.ts';

/**
 * `GET /v1/watch[?service=NAME]`: server-sent events (`register`, `deregister`, `health`,
 * `settings`), each with the registry index as its id. A client reconnecting with
 * `Last-Event-ID` first receives what it missed, or one `reset` event when the history no longer
 * reaches back that far. The first event, `hello`, carries the current index as its id. What the
 * server keeps per stream, and when it closes one that does not read, is src/watch/stream.ts's.
 */
export async function watchRoutes(app: FastifyInstance, { watches }: { watches: WatchHub }) {
  app.get<{ Querystring: { service?: string } }>(
    '/v1/watch',
    { schema: { querystring: watchQuery, response: { 503: errorResponse } } },
    async (request, reply) => {
      if (!watches.acquire()) throw new HttpError(503, `too many open watches (${watches.max}); retry later`);
      const service = request.query.service?.toLowerCase();
      const lastEventId = Number(request.headers['last-event-id']);
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const end = watches.openStream(response, { service, lastEventId: Number.isSafeInteger(lastEventId) ? lastEventId : undefined });
      response.once('close', () => {
        end();
        watches.release();
      });
    },
  );
}
