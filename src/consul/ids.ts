// Consul names an instance by its service ID alone; Signpost by service and ID. This finds the
// services an ID is registered under.
import type { Registry } from '../registry/registry.ts';
import type { Instance } from '../registry/types.ts';

/**
 * Built on first use (a server nobody asks through the Consul API pays nothing), then kept up to
 * date from registry events. An ID is under one service unless registered natively under several.
 */
export class InstanceIds {
  readonly #registry: Registry;
  #byId: Map<string, string[]> | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** The instances registered with `id` (lower-cased), in service name order. */
  find(id: string): Instance[] {
    const byId = this.#index();
    const services = byId.get(id) ?? [];
    return services.map((service) => this.#registry.get(service, id)).filter((instance): instance is Instance => instance !== undefined);
  }

  close(): void {
    this.#unsubscribe?.();
  }

  #index(): Map<string, string[]> {
    if (this.#byId) return this.#byId;
    const byId = new Map<string, string[]>();
    const add = (id: string, service: string) => {
      const services = byId.get(id);
      if (!services) byId.set(id, [service]);
      else if (!services.includes(service)) byId.set(id, [...services, service].sort());
    };
    for (const instance of this.#registry.allInstances()) add(instance.id, instance.service);
    this.#unsubscribe = this.#registry.onEvent((event) => {
      if (event.type === 'register') add(event.instance.id, event.instance.service);
      else if (event.type === 'deregister') {
        const services = byId.get(event.instance.id)?.filter((service) => service !== event.instance.service) ?? [];
        if (services.length === 0) byId.delete(event.instance.id);
        else byId.set(event.instance.id, services);
      }
    });
    this.#byId = byId;
    return byId;
  }
}
