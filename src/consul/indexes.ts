// The X-Consul-Index of each kind of answer: the registry index of the last change that answer
// depends on, so a blocking query wakes for nothing else.
import type { Registry } from '../registry/registry.ts';
import type { WatchEvent, WatchHub } from '../watch/hub.ts';

/** What an answer is made of, and so which events may change it. */
export type AnswerKind =
  /** `/v1/catalog/services`: service names and their tags. */
  | 'services'
  /** `/v1/catalog/service/:name`, `/v1/agent/service/:id`: a service's instances, not their health. */
  | 'catalog'
  /** `/v1/health/service/:name`, `/v1/health/checks/:name`: instances and their health. */
  | 'health'
  /** `/v1/agent/services`, `/v1/agent/checks`: every instance and its health. */
  | 'agent'
  /** The node, the datacenter, the leader: nothing that changes while the server runs. */
  | 'fixed';

/**
 * Follows registry events (through the watch hub, subscribed before any blocking query, so the
 * indexes are up to date when a query's condition runs). Per-service indexes are kept after a
 * service is gone, so they never go back; a service never seen answers with its registry index.
 */
export class ConsulIndexes {
  readonly #registry: Registry;
  /** When the Consul routes started: the index of what never changes. */
  readonly fixed: number;
  #agent: number;
  #services: number;
  readonly #catalog = new Map<string, number>();
  readonly #health = new Map<string, number>();
  /** Each service's tag union as last answered; built when `/v1/catalog/services` is first asked. */
  #tags: Map<string, string | undefined> | undefined;
  readonly #unsubscribe: () => void;

  constructor(registry: Registry, watches: WatchHub) {
    this.#registry = registry;
    this.fixed = Math.max(1, registry.index);
    this.#agent = this.fixed;
    this.#services = this.fixed;
    this.#unsubscribe = watches.subscribe((event) => this.#follow(event));
  }

  /** The current index of an answer of `kind` (about `service` where it is about one). */
  of(kind: AnswerKind, service = ''): number {
    switch (kind) {
      case 'services':
        this.#tags ??= new Map([...this.#registry.serviceNames()].map((name) => [name, this.#tagUnion(name)]));
        return this.#services;
      case 'catalog':
        return this.#catalog.get(service) ?? this.#registry.serviceIndex(service);
      case 'health':
        return this.#health.get(service) ?? this.#registry.serviceIndex(service);
      case 'agent':
        return this.#agent;
      case 'fixed':
        return this.fixed;
    }
  }

  /** Whether `event` may change an answer of `kind` about `service`. */
  static concerns(event: WatchEvent, kind: AnswerKind, service: string): boolean {
    if (event.type === 'settings' || kind === 'fixed') return false;
    if (kind === 'agent' || kind === 'services') return true;
    if (event.service !== service) return false;
    return kind === 'health' || event.type !== 'health';
  }

  close(): void {
    this.#unsubscribe();
  }

  #follow(event: WatchEvent): void {
    if (event.type === 'settings') return;
    this.#agent = event.id;
    this.#health.set(event.service, event.id);
    if (event.type === 'health') return;
    this.#catalog.set(event.service, event.id);
    if (!this.#tags) {
      this.#services = event.id;
      return;
    }
    const union = this.#tagUnion(event.service);
    if (this.#tags.get(event.service) === union) return;
    if (union === undefined) this.#tags.delete(event.service);
    else this.#tags.set(event.service, union);
    this.#services = event.id;
  }

  /** The sorted union of a service's tags as JSON, undefined when it has no instance. */
  #tagUnion(service: string): string | undefined {
    const instances = this.#registry.instances(service);
    if (!instances) return undefined;
    return JSON.stringify([...new Set(instances.flatMap((instance) => instance.tags))].sort());
  }
}
