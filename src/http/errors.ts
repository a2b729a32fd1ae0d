import type { FastifyError, FastifyInstance } from 'fastify';
import { StoreError } from '../registry/store.ts';
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
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** One error shape for every failure: `{statusCode, error, message, field?, rule?}`. */
export function installErrorHandler(app: FastifyInstance, unsupported: (method: string, url: string) => string | undefined = () => undefined): void {
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
      message: statusCode === 500 ? 'internal error' : error.message,
      ...(error.field ? { field: error.field } : {}),
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: STATUS_TEXT[404], message: unsupported(request.method, request.url) ?? `no route ${request.method} ${request.url}` }),
  );
}
