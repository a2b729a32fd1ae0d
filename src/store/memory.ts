import type { Registration, ServiceSettings } from '../registry/types.ts';
import type { Store } from '../registry/store.ts';

/** Keeps nothing across restarts. For tests and for `--store memory`. */
export class MemoryStore implements Store {
  readonly #rows = new Map<string, Registration>();
  readonly #settings = new Map<string, ServiceSettings>();

  async load(): Promise<Registration[]> {
    return [...this.#rows.values()];
  }

  async put(registration: Registration): Promise<void> {
    this.#rows.set(`${registration.service}/${registration.id}`, registration);
  }

  async delete(service: string, id: string): Promise<void> {
    this.#rows.delete(`${service}/${id}`);
  }

  async loadSettings(): Promise<Map<string, ServiceSettings>> {
    return new Map(this.#settings);
  }

  async putSettings(service: string, settings: ServiceSettings): Promise<void> {
    this.#settings.set(service, settings);
  }

  async close(): Promise<void> {}
}
