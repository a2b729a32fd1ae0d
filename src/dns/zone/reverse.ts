// The reverse (PTR) index: `4.3.2.1.in-addr.arpa` → the instances DNS answers with at 1.2.3.4.
//
// Kept up to date one service at a time: when a service changed, only its own contributions are
// taken out and put back (an instance whose records did not change is the same object, and is
// left where it is), so a registration or an expiry costs the index O(its service), never
// O(every instance). PTR records themselves are built on the first question for an address after
// its instances changed, so the index holds no bytes per instance beyond its key.
import { TYPE } from '../wire/constants.ts';
import { answerFragment, reverseName } from '../wire/encode.ts';
import { encodeName } from '../wire/names.ts';
import { FoldedTable } from './folded-table.ts';
import { targetName, type InstanceRecords, type ServiceRecords } from './records.ts';

interface Entry {
  /** The reverse name, lower-case wire bytes. */
  key: Buffer;
  members: Set<InstanceRecords>;
  /** PTR answers (owner = question) of every member; null until asked for after a change. */
  answers: Buffer[] | null;
}

export class ReverseIndex {
  readonly #ttl: number;
  readonly #table = new FoldedTable<Entry>();
  /** What each service put in, by record, with the entry it went into. */
  readonly #byService = new Map<string, Map<InstanceRecords, Entry>>();
  /**
   * Instances looked at by `update` since start: what a registration or an expiry costs the index.
   * A test reads it to catch a change that costs O(every instance) again.
   */
  work = 0;

  constructor(ttl: number) {
    this.#ttl = ttl;
  }

  /** Number of distinct reverse names held. */
  get size(): number {
    return this.#table.size;
  }

  /** Brings `service`'s contributions in line with its records now (null: it has none DNS answers with). */
  update(service: string, records: ServiceRecords | null): void {
    const before = this.#byService.get(service);
    const after = new Map<InstanceRecords, Entry>();
    if (records) {
      for (const record of records.byId.values()) {
        this.work++;
        after.set(record, before?.get(record) ?? this.#add(record));
      }
    }
    if (before) {
      for (const [record, entry] of before) {
        this.work++;
        if (!after.has(record)) this.#remove(record, entry);
      }
    }
    if (after.size > 0) this.#byService.set(service, after);
    else this.#byService.delete(service);
  }

  /** PTR answers for the reverse name at `buf[start, end)` (plain labels, any case); undefined when none. */
  find(buf: Uint8Array, start: number, end: number): readonly Buffer[] | undefined {
    const entry = this.#table.find(buf, start, end);
    if (!entry) return undefined;
    entry.answers ??= [...entry.members].map((record) => answerFragment(TYPE.PTR, this.#ttl, targetName(record)));
    return entry.answers;
  }

  #add(record: InstanceRecords): Entry {
    const key = encodeName(reverseName(record.instance.address));
    let entry = this.#table.get(key);
    if (!entry) this.#table.set(key, (entry = { key, members: new Set(), answers: null }));
    entry.members.add(record);
    entry.answers = null;
    return entry;
  }

  #remove(record: InstanceRecords, entry: Entry): void {
    entry.members.delete(record);
    entry.answers = null;
    if (entry.members.size === 0) this.#table.delete(entry.key);
  }
}
