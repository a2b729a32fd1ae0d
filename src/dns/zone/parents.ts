// The labels L for which `_L.service.<domain>` exists as an empty non-terminal: `tcp` and `udp`
// while any service has an instance to answer with, and every tag such an instance carries.
//
// Counted per label over services and kept up to date one service at a time, as the reverse
// index is: a change to one service costs O(its tags), never a walk over every service (and for a
// large service with live records, nothing unless one of its tags came or went).
import type { ServiceRecords } from './records.ts';

const PROTOCOLS = ['tcp', 'udp'];

export class UnderscoreParents {
  /** How many services give each label. */
  readonly #counts = new Map<string, number>();
  /** The labels each service gives. */
  readonly #byService = new Map<string, readonly string[]>();
  /** Labels counted in and out by `update` since start (a test reads it, as ReverseIndex.work). */
  work = 0;

  has(label: string): boolean {
    return this.#counts.has(label);
  }

  update(service: string, records: ServiceRecords | null): void {
    const before = this.#byService.get(service) ?? [];
    const after = records ? [...PROTOCOLS, ...records.byTag.keys()] : [];
    for (const label of before) {
      this.work++;
      const count = this.#counts.get(label)! - 1;
      if (count === 0) this.#counts.delete(label);
      else this.#counts.set(label, count);
    }
    for (const label of after) {
      this.work++;
      this.#counts.set(label, (this.#counts.get(label) ?? 0) + 1);
    }
    if (after.length > 0) this.#byService.set(service, after);
    else this.#byService.delete(service);
  }
}
