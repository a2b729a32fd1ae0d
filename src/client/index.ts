// signpost/client: register with Signpost, keep alive, find instances, follow changes.
// Node 20 or newer, built-ins only (fetch, node:dns, node:http): nothing here imports the server.
export { SignpostClient } from './client.ts';
export { SignpostError, type SignpostErrorCode } from './errors.ts';
export { pickOrder, Picker } from './pick.ts';
export type { Registration } from './registration.ts';
export type { Watch, WatchOptions } from './watch.ts';
export type {
  ClientOptions,
  InstanceRecord,
  RegisterOptions,
  ReportedStatus,
  ServiceInstance,
  ServiceRecord,
  ServiceSummary,
  WatchEvent,
} from './types.ts';
