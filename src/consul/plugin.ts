// The Consul HTTP API subset, as one fastify plugin beside the native routes.
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyInstance } from 'fastify';
import type { Registry } from '../registry/registry.ts';
import type { WatchHub } from '../watch/hub.ts';
import { ConsulAccess, type ConsulAccessOptions } from './access.ts';
import { agentRoutes } from './agent.ts';
import { BlockingReads } from './blocking.ts';
import { catalogRoutes } from './catalog.ts';
import { ConsulContext } from './context.ts';
import { ConsulError, decodeFailed, installConsulErrors } from './errors.ts';
import { InstanceIds } from './ids.ts';
import { ConsulIndexes } from './indexes.ts';
import { LeaderContact } from './leader.ts';
import { ConsulNode } from './node.ts';

export interface ConsulOptions extends ConsulAccessOptions {
  registry: Registry;
  watches: WatchHub;
  nodeName: string;
  datacenter: string;
  /** The HTTP listener's host, the node's address unless it is a wildcard. */
  httpHost: string;
}

/** Consul's API roots (`/v1/<root>/…`). */
const CONSUL_ROOTS = new Set([
  'acl', 'agent', 'catalog', 'config', 'connect', 'coordinate', 'discovery-chain', 'event', 'exported-services',
  'health', 'imported-services', 'internal', 'kv', 'namespace', 'namespaces', 'operator', 'partition', 'partitions',
  'peering', 'peerings', 'query', 'session', 'snapshot', 'status', 'txn',
]);

export async function consulRoutes(app: FastifyInstance, options: ConsulOptions) {
  const { registry, watches } = options;
  const indexes = new ConsulIndexes(registry, watches);
  const ids = new InstanceIds(registry);
  const node = new ConsulNode({ name: options.nodeName, datacenter: options.datacenter, httpHost: options.httpHost, index: indexes.fixed });
  const leader = new LeaderContact(registry);
  const context = new ConsulContext({ registry, node, ids, access: new ConsulAccess(options), reads: new BlockingReads(watches, indexes, leader) });
  app.addHook('onClose', async () => {
    indexes.close();
    ids.close();
    leader.close();
  });

  installConsulErrors(app);
  // Response serialisers are compiled on a route's first answer, not at start-up: compiled eagerly,
  // the Consul routes' would add ~100 ms to every start of a server (most never asked one Consul call).
  const compileSerializer = SerializerSelector()({}, {});
  app.setSerializerCompiler((route) => {
    let serialize: ((data: unknown) => string) | undefined;
    return (data) => (serialize ??= compileSerializer({ ...route, httpStatus: route.httpStatus ?? '200' }) as (data: unknown) => string)(data);
  });
  // Consul reads every body as JSON whatever its content type says (Go clients often send none).
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (error) {
      done(decodeFailed((error as Error).message), undefined);
    }
  });
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return;
    const query = request.query as { dc?: string; filter?: string };
    if (query.dc && query.dc !== node.datacenter) throw new ConsulError(500, 'No path to datacenter');
    if (query.filter) throw new ConsulError(400, 'Invalid value for ?filter: filter expressions are not supported by Signpost');
    context.access.checkRead(request);
  });

  await app.register(agentRoutes, context);
  await app.register(catalogRoutes, context);
}

/**
 * The 404 message for a path under one of Consul's API roots that no route serves: the call is
 * outside the subset (never a silent 200). Undefined for other paths, which keep the native 404.
 */
export function unsupportedConsulCall(method: string, url: string): string | undefined {
  const path = url.split('?', 1)[0];
  const root = /^\/v1\/([a-z-]+)(?:\/|$)/.exec(path)?.[1];
  if (root === undefined || !CONSUL_ROOTS.has(root)) return undefined;
  return `${method} ${path} is not supported: Signpost serves the service-discovery subset of Consul's HTTP API (see its README)`;
}
