// Request validation: strict JSON bodies (no type coercion, unknown fields refused, so a typo
// such as "wieght" is a 400 rather than silently ignored) and coercing path/query parameters.
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { PATTERNS } from './schemas.ts';

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false });
  addFormats.default(ajv, ['date-time']);
  // IPv4 or IPv6 literal; zone indexes (`fe80::1%eth0`) mean nothing to a remote resolver.
  ajv.addFormat('ip', { type: 'string', validate: (value: string) => isIP(value) !== 0 && !value.includes('%') });
  return ajv;
}

const bodyAjv = makeAjv(false);
const paramsAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : paramsAjv).compile(schema) as ReturnType<FastifySchemaCompiler<object>>;

/** Where a validation error points, as `port`, `meta.env`, `tags.2`, or the path parameter's name. */
export function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean);
  if (error.keyword === 'required') path.push(String(error.params.missingProperty));
  if (error.keyword === 'additionalProperties') path.push(String(error.params.additionalProperty));
  // A key that breaks `propertyNames` is reported on the object, with the key beside it.
  if (error.propertyName !== undefined) path.push(error.propertyName);
  return path.join('.');
}

/** Human wording of one validation error, naming the field. */
export function describe(error: ErrorObject, field: string): string {
  if (error.propertyName !== undefined) return `${field} must be ${wantedBy(PATTERNS.metaKey.pattern)}`;
  switch (error.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not a known field`;
    case 'pattern':
      return `${field} must be ${wantedBy(String(error.params.pattern))}`;
    case 'enum':
      return `${field} must be one of ${(error.params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}`;
    case 'type':
      // The whole body (none at all, `null`, an array): say what it must be.
      return error.instancePath === '' && field === 'body' ? 'the body must be a JSON object, sent with content-type: application/json' : `${field} ${error.message}`;
    case 'format':
      return error.params.format === 'ip' ? `${field} must be an IPv4 or IPv6 address` : `${field} ${error.message}`;
    default:
      return `${field || 'body'} ${error.message}`;
  }
}

/** What a pattern of PATTERNS asks for, in words. */
function wantedBy(pattern: string): string {
  return Object.values(PATTERNS).find((known) => known.pattern === pattern)?.wants ?? `to match ${pattern}`;
}
