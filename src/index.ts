// signpost: the server, to embed (tests, or an application that runs it in its own process).
// The client is signpost/client; the gRPC resolver signpost/grpc. The server is loaded only after
// checking this Node can run it: on an older one its modules would not even link, and the error
// would not say why.
import { serverNodeProblem } from './lib/node-version.ts';

const tooOld = serverNodeProblem();
if (tooOld !== null) throw new Error(tooOld);

export const { startSignpost } = await import('./server.ts');
export type { Signpost, StartOptions } from './server.ts';
export type { SignpostConfig } from './config/flags.ts';
export type { HostPort } from './config/parse.ts';
