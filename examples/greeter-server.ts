// A gRPC greeter that registers itself with Signpost (signpost/client), so that callers using the
// signpost: resolver find it. Several can run at once; Ctrl-C deregisters one before it stops.
//
//   npm run example:greeter-server      (PORT, NAME, SIGNPOST_URL)
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { SignpostClient } from '../src/client/index.ts'; // in an application: from 'signpost/client'
import { greeterService, type HelloReply, type HelloRequest } from './greeter.ts';

const server = new Server();
let name = process.env.NAME;
server.addService(greeterService, {
  sayHello: (call: { request: HelloRequest }, reply: (error: null, value: HelloReply) => void) => reply(null, { message: `hello ${call.request.name}`, from: name! }),
});
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
name ??= `greeter-${port}`;

const client = new SignpostClient(); // SIGNPOST_URL, else http://127.0.0.1:8500
client.on('error', (error: Error) => console.log(`greeter ${name}: ${error.message}`));
await client.register({ service: 'greeter', id: name, address: '127.0.0.1', port, ttl: 10 });
console.log(`greeter ${name} serving on 127.0.0.1:${port}, registered`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await client.close(); // deregisters: callers stop sending here first
    server.tryShutdown(() => console.log(`greeter ${name}: deregistered, stopped`));
  });
}
