// JSON schemas of the HTTP API: what a request may carry and what a response holds.
import { LABEL_PATTERN, LIMITS } from '../config.ts';

const label = { type: 'string', pattern: LABEL_PATTERN } as const;

export const instanceParams = {
  type: 'object',
  required: ['service', 'id'],
  properties: { service: label, id: label },
} as const;

export const serviceParams = {
  type: 'object',
  required: ['service'],
  properties: { service: label },
} as const;

export const registrationBody = {
  type: 'object',
  required: ['address', 'port'],
  additionalProperties: false,
  properties: {
    // `ip` is registered by the HTTP app: an IPv4 or IPv6 literal, without a zone index.
    address: { type: 'string', format: 'ip' },
    port: { type: 'integer', minimum: LIMITS.port.min, maximum: LIMITS.port.max },
    weight: { type: 'integer', minimum: LIMITS.weight.min, maximum: LIMITS.weight.max, default: LIMITS.weight.default },
    priority: {
      type: 'integer',
      minimum: LIMITS.priority.min,
      maximum: LIMITS.priority.max,
      default: LIMITS.priority.default,
    },
    ttl: { type: 'integer', minimum: LIMITS.ttl.min, maximum: LIMITS.ttl.max, default: LIMITS.ttl.default },
    tags: { type: 'array', maxItems: LIMITS.tagsPerInstance, items: label, default: [] },
    meta: {
      type: 'object',
      maxProperties: LIMITS.metaEntries,
      propertyNames: { pattern: `^[A-Za-z0-9_.-]{1,${LIMITS.metaKeyLength}}$` },
      additionalProperties: { type: 'string' },
      default: {},
    },
  },
} as const;

export const instanceResponse = {
  type: 'object',
  properties: {
    service: { type: 'string' },
    id: { type: 'string' },
    address: { type: 'string' },
    port: { type: 'integer' },
    weight: { type: 'integer' },
    priority: { type: 'integer' },
    ttl: { type: 'integer' },
    tags: { type: 'array', items: { type: 'string' } },
    meta: { type: 'object', additionalProperties: { type: 'string' } },
    status: { type: 'string', enum: ['passing', 'critical'] },
    registeredAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const heartbeatResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const errorResponse = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    rule: { type: 'string' },
  },
} as const;

export const serviceListResponse = {
  type: 'object',
  properties: {
    services: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          instances: { type: 'integer' },
          healthy: { type: 'integer' },
        },
      },
    },
  },
} as const;

export const serviceResponse = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    instances: { type: 'array', items: instanceResponse },
  },
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    dns: { type: 'string' },
    http: { type: 'string' },
  },
} as const;
