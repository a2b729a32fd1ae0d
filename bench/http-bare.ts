// The HTTP benchmarks' baseline: fastify with the registration and heartbeat routes doing nothing
// but answer 200 (the batch heartbeat route with one result per entry). Signpost's HTTP
// throughput is measured against it in the same run, so the ratio shows what Signpost's own work
// (validation, registry, durable store) costs on top of fastify.
//
// Run: node bench/http-bare.ts. Binds 127.0.0.1 on a free port and prints one JSON line
// {"msg":"bare ready","http":"127.0.0.1:PORT"}.
import Fastify from 'fastify';
import { defaults } from '../src/config/flags.ts';

const app = Fastify({ logger: false, bodyLimit: defaults('cli').httpMaxBody });
// The JSON body is parsed, as Signpost's is, and not looked at.
app.put('/v1/services/:service/instances/:id', async () => ({}));
app.put('/v1/services/:service/instances/:id/heartbeat', async () => ({}));
// The batch route answers one result per entry, as Signpost's does, so that parsing the body and
// serialising the answer (which grow with the batch) are in the baseline too.
const expiresAt = new Date(0).toISOString();
app.put<{ Body: { instances: Array<{ service: string; id: string }> } }>('/v1/heartbeats', { bodyLimit: 4 * 1024 * 1024 }, async (request) => ({
  results: request.body.instances.map(({ service, id }) => ({ service, id, status: 'passing', expiresAt })),
}));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
console.log(JSON.stringify({ msg: 'bare ready', http: `127.0.0.1:${port}` }));
