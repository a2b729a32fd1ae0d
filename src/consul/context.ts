// What the Consul routes share: the registry, the node, tokens, blocking reads, the ID lookup.
import type { Registry } from '../registry/registry.ts';
import type { Instance } from '../registry/types.ts';
import type { ConsulAccess } from './access.ts';
import type { BlockingReads } from './blocking.ts';
import { ConsulError } from './errors.ts';
import type { InstanceIds } from './ids.ts';
import type { ConsulNode } from './node.ts';

export class ConsulContext {
  readonly registry: Registry;
  readonly node: ConsulNode;
  readonly access: ConsulAccess;
  readonly reads: BlockingReads;
  readonly ids: InstanceIds;

  constructor(parts: { registry: Registry; node: ConsulNode; access: ConsulAccess; reads: BlockingReads; ids: InstanceIds }) {
    this.registry = parts.registry;
    this.node = parts.node;
    this.access = parts.access;
    this.reads = parts.reads;
    this.ids = parts.ids;
  }

  /** The one instance a Consul service ID names; Consul's 404 when none. */
  serviceById(id: string): Instance {
    const found = this.ids.find(id.toLowerCase());
    if (found.length === 0) throw unknownService(id);
    if (found.length > 1) {
      const services = found.map((instance) => instance.service).join(', ');
      throw new ConsulError(409, `Service ID "${id}" is registered under several services (${services}); the Consul API names instances by ID alone, so use the native API for these`);
    }
    return found[0];
  }
}

export function unknownService(id: string): ConsulError {
  return new ConsulError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
}
