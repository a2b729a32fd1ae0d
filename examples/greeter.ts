// The greeter's gRPC service, shared by greeter-server.ts and greeter-client.ts. Messages are JSON
// (no .proto file to compile): { name } in, { message, from } out.
import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';

export interface HelloRequest {
  name: string;
}

export interface HelloReply {
  message: string;
  /** The instance that answered. */
  from: string;
}

const serialize = (value: unknown) => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer) => JSON.parse(bytes.toString('utf8'));

export const greeterService = {
  sayHello: {
    path: '/greeter.Greeter/SayHello',
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize as (bytes: Buffer) => HelloRequest,
    responseSerialize: serialize,
    responseDeserialize: deserialize as (bytes: Buffer) => HelloReply,
  },
} satisfies ServiceDefinition;

export const GreeterClient = makeGenericClientConstructor(greeterService, 'Greeter');
