import type { FastifyError, FastifyInstance } from 'fastify';
import { StoreError } from '../registry/store.ts';
import { lingerAfterResponse } from './linger.ts';
import { describe, fieldOf } from './validation.ts';

/** An HTTP error with a status, raised by routes (and by the store for 503). */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly field?: string;
  constructor(statusCode: number, message: string, field?: string) {
    super(message);
    this.statusCode = statusCode;
    this.field = field;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/**
 * One error shape for every failure: `{statusCode, error, message, field?, rule?}`. A URL that a
 * route has with other methods is 405 with `Allow`, not 404. An error sent before the request's
 * body arrived (413) closes the connection lingering (linger.ts), so the client reads it.
 */
export function installErrorHandler(
  app: FastifyInstance,
  { lingerMs, maxBody, unsupported = () => undefined }: { lingerMs: number; maxBody: number; unsupported?: (method: string, url: string) => string | undefined },
): void {
  const routes = new RouteMethods();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  // Every error reply, whichever plugin's error handler shapes it (the Consul routes have their own).
  app.addHook('onError', async (request) => {
    if (!request.raw.complete) lingerAfterResponse(request.raw, lingerMs);
  });
  app.setErrorHandler((error: FastifyError & { field?: string }, request, reply) => {
    if (error.validation && error.validation.length > 0) {
      const first = error.validation[0] as Parameters<typeof fieldOf>[0];
      const field = fieldOf(first) || String(error.validationContext ?? 'body');
      return reply.code(400).send({
        statusCode: 400,
        error: STATUS_TEXT[400],
        field,
        rule: first.keyword,
        message: describe(first, field),
      });
    }
    if (error instanceof StoreError) {
      request.log.error({ err: error }, 'store write failed');
      return reply.code(503).send({ statusCode: 503, error: STATUS_TEXT[503], message: `not stored: ${error.message}` });
    }
    const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(statusCode).send({
      statusCode,
      error: STATUS_TEXT[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Error'),
      message: statusCode === 500 ? 'internal error' : messageOf(error, request.headers['content-type'], maxBody),
      ...(error.field ? { field: error.field } : {}),
    });
  });
  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.methodsFor(request.url);
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({ statusCode: 405, error: STATUS_TEXT[405], message: `${request.method} is not allowed on ${request.url.split('?')[0]}; allowed: ${allowed.join(', ')}` });
    }
    return reply.code(404).send({ statusCode: 404, error: STATUS_TEXT[404], message: unsupported(request.method, request.url) ?? `no route ${request.method} ${request.url}` });
  });
}

/** fastify's words where they do not say what to do. */
function messageOf(error: FastifyError, contentType: string | undefined, maxBody: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `the body must be JSON, sent with content-type: application/json (got ${contentType ? `content-type: ${contentType}` : 'no content-type'})`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the body is larger than the limit of ${maxBody} bytes (--http-max-body)`;
    default:
      return error.message;
  }
}

/** Which methods each route pattern has, to tell a wrong method (405) from an unknown URL (404). */
class RouteMethods {
  readonly #routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];

  add(url: string, method: string | string[]): void {
    const source = `^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]\w*/g, '[^/]+')}$`;
    let route = this.#routes.find((known) => known.pattern.source === source);
    if (!route) this.#routes.push((route = { pattern: new RegExp(source), methods: new Set() }));
    for (const one of [method].flat()) route.methods.add(one);
  }

  /** The methods of the route that `url` (path and query) matches, sorted; none when no route does. */
  methodsFor(url: string): string[] {
    const path = url.split('?')[0];
    const methods = new Set<string>();
    for (const route of this.#routes) if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    return [...methods].sort();
  }
}
