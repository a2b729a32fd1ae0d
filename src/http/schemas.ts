// JSON schemas of the HTTP API: what a request may carry and what a response holds.
import { LABEL_PATTERN, LIMITS } from '../config/limits.ts';

/** Response header: the change index of what a read shows (a blocking query waits past it). */
export const INDEX_HEADER = 'x-signpost-index';

/**
 * The patterns strings must match, each with what it asks for in words: a 400 for a string that
 * does not match says what the pattern wants (validation.ts looks the words up by pattern).
 */
export const PATTERNS = {
  label: { pattern: LABEL_PATTERN, wants: 'a DNS label: letters, digits and hyphens, 1-63 characters, not starting or ending with a hyphen' },
  metaKey: { pattern: `^[A-Za-z0-9_.-]{1,${LIMITS.metaKeyLength}}$`, wants: `a meta key: 1-${LIMITS.metaKeyLength} characters of A-Z a-z 0-9 _ . -` },
  httpCheck: { pattern: '^https?://[^\\s]+$', wants: 'an http:// or https:// URL without spaces, such as http://10.0.0.1:8080/health' },
  tcpCheck: { pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', wants: 'HOST:PORT (a name or an IPv4 address, or [IPv6]:PORT), such as 10.0.0.1:5432' },
} as const;

const label = { type: 'string', pattern: PATTERNS.label.pattern } as const;

function range(limits: { min: number; max: number }) {
  return { minimum: limits.min, maximum: limits.max };
}

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
    warningWeight: { type: 'integer', minimum: LIMITS.weight.min, maximum: LIMITS.weight.max },
    priority: {
      type: 'integer',
      minimum: LIMITS.priority.min,
      maximum: LIMITS.priority.max,
      default: LIMITS.priority.default,
    },
    ttl: { type: 'integer', minimum: LIMITS.ttl.min, maximum: LIMITS.ttl.max, default: LIMITS.ttl.default },
    initialStatus: { type: 'string', enum: ['passing', 'warning', 'critical'] },
    tags: { type: 'array', maxItems: LIMITS.tagsPerInstance, items: label, default: [] },
    meta: {
      type: 'object',
      maxProperties: LIMITS.metaEntries,
      propertyNames: { pattern: PATTERNS.metaKey.pattern },
      additionalProperties: { type: 'string' },
      default: {},
    },
    check: {
      type: 'object',
      additionalProperties: false,
      properties: {
        http: { type: 'string', pattern: PATTERNS.httpCheck.pattern, maxLength: 2048 },
        tcp: { type: 'string', pattern: PATTERNS.tcpCheck.pattern },
        interval: { type: 'number', ...range(LIMITS.check.interval), default: LIMITS.check.interval.default },
        timeout: { type: 'number', ...range(LIMITS.check.timeout), default: LIMITS.check.timeout.default },
        successBeforePassing: { type: 'integer', ...range(LIMITS.check.threshold), default: LIMITS.check.threshold.default },
        failuresBeforeCritical: { type: 'integer', ...range(LIMITS.check.threshold), default: LIMITS.check.threshold.default },
      },
    },
    deregisterCriticalAfter: { type: 'integer', ...range(LIMITS.deregisterCriticalAfter) },
  },
} as const;

export const heartbeatBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['passing', 'warning', 'critical'], default: 'passing' },
    note: { type: 'string', maxLength: LIMITS.noteLength, default: '' },
  },
} as const;

export const heartbeatBatchBody = {
  type: 'object',
  required: ['instances'],
  additionalProperties: false,
  properties: {
    instances: {
      type: 'array',
      maxItems: LIMITS.heartbeatBatch.maxEntries,
      items: {
        type: 'object',
        required: ['service', 'id'],
        additionalProperties: false,
        properties: { service: label, id: label, ...heartbeatBody.properties },
      },
    },
  },
} as const;

export const maintenanceBody = {
  type: 'object',
  required: ['enabled'],
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    reason: { type: 'string', maxLength: LIMITS.maintenanceReasonLength, default: '' },
  },
} as const;

export const settingsBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    protectionThreshold: { type: 'number', ...range(LIMITS.settings.protectionThreshold) },
    warmup: { type: 'integer', ...range(LIMITS.settings.warmup) },
  },
} as const;

export const blockingQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    index: { type: 'integer', minimum: 0 },
    wait: { type: 'number', minimum: 0, maximum: LIMITS.blockingWait.max },
  },
} as const;

export const watchQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { service: label },
} as const;

const healthSource = {
  type: 'object',
  properties: { status: { type: 'string' }, note: { type: 'string' }, since: { type: 'string', format: 'date-time' } },
} as const;

const protection = {
  type: 'object',
  properties: { tripped: { type: 'boolean' }, healthyShare: { type: 'number' } },
} as const;

const settings = {
  type: 'object',
  properties: { protectionThreshold: { type: 'number' }, warmup: { type: 'integer' } },
} as const;

