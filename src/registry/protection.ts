// A service's protection threshold (Nacos' avalanche protection): when too few of its instances are
// healthy, DNS serves every instance not in maintenance rather than send all traffic to the survivors.
import { isServable, type HealthPolicy } from './health.ts';
import type { HealthStatus, Instance } from './types.ts';

export interface Protection {
  /** Instances not in maintenance. */
  candidates: Instance[];
  /** Candidates whose health DNS serves. */
  servable: Instance[];
  /** The healthy share fell to or below the threshold: serve every candidate. */
  tripped: boolean;
  /** servable / candidates; 1 without candidates. */
  healthyShare: number;
}

/** `statusOf`: each instance's status as of the read (DNS counts a lease past its deadline as lapsed). */
export function protectionOf(instances: Iterable<Instance>, threshold: number, policy: HealthPolicy, statusOf: (instance: Instance) => HealthStatus = statusField): Protection {
  const candidates: Instance[] = [];
  const servable: Instance[] = [];
  for (const instance of instances) {
    const status = statusOf(instance);
    if (status === 'maintenance') continue;
    candidates.push(instance);
    if (isServable(status, policy)) servable.push(instance);
  }
  const healthyShare = candidates.length === 0 ? 1 : servable.length / candidates.length;
  const tripped = threshold > 0 && candidates.length > 0 && healthyShare <= threshold;
  return { candidates, servable, tripped, healthyShare };
}

const statusField = (instance: Instance) => instance.status;

/** Which services have tripped, and who wants to hear when one trips or clears. */
export class TrippedServices {
  readonly #tripped = new Set<string>();
  readonly #listeners = new Set<(service: string, tripped: boolean, healthyShare: number) => void>();

  get size(): number {
    return this.#tripped.size;
  }

  has(service: string): boolean {
    return this.#tripped.has(service);
  }

  /** Records the service's current state; listeners hear only of a transition. */
  update(service: string, tripped: boolean, healthyShare: number): void {
    if (tripped === this.#tripped.has(service)) return;
    if (tripped) this.#tripped.add(service);
    else this.#tripped.delete(service);
    for (const listener of this.#listeners) listener(service, tripped, healthyShare);
  }

  onChange(listener: (service: string, tripped: boolean, healthyShare: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
