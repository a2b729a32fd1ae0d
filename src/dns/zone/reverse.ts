// The reverse (PTR) index: `4.3.2.1.in-addr.arpa` → the instances DNS answers with at 1.2.3.4.
//
// Kept up to date one service at a time: when a service changed, only its own contributions are
// taken out and put back (an instance whose records did not change is the same object, and is
// left where it is), so a registration or an expiry costs the index O(its service), never
// O(every instance); a large service, whose records the zone keeps live (live-records.ts), hands
// over the one instance that changed instead (`replace`), O(1). PTR records themselves are built on
// the first question for an address after its instances changed.
//
// Compact, since it can hold a million addresses: an IPv4 address is a number key (the question's
// name is read as the address it names, no string made), an IPv6 one its reverse name's bytes
// (folded-table.ts); an address's instances are a plain array (a few share an address at most,
// usually one).
import { TYPE } from '../wire/constants.ts';
import { answerFragment, reverseName } from '../wire/encode.ts';
import { encodeName, foldCase } from '../wire/names.ts';
import { FoldedTable } from './folded-table.ts';
import { targetName, type InstanceRecords, type ServiceRecords } from './records.ts';

interface Entry {
  members: InstanceRecords[];
  /** PTR answers (owner = question) of every member; null until asked for after a change. */
  answers: Buffer[] | null;
}

/** `in-addr` and `arpa` as labels, with their length bytes. */
const IN_ADDR_ARPA = Buffer.from('\x07in-addr\x04arpa\x00', 'latin1');

export class ReverseIndex {
  readonly #ttl: number;
  /** IPv4 addresses by their 32-bit value. */
  readonly #v4 = new Map<number, Entry>();
  /** IPv6 addresses by their reverse name (lower-case wire bytes). */
  readonly #v6 = new FoldedTable<Entry>();
  /** What each service put in, as it was last indexed. */
  readonly #byService = new Map<string, Set<InstanceRecords>>();
  /**
   * Instances looked at by `update` since start: what a registration or an expiry costs the index.
   * A test reads it to catch a change that costs O(every instance) again.
   */
  work = 0;

  constructor(ttl: number) {
    this.#ttl = ttl;
  }

  /** Number of distinct addresses held. */
  get size(): number {
    return this.#v4.size + this.#v6.size;
  }

  /** Brings `service`'s contributions in line with its records now (null: it has none DNS answers with). */
  update(service: string, records: ServiceRecords | null): void {
    const before = this.#byService.get(service) ?? new Set<InstanceRecords>();
    const after = new Set(records ? records.byId.values() : []);
    this.work += before.size + after.size;
    for (const record of before) if (!after.has(record)) this.#remove(record);
    for (const record of after) if (!before.has(record)) this.#add(record);
    if (after.size > 0) this.#byService.set(service, after);
    else this.#byService.delete(service);
  }

  /**
   * One instance of `service` changed (its records `removed`, now `added`; either may be absent), its
   * other instances did not: O(1), where `update` costs O(the service).
   */
  replace(service: string, removed: InstanceRecords | undefined, added: InstanceRecords | undefined): void {
    let members = this.#byService.get(service);
    if (removed && members?.delete(removed)) {
      this.work++;
      this.#remove(removed);
    }
    if (added) {
      if (!members) this.#byService.set(service, (members = new Set()));
      this.work++;
      members.add(added);
      this.#add(added);
    }
    if (members?.size === 0) this.#byService.delete(service);
  }

  /** PTR answers for the reverse name at `buf[start, end)` (plain labels, any case, ending with the root); undefined when none. */
  find(buf: Uint8Array, start: number, end: number): readonly Buffer[] | undefined {
    const v4 = ipv4Of(buf, start, end);
    const entry = v4 >= 0 ? this.#v4.get(v4) : this.#v6.find(buf, start, end);
    if (!entry) return undefined;
    entry.answers ??= entry.members.map((record) => answerFragment(TYPE.PTR, this.#ttl, targetName(record)));
    return entry.answers;
  }

  #entryOf(record: InstanceRecords): Entry | undefined {
    return record.family === 4 ? this.#v4.get(ipv4Value(record.instance.address)) : this.#v6.get(encodeName(reverseName(record.instance.address)));
  }

  #add(record: InstanceRecords): void {
    const entry = this.#entryOf(record);
    if (entry) {
      entry.members.push(record);
      entry.answers = null;
      return;
    }
    // An array literal of one: `[]` then push would reserve room for 17.
    const created: Entry = { members: [record], answers: null };
    if (record.family === 4) this.#v4.set(ipv4Value(record.instance.address), created);
    else this.#v6.set(encodeName(reverseName(record.instance.address)), created);
  }

  #remove(record: InstanceRecords): void {
    const entry = this.#entryOf(record);
    if (!entry) return;
    // O(instances at this address): a handful at most in any real fleet.
    const at = entry.members.indexOf(record);
    if (at < 0) return;
    entry.members[at] = entry.members[entry.members.length - 1];
    entry.members.pop();
    entry.answers = null;
    if (entry.members.length > 0) return;
    if (record.family === 4) this.#v4.delete(ipv4Value(record.instance.address));
    else this.#v6.delete(encodeName(reverseName(record.instance.address)));
  }
}

/** `a.b.c.d` as the number a·2²⁴ + b·2¹⁶ + c·2⁸ + d. */
function ipv4Value(address: string): number {
  let value = 0;
  for (const part of address.split('.')) value = value * 256 + Number(part);
  return value;
}

/**
 * The IPv4 address `d.c.b.a.in-addr.arpa` in `buf[start, end)` names, as ipv4Value gives it; -1
 * when the name is not exactly that (four decimal labels 0-255 without leading zeros, as the
 * reverse name of an address is written, then in-addr.arpa in any case).
 */
function ipv4Of(buf: Uint8Array, start: number, end: number): number {
  let at = start;
  let value = 0;
  for (let label = 0; label < 4; label++) {
    const length = buf[at];
    if (length < 1 || length > 3 || at + 1 + length > end) return -1;
    if (length > 1 && buf[at + 1] === 0x30) return -1;
    let octet = 0;
    for (let i = at + 1; i <= at + length; i++) {
      const digit = buf[i] - 0x30;
      if (digit < 0 || digit > 9) return -1;
      octet = octet * 10 + digit;
    }
    if (octet > 255) return -1;
    // The first label is the last octet.
    value += octet * 256 ** label;
    at += 1 + length;
  }
  if (end - at !== IN_ADDR_ARPA.length) return -1;
  for (let i = 0; i < IN_ADDR_ARPA.length; i++) {
    if (foldCase(buf[at + i]) !== IN_ADDR_ARPA[i]) return -1;
  }
  return value;
}
