// What DNS answers with: the instances whose health it serves (or, with the protection threshold
// tripped, every one not in maintenance), each at the weight it publishes now (warm-up applied).
import { isServable, warmupWeight, type HealthPolicy } from './health.ts';
import { protectionOf } from './protection.ts';
import type { Answerable, HealthStatus, Instance, ServiceSettings } from './types.ts';

/** `statusOf`: each instance's status as of `now` (a lease past its deadline counts as lapsed). */
export function answerableOf(instances: Iterable<Instance>, settings: ServiceSettings, policy: HealthPolicy, now: number, statusOf?: (instance: Instance) => HealthStatus): Answerable[] {
  const { candidates, servable, tripped } = protectionOf(instances, settings.protectionThreshold, policy, statusOf);
  return (tripped ? candidates : servable).map((instance) => ({ instance, weight: warmupWeight(instance, settings.warmup, now) }));
}

/** One instance's entry in `answerableOf`, for a service whose protection threshold is not in play (it depends on no other). */
export function answerableAlone(instance: Instance, settings: ServiceSettings, policy: HealthPolicy, now: number): Answerable | undefined {
  return isServable(instance.status, policy) ? { instance, weight: warmupWeight(instance, settings.warmup, now) } : undefined;
}
