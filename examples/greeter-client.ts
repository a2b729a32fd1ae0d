// Calls the greeter through the signpost: resolver (signpost/grpc), balancing round-robin over its
// healthy instances, which the resolver follows through Signpost's event stream.
//
//   npm run example:greeter-client      (COUNT, SIGNPOST_URL)
import { credentials } from '@grpc/grpc-js';
import '../src/grpc/index.ts'; // in an application: import 'signpost/grpc' (registers the signpost: scheme)
import { GreeterClient, type HelloReply } from './greeter.ts';

const count = Number(process.env.COUNT ?? 6);
// signpost:///greeter asks the Signpost of SIGNPOST_URL (else http://127.0.0.1:8500); signpost://HOST:PORT/greeter names one.
const greeter = new GreeterClient('signpost:///greeter', credentials.createInsecure(), {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  // A proxy in the environment (http_proxy) would otherwise replace the signpost: target before it is resolved.
  'grpc.enable_http_proxy': 0,
}) as unknown as { sayHello(request: { name: string }, done: (error: Error | null, reply: HelloReply) => void): void; close(): void };

let failures = 0;
for (let i = 1; i <= count; i++) {
  try {
    const reply = await new Promise<HelloReply>((resolve, reject) => greeter.sayHello({ name: `call ${i}` }, (error, value) => (error ? reject(error) : resolve(value))));
    console.log(`greeter-client #${i}: ${reply.message} (from ${reply.from})`);
  } catch (error) {
    failures++;
    console.log(`greeter-client #${i} failed: ${(error as Error).message}`);
  }
}
greeter.close();
process.exitCode = failures > 0 ? 1 : 0;
