import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { LIMITS } from '../config.ts';
import type { Registry } from '../registry/registry.ts';
import type { WatchHub } from '../watch/hub.ts';
import { installErrorHandler } from './errors.ts';
import { healthRoutes } from './routes/health.ts';
import { instanceRoutes } from './routes/instances.ts';
import { serviceRoutes } from './routes/services.ts';
import { watchRoutes } from './routes/watch.ts';
import { validatorCompiler } from './validation.ts';

export interface HttpAppOptions {
  registry: Registry;
  watches: WatchHub;
  logger: Logger;
  isDnsUp: () => boolean;
}

/**
 * One line per request, at debug level, when it completes: at info, heartbeats would drown the
 * events that matter (registrations, expiries), which the registry logs itself.
 */
class RequestLog extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.debug(line, 'request');
  }
}

/** The HTTP API: a thin layer over the registry. Not listening yet; the caller decides where. */
export function buildHttpApp({ registry, watches, logger, isDnsUp }: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new RequestLog(),
    bodyLimit: LIMITS.httpBodyBytes,
    return503OnClosing: true,
    // Event streams never go idle; closing must end them rather than wait for their clients.
    forceCloseConnections: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  // The API speaks JSON only; a text/plain body is a client mistake best named as 415.
  app.removeContentTypeParser('text/plain');
  installErrorHandler(app);
  app.register(instanceRoutes, { registry });
  app.register(serviceRoutes, { registry, watches });
  app.register(watchRoutes, { registry, watches });
  app.register(healthRoutes, { isDnsUp, watches });
  return app;
}
