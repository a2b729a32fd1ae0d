// JSON schemas of the Consul routes, in Consul's field names. Bodies are matched to them
// case-insensitively first (decode.ts), as Consul's decoder matches fields.
import { LIMITS } from '../config/limits.ts';

/** Go's decoder takes null for any field (the field's zero value). */
const nullable = (type: string) => ({ type: [type, 'null'] });
const string = nullable('string');
const boolean = nullable('boolean');
const integer = nullable('integer');
/** A Go duration (`15s`) or a number of nanoseconds. */
const duration = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'null' }] };
const stringMap = { type: ['object', 'null'], additionalProperties: { type: 'string' } };
const anyObject = { type: ['object', 'null'] };

/** Consul's CheckType: every field is accepted; the register route says which it cannot honour. */
export const checkDefinition = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    CheckID: string,
    Name: string,
    Status: string,
    Notes: string,
    ScriptArgs: { type: ['array', 'null'], items: { type: 'string' } },
    HTTP: string,
    H2PING: string,
    H2PingUseTLS: boolean,
    Header: { type: ['object', 'null'], additionalProperties: { type: 'array', items: { type: 'string' } } },
    Method: string,
    Body: string,
    DisableRedirects: boolean,
    TCP: string,
    UDP: string,
    Interval: duration,
    AliasNode: string,
    AliasService: string,
    DockerContainerID: string,
    Shell: string,
    GRPC: string,
    GRPCUseTLS: boolean,
    OSService: string,
    TLSServerName: string,
    TLSSkipVerify: boolean,
    Timeout: duration,
    TTL: duration,
    SuccessBeforePassing: integer,
    FailuresBeforeWarning: integer,
    FailuresBeforeCritical: integer,
    DeregisterCriticalServiceAfter: duration,
    OutputMaxSize: integer,
    ProxyHTTP: string,
    ProxyGRPC: string,
    ServiceID: string,
  },
} as const;

/** Consul's ServiceDefinition (`PUT /v1/agent/service/register`). */
export const serviceDefinition = {
  type: 'object',
  additionalProperties: false,
  properties: {
    Kind: string,
    ID: string,
    Name: string,
    Tags: { type: ['array', 'null'], maxItems: LIMITS.tagsPerInstance, items: { type: 'string', minLength: 1, maxLength: LIMITS.consulTagLength } },
    Address: string,
    TaggedAddresses: anyObject,
    Meta: stringMap,
    Port: integer,
    SocketPath: string,
    Check: checkDefinition,
    Checks: { type: ['array', 'null'], items: checkDefinition },
    Weights: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: { Passing: integer, Warning: integer },
    },
    Token: string,
    EnableTagOverride: boolean,
    Proxy: anyObject,
    Connect: anyObject,
    Locality: anyObject,
  },
} as const;

/** `PUT /v1/agent/check/update/:check_id`. */
export const checkUpdate = {
  type: 'object',
  additionalProperties: false,
  properties: { Status: string, Output: string },
} as const;

/** Flags Consul reads by presence (`?passing`, `?stale`) arrive as "" or a word. */
const flag = { type: 'string' };
const tags = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };

/**
 * Query parameters every read takes. Others Consul knows are accepted and have no effect here
 * (`stale`, `consistent`, `cached`, `near`, `ns`, `partition`, `pretty`); the routes refuse `filter`.
 */
export const readQuery = {
  type: 'object',
  properties: {
    index: { type: 'string' },
    wait: { type: 'string' },
    hash: { type: 'string' },
    dc: { type: 'string' },
    token: { type: 'string' },
    filter: { type: 'string' },
    'node-meta': tags,
    passing: flag,
    tag: tags,
    stale: flag,
    consistent: flag,
  },
} as const;

export const writeQuery = {
  type: 'object',
  properties: {
    token: { type: 'string' },
    'replace-existing-checks': flag,
    enable: { type: 'string' },
    reason: { type: 'string' },
    note: { type: 'string' },
  },
} as const;

export const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;
export const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;

// ---- responses (what the routes send; fastify serialises with them) ----

const strings = { type: 'array', items: { type: 'string' } };
const stringObject = { type: 'object', additionalProperties: { type: 'string' } };
const weights = { type: 'object', properties: { Passing: { type: 'integer' }, Warning: { type: 'integer' } } };
const free = { type: 'object', additionalProperties: true };

/** Fields of one JSON type, by name: Consul's records are long lists of them. */
function ofType<const Names extends readonly string[]>(type: string, ...names: Names) {
  return Object.fromEntries(names.map((name) => [name, { type }])) as { [K in Names[number]]: { type: string } };
}

/** Every catalog record carries the raft indexes of its creation and last change. */
const indexes = ofType('integer', 'CreateIndex', 'ModifyIndex');

export const nodeJson = {
  type: 'object',
  properties: { ...ofType('string', 'ID', 'Node', 'Address', 'Datacenter'), TaggedAddresses: stringObject, Meta: stringObject, ...indexes },
} as const;

export const healthCheckJson = {
  type: 'object',
  properties: {
    ...ofType('string', 'Node', 'CheckID', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'Type', 'Interval', 'Timeout'),
    ServiceTags: strings,
    ExposedPort: { type: 'integer' },
    Definition: free,
    ...indexes,
  },
} as const;

/** What the agent and the catalog say of a service instance, less the fields each adds. */
const serviceFields = {
  ...ofType('string', 'ID', 'Service', 'Address'),
  Tags: strings,
  Meta: stringObject,
  Port: { type: 'integer' },
  Weights: weights,
  EnableTagOverride: { type: 'boolean' },
};

export const agentServiceJson = {
  type: 'object',
  properties: { ...serviceFields, ...ofType('string', 'Datacenter', 'ContentHash') },
} as const;

const nodeServiceJson = {
  type: 'object',
  properties: { ...serviceFields, Proxy: free, Connect: free, PeerName: { type: 'string' }, ...indexes },
} as const;

export const healthEntriesJson = {
  type: 'array',
  items: { type: 'object', properties: { Node: nodeJson, Service: nodeServiceJson, Checks: { type: 'array', items: healthCheckJson } } },
} as const;

export const serviceNodesJson = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      ...ofType('string', 'ID', 'Node', 'Address', 'Datacenter', 'ServiceKind', 'ServiceID', 'ServiceName', 'ServiceAddress', 'ServiceSocketPath'),
      TaggedAddresses: stringObject,
      NodeMeta: stringObject,
      ServiceTags: strings,
      ServiceWeights: weights,
      ServiceMeta: stringObject,
      ServicePort: { type: 'integer' },
      ServiceEnableTagOverride: { type: 'boolean' },
      ServiceProxy: free,
      ServiceConnect: free,
      ServiceLocality: { type: 'null' },
      ...indexes,
    },
  },
} as const;

export const checksJson = { type: 'array', items: healthCheckJson } as const;
export const checkMapJson = { type: 'object', additionalProperties: healthCheckJson } as const;
export const agentServicesJson = { type: 'object', additionalProperties: agentServiceJson } as const;
export const catalogServicesJson = { type: 'object', additionalProperties: strings } as const;
export const nodesJson = { type: 'array', items: nodeJson } as const;
export const stringsJson = strings;
export const stringJson = { type: 'string' } as const;
export const agentSelfJson = free;
