// signpost/grpc: the `signpost:` name resolver for @grpc/grpc-js (a peer dependency), registered on import.
import { registerSignpostResolver } from './resolver.ts';

export { registerSignpostResolver, TOKEN_OPTION, URL_OPTION, type SignpostResolverOptions } from './resolver.ts';

registerSignpostResolver();
