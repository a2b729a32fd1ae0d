import type { Registration } from '../registry/types.ts';
import type { Store } from './store.ts';

/** Keeps nothing across restarts. For tests and for `--store memory`. */
export class MemoryStore implements Store {
  readonly #rows = new Map<string, Registration>();

  async load(): Promise<Registration[]> {
    return [...this.#rows.values()];
  }

  async put(registration: Registration): Promise<void> {
    this.#rows.set(`${registration.service}/${registration.id}`, registration);
  }

  async delete(service: string, id: string): Promise<void> {
    this.#rows.delete(`${service}/${id}`);
  }

  async close(): Promise<void> {}
}
