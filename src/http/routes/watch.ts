import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.ts';
import type { WatchEvent, WatchHub } from '../../watch/hub.ts';
import { HttpError } from '../errors.ts';
import { errorResponse, watchQuery } from '../schemas.ts';

/** A consumer that lets this much pile up unread is dropped; it resumes with Last-Event-ID. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /v1/watch[?service=NAME]`: server-sent events (`register`, `deregister`, `health`,
 * `settings`), each with the registry index as its id. A client reconnecting with
 * `Last-Event-ID` first receives what it missed, or one `reset` event when the history no longer
 * reaches back that far. The first event, `hello`, carries the current index as its id.
 */
export async function watchRoutes(app: FastifyInstance, { registry, watches }: { registry: Registry; watches: WatchHub }) {
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
      const send = (event: WatchEvent) => {
        if (service && event.service !== service) return;
        response.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${event.json}\n\n`);
        if (response.writableLength > MAX_BUFFERED_BYTES) response.destroy();
      };
      // Subscribe before replaying: both are synchronous, so no event falls between them.
      const unsubscribe = watches.subscribe(send);
      const index = registry.index;
      if (Number.isSafeInteger(lastEventId)) {
        const missed = watches.since(lastEventId, index, service);
        if (missed === null) response.write(`id: ${index}\nevent: reset\ndata: ${JSON.stringify({ index })}\n\n`);
        else for (const event of missed) send(event);
      } else {
        response.write(`id: ${index}\nevent: hello\ndata: ${JSON.stringify({ index })}\n\n`);
      }
      const keepalive = setInterval(() => response.write(': keep-alive\n\n'), KEEPALIVE_MS);
      keepalive.unref();
      response.once('close', () => {
        clearInterval(keepalive);
        unsubscribe();
        watches.release();
      });
    },
  );
}
