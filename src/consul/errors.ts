// Errors as Consul sends them: the bare message as plain text, with Consul's status codes.
import type { FastifyError, FastifyInstance } from 'fastify';
import { StoreError } from '../registry/store.ts';

/** An error a Consul route answers with: `statusCode` and the plain-text body Consul would send. */
export class ConsulError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** `Request decode failed: …`: a body Consul's decoder would refuse (400). */
export function decodeFailed(reason: string): ConsulError {
  return new ConsulError(400, `Request decode failed: ${reason}`);
}

/**
 * Every failure in the Consul routes' scope as Consul sends it: the message as text/plain, no
 * JSON (clients such as the npm `consul` package show a short plain-text body as the error).
 * Refusals by the shared guards (rate limit 429, overload 503, body size 413) keep their status.
 */
export function installConsulErrors(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    let message = error.message;
    if (error.validation && error.validation.length > 0) {
      status = 400;
      message = validationMessage(error);
    } else if (error instanceof StoreError) {
      request.log.error({ err: error }, 'store write failed');
      status = 503;
      message = `not stored: ${error.message}`;
    } else if (status === 400 && error.code?.startsWith('FST_ERR_CTP')) {
      message = `Request decode failed: ${error.message}`;
    } else if (status >= 500 && !error.statusCode) {
      request.log.error({ err: error }, 'request failed');
      message = 'An unexpected error occurred';
    }
    return reply.code(status).type('text/plain; charset=utf-8').send(message);
  });
}

/** A schema violation in Consul's words, naming the field (`Check.TTL`, `Tags.1`, `Meta.env`). */
function validationMessage(error: FastifyError): string {
  const first = error.validation![0];
  const path = first.instancePath.split('/').filter(Boolean);
  if (error.validationContext !== 'body') {
    const name = path[0] ?? String(first.params.missingProperty ?? error.validationContext);
    return `Invalid value for ?${name}: ${first.message}`;
  }
  if (first.keyword === 'additionalProperties') {
    return `Request decode failed: json: unknown field "${[...path, String(first.params.additionalProperty)].join('.')}"`;
  }
  return `Request decode failed: ${path.join('.') || 'body'} ${first.message}`;
}
