// The Consul HTTP API subset, as one fastify plugin beside the native routes.
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
import { ConsulNode } from './node.ts';

export interface ConsulOptions extends ConsulAccessOptions {
  registry: Registry;
  watches: WatchHub;
  nodeName: string;
  datacenter: string;
  /** The HTTP listener's host, the node's address unless it is a wildcard. */
  httpHost: string;
}

/**
 * Consul's API roots. Paths under them that no route serves get a 404 saying the call is outside
 * the subset (never a silent 200); paths under `/v1/` that are not Consul's keep the native 404.
 */
const CONSUL_ROOTS = [
  'acl', 'agent', 'catalog', 'config', 'connect', 'coordinate', 'discovery-chain', 'event', 'exported-services',
  'health', 'imported-services', 'internal', 'kv', 'namespace', 'namespaces', 'operator', 'partition', 'partitions',
  'peering', 'peerings', 'query', 'session', 'snapshot', 'status', 'txn',
];

export async function consulRoutes(app: FastifyInstance, options: ConsulOptions) {
  const { registry, watches } = options;
  const indexes = new ConsulIndexes(registry, watches);
  const ids = new InstanceIds(registry);
  const node = new ConsulNode({ name: options.nodeName, datacenter: options.datacenter, httpHost: options.httpHost, index: indexes.fixed });
  const context = new ConsulContext({ registry, node, ids, access: new ConsulAccess(options), reads: new BlockingReads(watches, indexes) });
  app.addHook('onClose', async () => {
    indexes.close();
    ids.close();
  });

  installConsulErrors(app);
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
  for (const root of CONSUL_ROOTS) {
    await app.register(
      async (scope) => {
        scope.setNotFoundHandler((request, reply) =>
          reply.code(404).send({
            statusCode: 404,
            error: 'Not Found',
            message: `${request.method} ${request.url.split('?', 1)[0]} is not supported: Signpost serves the service-discovery subset of Consul's HTTP API (see its README)`,
          }),
        );
      },
      { prefix: `/v1/${root}` },
    );
  }
}
