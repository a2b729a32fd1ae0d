// Consul's agent endpoints: register, deregister, TTL check updates, maintenance, and the reads.
import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../config/limits.ts';
import type { Instance, ReportedStatus } from '../registry/types.ts';
import { hashOf } from './blocking.ts';
import { canonicalKeys } from './decode.ts';
import { ConsulError } from './errors.ts';
import { unknownService, type ConsulContext } from './context.ts';
import { CONSUL_API_VERSION } from './node.ts';
import { namesOf, toRegistration, type ServiceDefinition } from './register.ts';
import { agentService, MAINTENANCE_CHECK_PREFIX, SERVICE_CHECK_PREFIX, serviceChecks } from './render.ts';
import * as schemas from './schemas.ts';

interface IdParams {
  id: string;
}
interface WriteQuery {
  'replace-existing-checks'?: string;
  enable?: string;
  reason?: string;
  note?: string;
}

const DEFAULT_MAINTENANCE_REASON = '';
const config = { ownAuth: true };

export async function agentRoutes(app: FastifyInstance, context: ConsulContext) {
  const { registry, access, reads, node, ids } = context;
  const write = (params: object, body?: object) => ({ params, querystring: schemas.writeQuery, ...(body ? { body } : {}) });

  app.put<{ Body: ServiceDefinition; Querystring: WriteQuery }>(
    '/v1/agent/service/register',
    {
      config,
      schema: write({}, schemas.serviceDefinition),
      preValidation: async (request) => {
        request.body = canonicalKeys(request.body ?? {}, schemas.serviceDefinition) as ServiceDefinition;
      },
    },
    async (request, reply) => {
      const definition = request.body;
      const names = namesOf(definition);
      access.checkWrite(request, names.service, definition.Token);
      const elsewhere = ids.find(names.id).find((instance) => instance.service !== names.service);
      if (elsewhere) {
        throw new ConsulError(400, `Service ID "${names.id}" is registered for service "${elsewhere.service}": Signpost keys instances by name and ID, so deregister it there first`);
      }
      const existing = registry.get(names.service, names.id);
      const replaceChecks = flagValue(request.query['replace-existing-checks']);
      await registry.register(toRegistration(definition, names, request.ip, existing, replaceChecks));
      return reply.code(200).send();
    },
  );

  app.put<{ Params: IdParams; Querystring: WriteQuery }>(
    '/v1/agent/service/deregister/:id',
    { config, schema: write(schemas.idParams) },
    async (request, reply) => {
      const instance = context.serviceById(request.params.id);
      access.checkWrite(request, instance.service);
      if (!(await registry.deregister(instance.service, instance.id))) throw unknownService(request.params.id);
      return reply.code(200).send();
    },
  );

  app.put<{ Params: IdParams; Querystring: WriteQuery }>(
    '/v1/agent/service/maintenance/:id',
    { config, schema: write(schemas.idParams) },
    async (request, reply) => {
      const { enable, reason = DEFAULT_MAINTENANCE_REASON } = request.query;
      if (request.params.id === '') throw new ConsulError(400, 'Missing service ID');
      if (enable === undefined) throw new ConsulError(400, 'Missing value for enable');
      const enabled = parseBool(enable);
      if (enabled === undefined) throw new ConsulError(400, `Invalid value for enable: "${enable}"`);
      if (reason.length > LIMITS.maintenanceReasonLength) throw new ConsulError(400, `Invalid value for reason: at most ${LIMITS.maintenanceReasonLength} characters`);
      const instance = context.serviceById(request.params.id);
      access.checkWrite(request, instance.service);
      if (!(await registry.setMaintenance(instance.service, instance.id, enabled, reason))) throw unknownService(request.params.id);
      return reply.code(200).send();
    },
  );

  for (const [verb, status] of [['pass', 'passing'], ['warn', 'warning'], ['fail', 'critical']] as const) {
    app.put<{ Params: IdParams; Querystring: WriteQuery }>(`/v1/agent/check/${verb}/:id`, { config, schema: write(schemas.idParams) }, async (request, reply) => {
      await updateTtl(request.params.id, status, request.query.note ?? '', request);
      return reply.code(200).send();
    });
  }

  app.put<{ Params: IdParams; Body: { Status?: string | null; Output?: string | null } }>(
    '/v1/agent/check/update/:id',
    {
      config,
      schema: write(schemas.idParams, schemas.checkUpdate),
      preValidation: async (request) => {
        request.body = canonicalKeys(request.body ?? {}, schemas.checkUpdate) as typeof request.body;
      },
    },
    async (request, reply) => {
      const status = request.body.Status ?? '';
      if (status !== 'passing' && status !== 'warning' && status !== 'critical') throw new ConsulError(400, `Invalid check status: '${status}'`);
      await updateTtl(request.params.id, status, request.body.Output ?? '', request);
      return reply.code(200).send();
    },
  );

  /** A TTL check update is a heartbeat of the instance whose lease the check is. */
  async function updateTtl(checkId: string, status: ReportedStatus, output: string, request: Parameters<typeof access.checkWrite>[0]) {
    const instance = ttlInstance(checkId);
    access.checkWrite(request, instance.service);
    // Consul truncates long check output; so does Signpost, to its note length.
    const renewed = await registry.heartbeat(instance.service, instance.id, { status, note: output.slice(0, LIMITS.noteLength) });
    if (!renewed) throw unknownCheck(checkId);
  }

  /** The instance a TTL check id names (`service:<ID>`, or `service:<ID>:1` beside an HTTP/TCP check). */
  function ttlInstance(checkId: string): Instance {
    const lower = checkId.toLowerCase();
    const notTtl = new ConsulError(500, `CheckID "${checkId}" does not have associated TTL`);
    if (lower.startsWith(MAINTENANCE_CHECK_PREFIX)) {
      if (ids.find(lower.slice(MAINTENANCE_CHECK_PREFIX.length)).length > 0) throw notTtl;
      throw unknownCheck(checkId);
    }
    const match = lower.startsWith(SERVICE_CHECK_PREFIX) ? /^(.+?)(?::([12]))?$/.exec(lower.slice(SERVICE_CHECK_PREFIX.length)) : null;
    const found = match ? ids.find(match[1]) : [];
    if (found.length === 0) throw unknownCheck(checkId);
    const instance = context.serviceById(match![1]);
    const position = match![2];
    if (position === undefined) {
      if (instance.check) throw notTtl;
      if (instance.ttl === 0) throw unknownCheck(checkId);
    } else if (!instance.check || instance.ttl === 0) {
      throw unknownCheck(checkId);
    } else if (position === '2') {
      throw notTtl;
    }
    return instance;
  }

  app.get('/v1/agent/services', { config, schema: { querystring: schemas.readQuery, response: { 200: schemas.agentServicesJson } } }, (request, reply) =>
    reads.answer(request, reply, {
      kind: 'agent',
      render: () => agentMap(registry.allInstances(), (instance) => [[instance.id, agentService(instance, node)]]),
    }),
  );

  app.get<{ Params: IdParams }>(
    '/v1/agent/service/:id',
    { config, schema: { params: schemas.idParams, querystring: schemas.readQuery, response: { 200: schemas.agentServiceJson } } },
    async (request, reply) => {
      const id = request.params.id.toLowerCase();
      const found = ids.find(id);
      if (found.length === 0) throw new ConsulError(404, `unknown service ID: ${request.params.id}`);
      const { service } = context.serviceById(id);
      return reads.answer(request, reply, {
        kind: 'catalog',
        service,
        render: () => {
          const instance = registry.get(service, id);
          if (!instance) throw new ConsulError(404, `unknown service ID: ${request.params.id}`);
          const json = agentService(instance, node);
          return { ...json, ContentHash: hashOf(JSON.stringify(json)) };
        },
        hash: (answer) => answer.ContentHash,
      });
    },
  );

  app.get('/v1/agent/checks', { config, schema: { querystring: schemas.readQuery, response: { 200: schemas.checkMapJson } } }, (request, reply) =>
    reads.answer(request, reply, {
      kind: 'agent',
      render: () => agentMap(registry.allInstances(), (instance) => serviceChecks(instance, node).map((check) => [check.CheckID, check])),
    }),
  );

  app.get('/v1/agent/self', { config, schema: { querystring: schemas.readQuery, response: { 200: schemas.agentSelfJson } } }, (request, reply) =>
    reads.answer(request, reply, {
      kind: 'fixed',
      render: () => ({
        Config: {
          Datacenter: node.datacenter,
          PrimaryDatacenter: node.datacenter,
          NodeName: node.name,
          NodeID: node.id,
          Server: true,
          Version: CONSUL_API_VERSION,
          Revision: 'signpost',
        },
        DebugConfig: {},
        Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 },
        Member: { Name: node.name, Addr: node.address, Port: 8301, Tags: { dc: node.datacenter, role: 'consul', id: node.id }, Status: 1 },
        Stats: {},
        Meta: {},
      }),
    }),
  );
}

function unknownCheck(id: string): ConsulError {
  return new ConsulError(404, `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`);
}


/** Consul's `?enable=`: Go's strconv.ParseBool. */
function parseBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** A flag Consul reads as on when present with no value or `true`. */
export function flagValue(text: string | undefined): boolean {
  return text === '' || text === 'true';
}

function byServiceAndId(a: Instance, b: Instance): number {
  return a.service === b.service ? a.id.localeCompare(b.id) : a.service.localeCompare(b.service);
}

/**
 * One of the agent's maps (services, checks), ordered by service then ID. Consul keys them by ID alone;
 * an ID registered (natively) under more than one service is keyed `<service>/<key>` instead, so no entry hides another.
 */
function agentMap<T>(instances: Iterable<Instance>, entriesOf: (instance: Instance) => Array<[key: string, value: T]>): Record<string, T> {
  const all = [...instances].sort(byServiceAndId);
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const instance of all) (seen.has(instance.id) ? shared : seen).add(instance.id);
  const map: Record<string, T> = {};
  for (const instance of all) {
    for (const [key, value] of entriesOf(instance)) map[shared.has(instance.id) ? `${instance.service}/${key}` : key] = value;
  }
  return map;
}
