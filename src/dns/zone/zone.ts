// The DNS side's read-only view of the registry: the records of `<domain>.`, built lazily per
// service on the first query after that service changed, and dropped on every change; except a
// large service's, which are kept up to date one instance at a time (live-records.ts).
import { isIP } from 'node:net';
import type { Answerable, RegistryView } from '../../registry/types.ts';
import { Deadlines } from './deadlines.ts';
import { PreparedAnswers } from './prepared.ts';
import { UnderscoreParents } from './parents.ts';
import { RECORD_SETS } from '../../config/limits.ts';
import { LiveServiceRecords } from './live-records.ts';
import { buildServiceRecords, type ServiceRecords } from './records.ts';
import { ReverseIndex } from './reverse.ts';
import { TYPE } from '../wire/constants.ts';
import { addressRdata, answerFragment, recordTail, soaRdata } from '../wire/encode.ts';
import { encodeName, equalsFolded, hashFolded } from '../wire/names.ts';

export interface ZoneOptions {
  domain: string;
  /** Seconds; positive answers and the SOA minimum (negative caching, RFC 2308). */
  ttl: number;
  /** The address the DNS server listens on, published as `ns.<domain>` when it is a concrete address. */
  nameServerAddress?: string;
}

interface ServiceSlot {
  name: string;
  /** The name's bytes (lower case), compared against the question's label. */
  bytes: Buffer;
  hash: number;
  /** Built records; null when none is answerable; undefined until built (again) after a change. */
  records: ServiceRecords | null | undefined;
  /** The records before the last change, whose unchanged instances the rebuild reuses (live ones: brought up to date). */
  stale: ServiceRecords | null;
  /** When `records` were built (epoch ms), and the first lease deadline after that: they hold until then. */
  builtAt: number;
  validUntil: number;
  /** The time this slot waits for in `Zone.#deadlines` (Infinity: none): a rebuild with the same deadline adds no second entry. */
  queuedAt: number;
  /** The next slot in the same bucket of `Zone.#buckets`. */
  next: ServiceSlot | undefined;
}

/** Buckets of the service hash table at first; a power of two. */
const INITIAL_BUCKETS = 64;

/** SOA timers for secondaries; Signpost has none, so these are conventional values. */
const SOA_REFRESH = 3600;
const SOA_RETRY = 600;
const SOA_EXPIRE = 86400;

export class Zone {
  readonly domain: string;
  readonly ttl: number;
  /** The zone's labels, lower case, for the in-zone suffix check. */
  readonly apexLabels: Buffer[];
  /** NS answer (owner = question) and the glue for `ns.<domain>`, if the listener has a concrete address. */
  readonly nsAnswer: Buffer;
  readonly nsGlue: { family: 4 | 6; answer: Buffer; tail: Buffer; target: Buffer } | null;
  /** Answers already given, ready to copy again until their service changes (prepared.ts). */
  readonly prepared = new PreparedAnswers();
  /**
   * Instances the zone has built services' records from since start: a change costs the next
   * query O(its service) here, or O(1) for a large service changed one instance at a time. A test
   * reads it to catch a change that costs O(every instance), or O(its service) for a large one.
   */
  recordsBuilt = 0;
  readonly #view: RegistryView;
  /**
   * A slot per registered service, by name and by the hash of their name's bytes, made when the
   * service is first seen (at start or on its first change), so that a name found in neither is
   * not a service, and an unknown name costs a query no string and no registry lookup.
   */
  readonly #services = new Map<string, ServiceSlot>();
  /**
   * The same slots by the hash of their name: an array of chains (slot.next) indexed by the hash's
   * low bits, doubled whenever there are more slots than buckets. This runs per query, where an
   * array load is cheaper than a Map lookup (a builtin call, ~1% of a loaded server's profile).
   */
  #buckets: Array<ServiceSlot | undefined> = new Array<ServiceSlot | undefined>(INITIAL_BUCKETS).fill(undefined);
  /**
   * The labels `L` for which `_L.service.<domain>` exist as empty non-terminals, and the PTR answers
   * of every address: indexes over every service, each brought up to date on its first use after a
   * change by re-indexing only the services changed since (`#pendingParents`, `#pendingReverse`).
   */
  readonly underscoreParents = new UnderscoreParents();
  readonly reverseIndex: ReverseIndex;
  /**
   * Built services by `validUntil`. A lapse is handed out after its deadline (late, in a storm of
   * thousands), so the zone does not wait for the change it brings: the first query at or past a
   * deadline re-reads that service, and a lapsed instance is out of the answer from its deadline on.
   */
  readonly #deadlines = new Deadlines<ServiceSlot>();
  readonly #pendingParents = new Set<string>();
  readonly #pendingReverse = new Set<string>();
  readonly #mname: Buffer;
  readonly #rname: Buffer;
  #serial = Math.floor(Date.now() / 1000);
  /** Built on first use after a change: a storm of changes builds it once, not once per change. */
  #soaTail: Buffer | null = null;

