import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { addressMatcher } from '../lib/addresses.ts';
import { resolveConfig, type SignpostConfig } from '../config/flags.ts';
import { consulRoutes, unsupportedConsulCall } from '../consul/plugin.ts';
import type { Registry } from '../registry/registry.ts';
import type { WatchHub } from '../watch/hub.ts';
import { installAuth } from './auth.ts';
import { HttpError, installErrorHandler } from './errors.ts';
import { installOverloadGuard } from './overload.ts';
import { answerPlainHttp } from './plain-http.ts';
import { healthRoutes } from './routes/health.ts';
import { heartbeatRoutes } from './routes/heartbeats.ts';
import { instanceRoutes } from './routes/instances.ts';
import { metricsRoutes, type MetricsExposition } from './routes/metrics.ts';
import { serverRoutes, type ServerStatus } from './routes/server.ts';
import { serviceRoutes } from './routes/services.ts';
import { watchRoutes } from './routes/watch.ts';
import { canWrite, type TokenSet } from './tokens.ts';
import { validatorCompiler } from './validation.ts';

/** The limits of the HTTP listener (see SignpostConfig); defaults when not given. */
export type HttpLimits = Pick<
  SignpostConfig,
  | 'httpMaxBody'
  | 'httpMaxConnections'
  | 'httpRequestTimeout'
  | 'httpKeepAliveTimeout'
  | 'httpWriteRateLimit'
  | 'httpMaxEventLoopDelay'
  | 'rateLimitExempt'
  | 'readRequiresToken'
>;

/** Where request counts go and `/metrics` comes from (src/metrics). */
export interface HttpMetrics extends MetricsExposition {
  observeRequest(method: string, route: string, status: number, seconds: number): void;
}

export interface HttpAppOptions {
  registry: Registry;
  watches: WatchHub;
  logger: Logger;
  isDnsUp: () => boolean;
  /** The current tokens; null or absent: no token file, writes are open. */
  tokens?: () => TokenSet | null;
  limits?: Partial<HttpLimits>;
  /** Absent: no request metrics and no `/metrics` route. */
  metrics?: HttpMetrics;
  /** The node the Consul API shows (defaults: the flags' defaults, a loopback listener). */
  consul?: { nodeName: string; datacenter: string; httpHost: string };
  /** The body of `GET /v1/server` (src/metrics/status.ts); absent: no such route. */
  status?: () => ServerStatus;
  /** Seconds a client may keep a service's instances (`--dns-ttl`: what DNS answers say too). */
  answerTtl?: number;
  /** Serve HTTPS with these (Node's TLS server options: key, cert, and ca with requestCert for client certificates); absent: HTTP. */
  https?: TlsOptions;
}

/**
 * One line per request, at debug level, when it completes: at info, heartbeats would drown the
 * events that matter (registrations, expiries), which the registry logs itself. Request metrics are
 * taken here too: fastify calls this for every reply anyway, where an onResponse hook would add a
 * hook runner to every request (measured: ~5 µs a heartbeat, a tenth of its cost).
 */
class RequestLog extends LogController {
  readonly #metrics: HttpMetrics | undefined;

  constructor(metrics: HttpMetrics | undefined) {
    super();
    this.#metrics = metrics;
  }

  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // By route pattern, so instance ids stay out of labels; refusals by the guards (401, 429, 503) included.
    this.#metrics?.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    const line = { method: request.method, url: urlForLog(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.debug(line, 'request');
  }
}

/**
 * The request's URL as logged. Consul clients may send their token as `?token=`; like the
 * Authorization header, it never reaches the log.
 */
function urlForLog(url: string): string {
  const start = url.indexOf('?');
  if (start === -1 || !url.includes('token', start)) return url;
  const query = new URLSearchParams(url.slice(start + 1));
  if (!query.has('token')) return url;
  query.set('token', 'redacted');
  return `${url.slice(0, start)}?${query}`;
}

