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
      // The stream is written straight to the socket, without chunked encoding: its body ends when
      // the connection does (HTTP/1.1 allows it with `connection: close`), so each event is one
      // string shared by every stream and one write, where a ServerResponse would frame and cork
      // it per stream. With thousands of streams, that is most of the cost of an event.
      const socket = request.raw.socket;
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n' +
          'x-accel-buffering: no\r\nconnection: close\r\n\r\n',
      );
      const end = watches.openStream(socket, { service, lastEventId: Number.isSafeInteger(lastEventId) ? lastEventId : undefined });
      socket.once('close', () => {
        end();
        watches.release();
      });
    },
  );
}
