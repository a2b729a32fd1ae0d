// A tiny HTTP service that registers itself with Signpost. signpost/client keeps the registration
// alive (heartbeats about every ttl/3, a new registration if Signpost forgot it); Ctrl-C
// deregisters it before the process ends.
//
//   npm run example:provider            (PORT, SIGNPOST_URL, SERVICE, ID, WEIGHT, TTL)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignpostClient } from '../src/client/index.ts'; // in an application: from 'signpost/client'

const service = process.env.SERVICE ?? 'hello';
const server = createServer((request, response) => {
  if (request.method !== 'GET' || request.url !== '/') response.writeHead(404).end();
  else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service, id, port }));
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const id = process.env.ID ?? `${service}-${port}`;

const client = new SignpostClient(); // SIGNPOST_URL, else http://127.0.0.1:8500
client.on('error', (error: Error) => log(error.message)); // e.g. Signpost unreachable for a while: it keeps trying
client.on('reregister', () => log('Signpost had forgotten this instance: registered again'));
const registration = await client
  .register({ service, id, address: '127.0.0.1', port, ttl: Number(process.env.TTL ?? 10), ...(process.env.WEIGHT ? { weight: Number(process.env.WEIGHT) } : {}) })
  .catch((error: Error) => {
    log(error.message); // a bad ID, SERVICE or TTL names the field; no server: says which it tried
    process.exit(1);
  });
log(`listening on http://127.0.0.1:${port}, registered as ${registration.service}/${registration.id} (ttl ${registration.ttl} s)`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await client.close(); // deregisters
    server.close();
    server.closeAllConnections();
    log(`${signal}: deregistered, stopped`);
  });
}

function log(message: string): void {
  console.log(`${new Date().toISOString()} provider ${message}`);
}
