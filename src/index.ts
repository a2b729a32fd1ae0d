// signpost: the server, to embed (tests, or an application that runs it in its own process).
// The client is signpost/client; the gRPC resolver signpost/grpc.
export { startSignpost, type Signpost, type StartOptions } from './server.ts';
export type { SignpostConfig } from './config/flags.ts';
export type { HostPort } from './config/parse.ts';