  constructor(view: RegistryView, options: ZoneOptions) {
    this.#view = view;
    this.domain = options.domain;
    this.ttl = options.ttl;
    this.apexLabels = options.domain.split('.').map((label) => Buffer.from(label, 'ascii'));
    this.#mname = encodeName(`ns.${options.domain}`);
    this.#rname = encodeName(`hostmaster.${options.domain}`);
    this.nsAnswer = answerFragment(TYPE.NS, this.ttl, this.#mname);
    const address = options.nameServerAddress;
    if (address && isIP(address) && address !== '0.0.0.0' && address !== '::') {
      const { type, rdata } = addressRdata(address);
      this.nsGlue = {
        family: type === TYPE.A ? 4 : 6,
        answer: answerFragment(type, this.ttl, rdata),
        tail: recordTail(type, this.ttl, rdata),
        target: this.#mname,
      };
    } else {
      this.nsGlue = null;
    }
    this.reverseIndex = new ReverseIndex(this.ttl);
    for (const service of view.serviceNames()) {
      this.#addSlot(service);
      this.#pendingParents.add(service);
      this.#pendingReverse.add(service);
    }
    view.onChange((service, instanceId) => this.#changed(service, instanceId));
  }

  /** SOA record without owner name; the serial moves with every change, so secondaries and caches can tell. */
  get soaTail(): Buffer {
    return (this.#soaTail ??= this.#buildSoaTail());
  }

  /** The records of a service's answerable instances, or null when it has none (the name does not exist). */
  service(name: string): ServiceRecords | null {
    this.passDeadlines();
    const slot = this.#services.get(name);
    if (!slot) return null;
    if (slot.records === undefined) {
      const now = Date.now();
      const answerable = this.#view.answerable(name, now);
      if (!answerable) {
        this.#dropSlot(slot);
        return null;
      }
      this.recordsBuilt += answerable.length;
      slot.records = this.#build(name, answerable, slot.stale);
      slot.stale = null;
      slot.builtAt = now;
      this.#holdUntil(slot, this.#view.nextLeaseDeadline(name, now));
    }
    return slot.records;
  }

  /**
   * Records of `answerable` (every instance DNS answers with now): a large service's kept live (the
   * live records it had brought up to date, O(n) reads but only changed instances encoded), a
   * smaller one's built, reusing the fragments of `stale`'s unchanged instances.
   */
  #build(name: string, answerable: readonly Answerable[], stale: ServiceRecords | null): ServiceRecords | null {
    if (stale instanceof LiveServiceRecords && answerable.length >= RECORD_SETS.liveBelow && !stale.fragmented) {
      stale.sync(answerable);
      if (!stale.needsRebuild) return stale;
    }
    if (answerable.length >= RECORD_SETS.liveFrom) return new LiveServiceRecords(name, answerable, this.domain, this.ttl);
    return buildServiceRecords(answerable, this.domain, this.ttl, stale);
  }

  /**
   * Brings the zone to the present: the services a lease deadline has passed in since their records
   * were built are dropped (rebuilt on their next query, without what lapsed), or, when no lease
   * of theirs lapsed after all (renewed meanwhile), kept until their next deadline. Every query calls
   * this first; without a deadline due it costs a clock read.
   */
  passDeadlines(now = Date.now()): void {
    const deadlines = this.#deadlines;
    while (deadlines.next <= now) {
      const at = deadlines.next;
      const slot = deadlines.pop();
      if (slot.queuedAt === at) slot.queuedAt = Infinity;
      // Rebuilt, dropped or re-dated since this was pushed.
      if (slot.validUntil !== at || slot.records === undefined || this.#services.get(slot.name) !== slot) continue;
      const next = this.#view.nextLeaseDeadline(slot.name, slot.builtAt);
      if (next <= now) this.#changed(slot.name, undefined);
      else this.#holdUntil(slot, next);
    }
  }

  #holdUntil(slot: ServiceSlot, validUntil: number): void {
    slot.validUntil = validUntil;
    if (validUntil === Infinity || validUntil === slot.queuedAt) return;
    this.#deadlines.push(validUntil, slot);
    slot.queuedAt = validUntil;
  }

  /**
   * `service()` for the name in `buf[start, end)`, matched without regard to ASCII case, found by
   * hashing the bytes: no string is made on the query path.
   */
  serviceAt(buf: Buffer, start: number, end: number): ServiceRecords | null {
    const hash = hashFolded(buf, start, end);
    for (let slot = this.#buckets[hash & (this.#buckets.length - 1)]; slot; slot = slot.next) {
      if (slot.hash === hash && slot.bytes.length === end - start && equalsFolded(buf, start, slot.bytes)) {
        return slot.records !== undefined ? slot.records : this.service(slot.name);
      }
    }
    return null;
  }

  /**
   * PTR answers for the reverse name at `buf[start, end)` (`4.3.2.1.in-addr.arpa` as plain labels,
   * any letter case), or undefined when no instance DNS answers with has that address.
   */
  reverse(buf: Buffer, start: number, end: number): readonly Buffer[] | undefined {
    if (this.#pendingReverse.size > 0) this.#catchUp(this.#pendingReverse, this.reverseIndex);
    return this.reverseIndex.find(buf, start, end);
  }

  /**
   * Does `_<label>.service.<domain>` exist, being the parent of an RFC 2782 name that does
   * (`_<service>._tcp`, `_<service>._udp`, `_<service>._<tag>`)? `label` is lower case, without `_`.
   */
  hasUnderscoreParent(label: string): boolean {
    if (this.#pendingParents.size > 0) this.#catchUp(this.#pendingParents, this.underscoreParents);
    return this.underscoreParents.has(label);
  }

  /** Re-indexes the services changed since `index` was last used, and only those. */
  #catchUp(pending: Set<string>, index: { update(service: string, records: ServiceRecords | null): void }): void {
    for (const name of pending) index.update(name, this.service(name));
    pending.clear();
  }

  #dropSlot(slot: ServiceSlot): void {
    this.#services.delete(slot.name);
    const bucket = slot.hash & (this.#buckets.length - 1);
    let head = this.#buckets[bucket];
    if (head === slot) {
      this.#buckets[bucket] = slot.next;
      return;
    }
    while (head && head.next !== slot) head = head.next;
    if (head) head.next = slot.next;
  }

  /** Puts a slot just added to #services into its bucket, doubling the buckets when slots outnumber them. */
  #link(slot: ServiceSlot): void {
    if (this.#services.size > this.#buckets.length) {
      this.#rehash(this.#buckets.length * 2);
      return;
    }
    const bucket = slot.hash & (this.#buckets.length - 1);
    slot.next = this.#buckets[bucket];
    this.#buckets[bucket] = slot;
  }

  #rehash(size: number): void {
    const buckets = new Array<ServiceSlot | undefined>(size).fill(undefined);
    for (const slot of this.#services.values()) {
      const bucket = slot.hash & (size - 1);
      slot.next = buckets[bucket];
      buckets[bucket] = slot;
    }
    this.#buckets = buckets;
  }

  #addSlot(name: string): void {
    const bytes = Buffer.from(name, 'latin1');
    const slot: ServiceSlot = { name, bytes, hash: hashFolded(bytes, 0, bytes.length), records: undefined, stale: null, builtAt: 0, validUntil: Infinity, queuedAt: Infinity, next: undefined };
    this.#services.set(name, slot);
    this.#link(slot);
  }

  /** `service` changed (only instance `instanceId`'s answers, when given): its records are dropped or brought up to date. */
  #changed(service: string, instanceId: string | undefined): void {
    this.prepared.forget(service);
    this.#serial = (this.#serial + 1) >>> 0;
    this.#soaTail = null;
    const slot = this.#services.get(service);
    if (slot && instanceId !== undefined && slot.records instanceof LiveServiceRecords && this.#view.hasService(service)) {
      if (this.#updateInPlace(slot, slot.records, instanceId)) return;
    }
    this.#invalidate(service, slot);
  }

  #invalidate(service: string, slot: ServiceSlot | undefined): void {
    if (!slot) {
      if (this.#view.hasService(service)) this.#addSlot(service);
    } else if (!this.#view.hasService(service)) {
      this.#dropSlot(slot);
    } else if (slot.records !== undefined) {
      slot.stale = slot.records;
      slot.records = undefined;
    }
    this.#pendingParents.add(service);
    this.#pendingReverse.add(service);
  }

  /**
   * One instance of a live service changed: its records, and its entries in the reverse index and
   * the `_tag` parents, are brought up to date now, O(its records + log n). False when the service
   * is to be rebuilt instead (too small for live records now, or its buffer mostly free).
   */
  #updateInPlace(slot: ServiceSlot, live: LiveServiceRecords, instanceId: string): boolean {
    let change;
    try {
      change = live.update(instanceId, this.#view.answerableInstance(slot.name, instanceId));
    } catch {
      // Half-applied: not to be reused. The next query builds the service afresh and meets the error
      // there, as it would have without live records; the registry's write does not.
      slot.records = undefined;
      slot.stale = null;
      return false;
    }
    if (change.added) this.recordsBuilt++;
    if (live.needsRebuild) return false;
    // Added or changed in place: its lease's deadline may come before the set's.
    const deadline = this.#view.leaseDeadline(slot.name, instanceId);
    if (deadline < slot.validUntil) this.#holdUntil(slot, deadline);
    // A service awaiting a full re-index gets it on next use; re-indexing it now would cost O(n).
    if (!this.#pendingReverse.has(slot.name)) this.reverseIndex.replace(slot.name, change.removed, change.added);
    if (change.tagsChanged) this.#pendingParents.add(slot.name);
    return true;
  }

  #buildSoaTail(): Buffer {
    const rdata = soaRdata(this.#mname, this.#rname, this.#serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, this.ttl);
    return recordTail(TYPE.SOA, this.ttl, rdata);
  }
}
