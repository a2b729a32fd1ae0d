// Consul's tokens mapped onto Signpost's token file: `?token=`, `X-Consul-Token`,
// `Authorization: Bearer` (VictoriaMetrics sends this one) or a registration's `Token` field.
import type { FastifyRequest } from 'fastify';
import { ConsulError } from './errors.ts';

/** What one token may do. */
export interface TokenRights {
  canWrite(service: string): boolean;
}

/** The configured tokens: `lookup` gives a known token's rights, undefined for an unknown one. */
export interface TokenLookup {
  lookup(token: string): TokenRights | undefined;
}

export interface ConsulAccessOptions {
  /** The current tokens; null: no token file, everything is open. */
  tokens: () => TokenLookup | null;
  /** Reads need a known token too. */
  readRequiresToken: boolean;
}

/** The token a request carries, in Consul's order of precedence; `bodyToken` (a registration's `Token`) last. */
export function tokenOf(request: FastifyRequest, bodyToken?: string | null): string | undefined {
  const query = (request.query as { token?: string } | undefined)?.token;
  if (query) return query;
  const header = request.headers['x-consul-token'];
  if (typeof header === 'string' && header !== '') return header;
  const match = /^Bearer\s+(\S+)/i.exec(request.headers.authorization ?? '');
  if (match) return match[1];
  return bodyToken || undefined;
}

export class ConsulAccess {
  readonly #options: ConsulAccessOptions;

  constructor(options: ConsulAccessOptions) {
    this.#options = options;
  }

  /** Throws Consul's 403 unless the request may read. */
  checkRead(request: FastifyRequest): void {
    if (!this.#options.readRequiresToken) return;
    this.#rights(request, undefined, "lacks permission 'service:read'");
  }

  /** Throws Consul's 403 unless the request's token may write `service`. */
  checkWrite(request: FastifyRequest, service: string, bodyToken?: string | null): void {
    const rights = this.#rights(request, bodyToken, `lacks permission 'service:write' on "${service}"`);
    if (rights && !rights.canWrite(service)) throw new ConsulError(403, `Permission denied: token lacks permission 'service:write' on "${service}"`);
  }

  /** The rights of the request's token; null when everything is open. */
  #rights(request: FastifyRequest, bodyToken: string | null | undefined, lacks: string): TokenRights | null {
    const tokens = this.#options.tokens();
    if (tokens === null) return null;
    const token = tokenOf(request, bodyToken);
    if (token === undefined) throw new ConsulError(403, `Permission denied: anonymous token ${lacks}`);
    const rights = tokens.lookup(token);
    if (rights === undefined) throw new ConsulError(403, 'ACL not found');
    return rights;
  }
}
