// Consul's catalog, health and status reads.
import type { FastifyInstance } from 'fastify';
import type { Instance } from '../registry/types.ts';
import { ConsulError } from './errors.ts';
import type { ConsulContext } from './context.ts';
import { hasTags, healthEntry, serviceChecks, serviceNode } from './render.ts';
import * as schemas from './schemas.ts';

interface NameParams {
  name: string;
}
interface ReadQuery {
  tag?: string | string[];
  passing?: string;
  'node-meta'?: string | string[];
}

const config = { ownAuth: true };

export async function catalogRoutes(app: FastifyInstance, context: ConsulContext) {
  const { registry, reads, node } = context;
  const read = (response: object, params?: object) => ({ config, schema: { querystring: schemas.readQuery, ...(params ? { params } : {}), response: { 200: response } } });

  /** The instances of `name` that carry every `?tag=` and sit on a node matching `?node-meta=`, by ID. */
  const instancesOf = (name: string, query: ReadQuery): Instance[] => {
    if (!nodeMetaMatches(query['node-meta'])) return [];
    const wanted = toArray(query.tag);
    return (registry.instances(name) ?? []).filter((instance) => hasTags(instance, wanted)).sort((a, b) => a.id.localeCompare(b.id));
  };

  app.get<{ Querystring: ReadQuery }>('/v1/catalog/services', read(schemas.catalogServicesJson), (request, reply) =>
    reads.answer(request, reply, {
      kind: 'services',
      render: () => {
        const services: Record<string, string[]> = {};
        if (!nodeMetaMatches(request.query['node-meta'])) return services;
        for (const name of [...registry.serviceNames()].sort()) {
          services[name] = [...new Set((registry.instances(name) ?? []).flatMap((instance) => instance.tags))].sort();
        }
        return services;
      },
    }),
  );

  /**
   * A read of one service's instances. `rendererFor` checks the query before anything waits (a bad
   * flag is a 400 at once) and returns what renders the instances `?tag=` and `?node-meta=` leave.
   */
  const serviceRead = (
    url: string,
    response: object,
    kind: 'catalog' | 'health',
    rendererFor: (query: ReadQuery) => (instances: Instance[]) => unknown,
  ) =>
    app.get<{ Params: NameParams; Querystring: ReadQuery }>(url, read(response, schemas.nameParams), (request, reply) => {
      const name = serviceName(request.params.name);
      const render = rendererFor(request.query);
      return reads.answer(request, reply, { kind, service: name, render: () => render(instancesOf(name, request.query)) });
    });

  serviceRead('/v1/catalog/service/:name', schemas.serviceNodesJson, 'catalog', () => (instances) => instances.map((instance) => serviceNode(instance, node)));

  // Consul's ?passing drops an entry when any of its checks is not passing (maintenance included).
  serviceRead('/v1/health/service/:name', schemas.healthEntriesJson, 'health', (query) => {
    const passing = query.passing === undefined ? false : parseFlag(query.passing, 'passing');
    return (instances) => instances.filter((instance) => !passing || instance.status === 'passing').map((instance) => healthEntry(instance, node));
  });

  serviceRead('/v1/health/checks/:name', schemas.checksJson, 'health', () => (instances) => instances.flatMap((instance) => serviceChecks(instance, node)));

  app.get('/v1/catalog/datacenters', read(schemas.stringsJson), (request, reply) => reads.answer(request, reply, { kind: 'fixed', render: () => [node.datacenter] }));

  app.get<{ Querystring: ReadQuery }>('/v1/catalog/nodes', read(schemas.nodesJson), (request, reply) =>
    reads.answer(request, reply, { kind: 'fixed', render: () => (nodeMetaMatches(request.query['node-meta']) ? [node.json] : []) }),
  );

  // The leader Consul clients look for: this server, at the address they reached it on. Consul
  // answers a JSON string; fastify would send a bare string as text/plain, so it is encoded here.
  app.get('/v1/status/leader', read(schemas.stringJson), async (request, reply) => {
    const leader = await reads.answer(request, reply, { kind: 'fixed', render: () => `${node.address}:${request.socket.localPort}` });
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(leader));
  });

  app.get('/v1/status/peers', read(schemas.stringsJson), (request, reply) =>
    reads.answer(request, reply, { kind: 'fixed', render: () => [`${node.address}:${request.socket.localPort}`] }),
  );

  /** `?node-meta=key:value` (repeatable): the node's meta is empty, so any filter leaves nothing. */
  function nodeMetaMatches(filters: string | string[] | undefined): boolean {
    return toArray(filters).every((filter) => {
      const [key, value = ''] = filter.split(':', 2);
      return (node.json.Meta as Record<string, string>)[key] === value;
    });
  }
}

/** A service name from a path: Signpost's are stored lower case (one that is not a DNS label finds nothing). */
function serviceName(name: string): string {
  if (name === '') throw new ConsulError(400, 'Missing service name');
  return name.toLowerCase();
}

function toArray(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Consul's boolean query flags: present without a value is true, otherwise Go's ParseBool. */
function parseFlag(text: string, name: string): boolean {
  if (text === '' || ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new ConsulError(400, `Invalid value for ?${name}`);
}
