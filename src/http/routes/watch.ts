import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.ts';
import type { Instance, RegistryEvent } from '../../registry/types.ts';
import type { WatchHub } from '../../watch/hub.ts';
import { HttpError } from '../errors.ts';
import { errorResponse, watchQuery } from '../schemas.ts';
import { instanceJson } from './instances.ts';

/**
 * The JSON body of a watch event (what happened, and the instance or settings as they were then),
 * made when a reader first wants it: most events of a storm of lapses are never read. What can
 * change on the instance afterwards is copied now (health sources are replaced, never changed in
 * place; everything else belongs to the registration, which a re-registration replaces whole).
 */
export function watchEventBody(event: RegistryEvent, registry: Registry): () => unknown {
  if (event.type === 'settings') {
    const body = { type: event.type, index: event.index, service: event.service, settings: event.settings };
    return () => body;
  }
  const live = event.instance;
  const { status, maintenance, expiresAt, warmingSince, index } = live;
  const health = { ...live.health };
  const figures = { effectiveWeight: registry.effectiveWeight(live), warmupProgress: registry.warmupProgress(live), leaseHolder: registry.leaseHeldElsewhere(live) };
  return () => {
    const instance: Instance = { ...live, status, maintenance, expiresAt, warmingSince, index, health };
    return {
      type: event.type,
      index: event.index,
      service: live.service,
      id: live.id,
      ...(event.type === 'deregister' ? { reason: event.reason } : {}),
      ...(event.type === 'health' ? { previous: event.previous } : {}),
      instance: instanceJson(instance, { effectiveWeight: () => figures.effectiveWeight, warmupProgress: () => figures.warmupProgress, leaseHeldElsewhere: () => figures.leaseHolder }),
    };
  };
}

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