/** The HTTP API: a thin layer over the registry. Not listening yet; the caller decides where. */
export function buildHttpApp({ registry, watches, logger, isDnsUp, tokens = () => null, limits: given = {}, metrics, consul, status, answerTtl, https }: HttpAppOptions): FastifyInstance {
  const defaults = resolveConfig();
  const limits: HttpLimits = { ...defaults, ...given };
  const serverOptions = {
    headersTimeout: Math.min(limits.httpRequestTimeout, 10_000),
    // How often Node checks those timeouts (its default, 30 s, would let a slow client hold a connection that long).
    connectionsCheckingInterval: Math.min(1000, limits.httpRequestTimeout),
  };
  // A TLS handshake is bounded as the headers are (Node's default gives it 120 s).
  const tls = https && { ...serverOptions, ...https, handshakeTimeout: serverOptions.headersTimeout };
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new RequestLog(metrics),
    bodyLimit: limits.httpMaxBody,
    return503OnClosing: true,
    // Event streams never go idle; closing must end them rather than wait for their clients.
    forceCloseConnections: true,
    // Slow clients: headers and body must arrive within the request timeout (slowloris). There is
    // no socket idle timeout (connectionTimeout): blocking queries legitimately wait up to 600 s.
    requestTimeout: limits.httpRequestTimeout,
    keepAliveTimeout: limits.httpKeepAliveTimeout,
    connectionTimeout: 0,
    // fastify hands `http` to http.createServer only; https.createServer takes the same options beside TLS's.
    http: serverOptions,
    ...(tls ? { https: tls } : {}),
  }) as unknown as FastifyInstance;
  app.server.maxConnections = limits.httpMaxConnections;
  if (tls) answerPlainHttp(app.server, { firstByteMs: serverOptions.headersTimeout, lingerMs: limits.httpRequestTimeout });
  app.setValidatorCompiler(validatorCompiler);
  // The API speaks JSON only; a text/plain body is a client mistake best named as 415.
  app.removeContentTypeParser('text/plain');
  // An empty body is no body, whatever content-type a client sends with it (many send
  // `application/json` on every request): a bare heartbeat or DELETE must not be a 400.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });
  installErrorHandler(app, { lingerMs: limits.httpRequestTimeout, maxBody: limits.httpMaxBody, unsupported: unsupportedConsulCall });
  if (limits.httpMaxEventLoopDelay > 0) installOverloadGuard(app, limits.httpMaxEventLoopDelay);
  const exempt = addressMatcher(limits.rateLimitExempt);
  if (limits.httpWriteRateLimit > 0) {
    app.register(rateLimit, {
      max: limits.httpWriteRateLimit,
      timeWindow: 1000,
      // Writes only, per client address; reads are cheap, and blocking queries and streams have --max-watches.
      allowList: (request) => request.method === 'GET' || request.method === 'HEAD' || exempt(request.ip),
      errorResponseBuilder: (_request, context) =>
        new HttpError(429, `too many writes from this address: at most ${context.max} a second; retry after ${context.after}`),
    });
  }
  installAuth(app, { tokens, readRequiresToken: limits.readRequiresToken, foreignCall: (method, url) => unsupportedConsulCall(method, url) !== undefined });
  app.register(instanceRoutes, { registry });
  app.register(heartbeatRoutes, { registry, httpMaxBody: limits.httpMaxBody });
  app.register(serviceRoutes, { registry, watches, answerTtl: answerTtl ?? defaults.dnsTtl });
  app.register(watchRoutes, { watches });
  app.register(healthRoutes, { isDnsUp, watches, registry });
  if (metrics) app.register(metricsRoutes, { metrics });
  app.register(consulRoutes, {
    registry,
    watches,
    ...(consul ?? { nodeName: defaults.nodeName, datacenter: defaults.datacenter, httpHost: defaults.http.host }),
    readRequiresToken: limits.readRequiresToken,
    tokens: () => {
      const set = tokens();
      if (set === null) return null;
      return {
        lookup: (token: string) => {
          const grant = set.lookup(token);
          return grant === null ? undefined : { canWrite: (service: string) => canWrite(grant, service.toLowerCase()) };
        },
      };
    },
  });
  if (status) app.register(serverRoutes, { status });
  return app;
}
