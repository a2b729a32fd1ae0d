// The registry's change index and its subscribers.
import type { RegistryEvent } from './types.ts';

/**
 * Every visible change takes the next value of one index, so watchers can ask "anything after N?".
 * The index starts at the start time in microseconds, so it keeps growing across restarts.
 * `changed` listeners hear of every change a consumer of a service could see (weights too);
 * `event` listeners get the events (with an index) that logs and watches show.
 */
export class ChangeFeed {
  #index = Date.now() * 1000;
  /** Index of the last visible change per service; kept after a service is gone, so indexes never go back. */
  readonly #serviceIndex = new Map<string, number>();
  readonly #eventListeners = new Set<(event: RegistryEvent) => void>();
  readonly #changeListeners = new Set<(service: string) => void>();

  get index(): number {
    return this.#index;
  }

  /** The index of the last visible change to `service` (or the current index if it never changed). */
  serviceIndex(service: string): number {
    return this.#serviceIndex.get(service) ?? this.#index;
  }

  /** Takes the next index for a visible change to `service`. */
  bump(service: string): number {
    this.#index++;
    this.#serviceIndex.set(service, this.#index);
    return this.#index;
  }

  emit(event: RegistryEvent): void {
    for (const listener of this.#eventListeners) listener(event);
  }

  changed(service: string): void {
    for (const listener of this.#changeListeners) listener(service);
  }

  onEvent(listener: (event: RegistryEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  onChange(listener: (service: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }
}
