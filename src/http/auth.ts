// Who may write: an onRequest hook checking `Authorization: Bearer TOKEN` against the token set.
//
// Writes (every method but GET and HEAD) need a token with rights on the route's `:service`:
// 401 without a (known) token, 403 with one that has no rights on that service. Reads are open
// unless `readRequiresToken`, then any known token may read. Routes whose config says `tokenFree`
// (`/healthz`, the web console's static files) are always open. With no token set configured (no
// --token-file), everything is open, as before. A write to several services at once
// (`PUT /v1/heartbeats`) passes with any known token and asks `mayWrite` per entry.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';
import { canWrite, type Grant, type TokenSet } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks tokens itself (the Consul API: its own headers, its own 403s). */
    ownAuth?: boolean;
    /** Open without a token whatever the settings: holds no registry data and changes nothing. */
    tokenFree?: boolean;
  }
  interface FastifyRequest {
    /** The grant of the request's token, for routes that write several services (absent: no token file). */
    grant?: Grant;
  }
}

export interface AuthOptions {
  /** The current tokens (they change on reload); null: no token file, writes are open. */
  tokens: () => TokenSet | null;
  readRequiresToken: boolean;
  /**
   * A call no route serves that another API answers under its own rules (Consul's paths: their 404
   * "not supported" and 405 come without Signpost's bearer check, whose token a Consul client does not send).
   */
  foreignCall?: (method: string, url: string) => boolean;
}

/** May this request write `service` (lower case)? Always, without a token file. */
export function mayWrite(request: FastifyRequest, service: string): boolean {
  return request.grant === undefined || canWrite(request.grant, service);
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1] : null;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message);
}

export function installAuth(app: FastifyInstance, { tokens, readRequiresToken, foreignCall = () => false }: AuthOptions): void {
  app.decorateRequest('grant', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const set = tokens();
    if (set === null || request.routeOptions.config?.ownAuth || request.routeOptions.config?.tokenFree) return;
    if (request.routeOptions.url === undefined && foreignCall(request.method, request.url)) return;
    const write = request.method !== 'GET' && request.method !== 'HEAD';
    if (!write && !readRequiresToken) return;
    reply.header('www-authenticate', 'Bearer realm="signpost"');
    const token = bearer(request);
    if (token === null) {
      throw unauthorized(request.headers.authorization === undefined ? 'missing bearer token (Authorization: Bearer TOKEN)' : 'malformed Authorization header: expected "Bearer TOKEN"');
    }
    const grant = set.lookup(token);
    if (grant === null) throw unauthorized('unknown bearer token');
    if (!write) return;
    request.grant = grant;
    const service = (request.params as { service?: unknown } | undefined)?.service;
    if (typeof service !== 'string') {
      // A write outside any service (no such route): a known token is enough to learn it is a 404.
      return;
    }
    if (!canWrite(grant, service.toLowerCase())) {
      throw new HttpError(403, `this token may not write service ${service.toLowerCase()}`);
    }
  });
}
