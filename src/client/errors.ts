/** Why a call failed: `unavailable` (no server answered in time), `rejected` (the server said no), `no-instances`. */
export type SignpostErrorCode = 'unavailable' | 'rejected' | 'no-instances';

/** Every error the client raises or emits. */
export class SignpostError extends Error {
  readonly code: SignpostErrorCode;
  /** The HTTP status when a server answered (400, 401, 403, 404, 429, 503, …). */
  readonly status?: number;
  /** The request field the server named (`port`, `tags.2`) for a 400. */
  readonly field?: string;
  /** The registration an error in the background is about. */
  readonly service?: string;
  readonly id?: string;

  constructor(code: SignpostErrorCode, message: string, details: { status?: number; field?: string; service?: string; id?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SignpostError';
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.field !== undefined) this.field = details.field;
    if (details.service !== undefined) this.service = details.service;
    if (details.id !== undefined) this.id = details.id;
  }
}

/**
 * OpenSSL's verdicts on a server certificate that Node does not trust (its code), where the usual
 * fix is the client's to make: trust the CA that signed it.
 */
const UNTRUSTED_CERTIFICATE = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)$/;

/** The useful part of a network error: fetch hides ECONNREFUSED and timeouts in `cause`. */
export function describeFailure(error: unknown): string {
  const { name, code, cause } = error as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  if (name === 'TimeoutError') return 'timed out';
  const reason = cause?.code ?? code ?? cause?.message ?? (error as Error).message;
  if (UNTRUSTED_CERTIFICATE.test(reason)) return `${reason}: its certificate is not signed by a CA this Node trusts (NODE_EXTRA_CA_CERTS=ca.crt adds one)`;
  return reason;
}
