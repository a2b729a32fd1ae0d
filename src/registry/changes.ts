// The registry's change index and its subscribers.
import type { RegistryEvent } from './types.ts';

/**
 * With a store shared by several nodes, a change's index is the store revision that made it times
 * this: every node gives the same change the same index, and the room between two revisions takes
 * the changes only one node sees (its own active checks' results) without catching up with the next.
 */
export const INDEXES_PER_REVISION = 65536;

/** The index of a change a shared store made at `revision`. */
export function revisionIndex(revision: number): number {
  return revision * INDEXES_PER_REVISION;
}

/**
 * Every visible change takes the next value of one index, so watchers can ask "anything after N?".
 * Alone, the index starts at the start time in microseconds, so it keeps growing across restarts.
 * With a shared store it follows the store's revisions (`atRevision`), which also only grow.
 * `changed` listeners hear of every change a consumer of a service could see (weights too);
 * `event` listeners get the events (with an index) that logs and watches show.
 */
export class ChangeFeed {
  #index: number;
  /** The least index the next change takes: set while a change made at a store revision is applied. */
  #floor = 0;
  /** Index of the last visible change per service; kept after a service is gone, so indexes never go back. */
  readonly #serviceIndex = new Map<string, number>();
  readonly #eventListeners = new Set<(event: RegistryEvent) => void>();
  readonly #changeListeners = new Set<(service: string, instanceId?: string) => void>();

  constructor(start = Date.now() * 1000) {
    this.#index = start;
  }

  get index(): number {
    return this.#index;
  }

  /** Applies a change a shared store made at `revision`: its index is at least revisionIndex(revision). */
  atRevision<T>(revision: number | undefined, apply: () => T): T {
    if (revision === undefined) return apply();
    this.#floor = revisionIndex(revision);
    try {
      return apply();
    } finally {
      this.#floor = 0;
    }
  }

  /**
   * After a shared store's snapshot at `revision` was loaded: every service reads as changed at the
   * index just below the next revision's, at least as high as anything this node served before a
   * restart (its own changes since that revision included), and never above what the next change takes.
   */
  loadedAt(revision: number): void {
    this.#index = Math.max(this.#index, revisionIndex(revision + 1) - 1);
    this.#serviceIndex.clear();
  }

  /** The index of the last visible change to `service` (or the current index if it never changed). */
  serviceIndex(service: string): number {
    return this.#serviceIndex.get(service) ?? this.#index;
  }

  /** Takes the next index for a visible change to `service`. */
  bump(service: string): number {
    this.#index = Math.max(this.#index + 1, this.#floor);
    this.#serviceIndex.set(service, this.#index);
    return this.#index;
  }

  emit(event: RegistryEvent): void {
    for (const listener of this.#eventListeners) listener(event);
  }

  changed(service: string, instanceId?: string): void {
    for (const listener of this.#changeListeners) listener(service, instanceId);
  }

  onEvent(listener: (event: RegistryEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  onChange(listener: (service: string, instanceId?: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }
}