export const instanceResponse = {
  type: 'object',
  properties: {
    service: { type: 'string' },
    id: { type: 'string' },
    address: { type: 'string' },
    port: { type: 'integer' },
    weight: { type: 'integer' },
    warningWeight: { type: 'integer' },
    priority: { type: 'integer' },
    ttl: { type: 'integer' },
    initialStatus: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    meta: { type: 'object', additionalProperties: { type: 'string' } },
    effectiveWeight: { type: 'integer' },
    check: {
      type: 'object',
      properties: {
        http: { type: 'string' },
        tcp: { type: 'string' },
        interval: { type: 'number' },
        timeout: { type: 'number' },
        successBeforePassing: { type: 'integer' },
        failuresBeforeCritical: { type: 'integer' },
      },
    },
    deregisterCriticalAfter: { type: 'integer' },
    maintenance: { type: ['object', 'null'], properties: { reason: { type: 'string' } } },
    status: { type: 'string', enum: ['passing', 'warning', 'critical', 'maintenance'] },
    health: { type: 'object', properties: { lease: healthSource, check: healthSource, maintenance: healthSource } },
    registeredAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    lastHeartbeatAt: { type: ['string', 'null'], format: 'date-time' },
    leaseHolder: { type: ['string', 'null'] },
    warmingUp: {
      type: ['object', 'null'],
      properties: { since: { type: 'string', format: 'date-time' }, progress: { type: 'number' } },
    },
    index: { type: 'integer' },
  },
} as const;

export const heartbeatResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** One entry per instance of the request, in its order: renewed (`status`, `expiresAt`) or not (`error`, `message`). */
export const heartbeatBatchResponse = {
  type: 'object',
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          service: { type: 'string' },
          id: { type: 'string' },
          status: { type: 'string' },
          expiresAt: { type: 'string', format: 'date-time' },
          error: { type: 'integer' },
          message: { type: 'string' },
        },
      },
    },
  },
} as const;

export const settingsResponse = settings;

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
          tags: { type: 'array', items: { type: 'string' } },
          protection,
        },
      },
    },
  },
} as const;

export const serviceResponse = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    index: { type: 'integer' },
    settings,
    protection,
    instances: { type: 'array', items: instanceResponse },
    traffic: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          priority: { type: 'integer' },
          instances: {
            type: 'array',
            items: { type: 'object', properties: { id: { type: 'string' }, weight: { type: 'integer' }, share: { type: 'number' } } },
          },
        },
      },
    },
  },
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    store: { type: 'string' },
    dns: { type: 'string' },
    http: { type: 'string' },
    watches: {
      type: 'object',
      properties: {
        open: { type: 'integer' },
        max: { type: 'integer' },
        streams: {
          type: 'object',
          properties: { open: { type: 'integer' }, behind: { type: 'integer' }, largestQueueBytes: { type: 'integer' }, cutOff: { type: 'integer' } },
        },
      },
    },
  },
} as const;

const counts = (keys: readonly string[]) => ({
  type: 'object',
  properties: Object.fromEntries(keys.map((key) => [key, { type: 'number' }])),
}) as const;

const answerTimes = {
  type: 'object',
  properties: { counts: { type: 'array', items: { type: 'number' } }, sumMicros: { type: 'number' } },
} as const;

export const serverResponse = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    node: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    now: { type: 'string', format: 'date-time' },
    config: {
      type: 'object',
      properties: {
        domain: { type: 'string' },
        dns: { type: 'string' },
        http: { type: 'string' },
        dnsTtl: { type: 'integer' },
        gracePeriod: { type: 'integer' },
        onlyPassing: { type: 'boolean' },
        forwarding: { type: 'object', properties: { enabled: { type: 'boolean' }, upstreams: { type: 'array', items: { type: 'string' } } } },
        tokens: { type: 'object', properties: { writes: { type: 'boolean' }, reads: { type: 'boolean' } } },
      },
    },
    store: {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        available: { type: 'boolean' },
        endpoints: { type: 'array', items: { type: 'string' } },
        prefix: { type: 'string' },
      },
    },
    dns: {
      type: 'object',
      properties: {
        replies: { type: 'object', additionalProperties: { type: 'number' } },
        answerTime: {
          type: 'object',
          properties: {
            sampleEvery: { type: 'integer' },
            boundsMicros: { type: 'array', items: { type: 'number' } },
            zone: answerTimes,
            forwarded: answerTimes,
          },
        },
        rateLimit: counts(['dropped', 'slipped']),
        tcpConnections: { type: 'integer' },
      },
    },
    registry: {
      type: 'object',
      properties: {
        index: { type: 'integer' },
        services: { type: 'integer' },
        instances: counts(['passing', 'warning', 'critical', 'maintenance']),
        protectionTripped: { type: 'integer' },
        events: counts(['register', 'deregister', 'health', 'settings']),
        deregistrations: counts(['request', 'critical']),
        heartbeats: { type: 'number' },
      },
    },
    watches: { type: 'object', properties: { open: { type: 'integer' }, max: { type: 'integer' } } },
  },
} as const;
