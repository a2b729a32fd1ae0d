import type { Answerable } from './types.ts';

/** One priority tier of a service's DNS answers: who is in it, and each one's share of being listed first. */
export interface TrafficTier {
  priority: number;
  instances: Array<{ id: string; weight: number; share: number }>;
}

/**
 * The traffic split DNS applies to `answerable` (the instances it answers with, weights as published):
 * tiers by priority, lowest (preferred) first; within a tier, the chance that an instance is listed
 * first, which is what a client that takes the first SRV target or address sends it. RFC 2782's
 * weighted order gives weight / the tier's total; weight 0 instances come after every weighted one,
 * so they are never first unless the whole tier has weight 0, and then evenly.
 */
export function trafficSplit(answerable: readonly Answerable[]): TrafficTier[] {
  const tiers = new Map<number, Answerable[]>();
  for (const entry of answerable) {
    const tier = tiers.get(entry.instance.priority);
    if (tier) tier.push(entry);
    else tiers.set(entry.instance.priority, [entry]);
  }
  return [...tiers]
    .sort(([a], [b]) => a - b)
    .map(([priority, entries]) => {
      const total = entries.reduce((sum, entry) => sum + entry.weight, 0);
      return {
        priority,
        instances: entries
          .map(({ instance, weight }) => ({ id: instance.id, weight, share: total > 0 ? weight / total : 1 / entries.length }))
          .sort((a, b) => b.share - a.share || a.id.localeCompare(b.id)),
      };
    });
}
