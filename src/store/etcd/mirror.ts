// What this node knows of the keys in etcd: the registrations and lease keys as last written or
// seen, and the revisions of its own writes. It turns what etcd reports (a snapshot, a watch event,
// a re-read after a compaction) into the changes the registry applies to memory.
import type { Buffer } from 'node:buffer';
import type { IKeyValue } from 'etcd3';
import type { RemoteChange } from '../../registry/store.ts';
import { isLeased } from '../../registry/health.ts';
import type { Registration, ReportedStatus, ServiceSettings } from '../../registry/types.ts';
import { splitName, type EtcdKeys } from './keys.ts';

export interface LeaseState {
  /** etcd lease id (decimal string) the lease key is bound to: its holder's lease for the ttl. */
  id: string;
  status: ReportedStatus;
  note: string;
  ttl: number;
  /** The node holding it (its --node-name), as the lease key says. */
  holder: string;
  /** Epoch ms a ttl after the lease key was written: the instance lives at least until then. */
  deadline: number;
  /** The lease key's mod revision: an expiry deletes it only if nobody wrote it since. */
  revision: number;
}

/** The value of a lease key. */
export interface LeaseValue {
  status: ReportedStatus;
  note: string;
  holder: string;
  deadline: number;
}

/** Own-write revisions are forgotten in bulk past this many (deletes of absent keys bring no event to clear them). */
const MAX_WRITTEN = 100_000;

export class EtcdMirror {
  /** Registrations as last written or seen, by `service/id`: decides what a put must write. */
  readonly registrations = new Map<string, Registration>();
  /** Lease keys as last written or seen, by `service/id`. */
  readonly leases = new Map<string, LeaseState>();
  readonly #keys: EtcdKeys;
  /** The revision of this node's last write to a key: watch events up to it are already applied. */
  readonly #written = new Map<string, number>();
  /** Values this node is putting, by key, until etcd answers: their echo may come back on the watch first. */
  readonly #sending = new Map<string, Buffer>();
  /** Such echoes, held until the answer says whether they are this node's write (then memory gets it from the writer). */
  readonly #echoes = new Map<string, IKeyValue>();
  /** Where changes go; set by `follow`. */
  apply: (change: RemoteChange) => void = () => {};
  /** Told of every lease key another node wrote (or etcd, or anyone, deleted: `undefined`). */
  leaseChanged: (name: string, lease: LeaseState | undefined) => void = () => {};
  /** Keys of the kinds this file does not read (active checks: check-results.ts), handed over as they come. */
  otherKey: (type: 'Put' | 'Delete', kv: IKeyValue) => RemoteChange | undefined = () => undefined;
  /** The last revision the watch delivered. */
  lastRevision = 0;

  constructor(keys: EtcdKeys) {
    this.#keys = keys;
  }

  /** Registrations and settings of a snapshot, remembering the registrations. */
  load(kvs: IKeyValue[]): { registrations: Registration[]; settings: Map<string, ServiceSettings> } {
    const registrations: Registration[] = [];
    const settings = new Map<string, ServiceSettings>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      const instance = this.#keys.nameOf(key, 'instances/');
      if (instance !== undefined) {
        const registration = JSON.parse(kv.value.toString()) as Registration;
        this.registrations.set(instance, registration);
        registrations.push(registration);
      }
      const service = this.#keys.nameOf(key, 'settings/');
      if (service !== undefined) settings.set(service, JSON.parse(kv.value.toString()) as ServiceSettings);
    }
    return { registrations, settings };
  }

  /** The lease state of a snapshot (read at `revision`): live lease keys, and heartbeat instances whose lease is gone. */
  applySnapshotLeases(kvs: IKeyValue[], revision: number): void {
    const live = new Set<string>();
    for (const kv of kvs) {
      const name = this.#keys.nameOf(kv.key.toString(), 'leases/');
      if (name === undefined) {
        this.#applyOther('Put', kv);
        continue;
      }
      live.add(name);
      this.#applyLeaseKey(name, kv);
    }
    for (const [name, registration] of this.registrations) {
      if (isLeased(registration) && !live.has(name)) this.apply({ kind: 'lease', service: registration.service, id: registration.id, status: 'expired', note: '', revision });
    }
  }

  /** A re-read of every key at `revision` (the watch's revision was compacted): applies the difference with what was known. */
  applyResync(kvs: IKeyValue[], revision: number): void {
    const seenInstances = new Set<string>();
    const seenLeases = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      const instance = this.#keys.nameOf(key, 'instances/');
      const lease = this.#keys.nameOf(key, 'leases/');
      if (instance !== undefined) seenInstances.add(instance);
      if (lease !== undefined) seenLeases.add(lease);
      this.applyEvent('Put', kv, true);
    }
    for (const [name, registration] of [...this.registrations]) {
      if (!seenInstances.has(name)) {
        this.registrations.delete(name);
        this.apply({ kind: 'delete', service: registration.service, id: registration.id, revision });
      } else if (isLeased(registration) && !seenLeases.has(name)) {
        this.leases.delete(name);
        this.leaseChanged(name, undefined);
        this.apply({ kind: 'lease', service: registration.service, id: registration.id, status: 'expired', note: '', revision });
      }
    }
  }

  /** One key as the watch (or a re-read, `resync`) reports it. This node's own writes are skipped unless re-reading. */
  applyEvent(type: 'Put' | 'Delete', kv: IKeyValue, resync = false): void {
    const key = kv.key.toString();
    const revision = Number(kv.mod_revision);
    const written = this.#written.get(key);
    if (written !== undefined && revision <= written) {
      // This node's own write (or an older one): memory already has it.
      if (revision === written) this.#written.delete(key);
      if (!resync) return;
    }
    // A held echo goes first, so that the changes to one key are applied in order.
    const echo = this.#echoes.get(key);
    if (echo !== undefined) {
      this.#echoes.delete(key);
      this.#applyKey('Put', echo, key, Number(echo.mod_revision));
    }
    if (!resync && type === 'Put' && this.#sending.get(key)?.equals(kv.value)) {
      // What this node is putting, back before etcd's answer: most likely its own write, which the
      // writer applies once answered. Parsing and applying it here would do that work twice.
      this.#echoes.set(key, kv);
      return;
    }
    this.#applyKey(type, kv, key, revision);
  }

  /** Notes that this node is about to put `value` at `key` (`sent` must follow, however the write ends). */
  sending(key: string, value: Buffer): void {
    this.#sending.set(key, value);
  }

  /**
   * etcd answered the put of `value` at `key`: committed at `revision` (then call `wrote` first), or
   * 0 (not written, or no answer). An echo held meanwhile up to `revision` was this write; any other
   * is a change like any other, applied now.
   */
  sent(key: string, value: Buffer, revision: number): void {
    if (this.#sending.get(key) === value) this.#sending.delete(key);
    const echo = this.#echoes.get(key);
    if (echo === undefined) return;
    this.#echoes.delete(key);
    const echoRevision = Number(echo.mod_revision);
    if (revision === 0 || echoRevision > revision) this.#applyKey('Put', echo, key, echoRevision);
    else if (echoRevision === this.#written.get(key)) this.#written.delete(key);
  }

  #applyKey(type: 'Put' | 'Delete', kv: IKeyValue, key: string, revision: number): void {
    const instance = this.#keys.nameOf(key, 'instances/');
    if (instance !== undefined) {
      const [service, id] = splitName(instance);
      if (type === 'Put') {
        const registration = JSON.parse(kv.value.toString()) as Registration;
        this.registrations.set(instance, registration);
        this.apply({ kind: 'put', registration, revision });
      } else {
        this.registrations.delete(instance);
        this.apply({ kind: 'delete', service, id, revision });
      }
      return;
    }
    const lease = this.#keys.nameOf(key, 'leases/');
    if (lease !== undefined) {
      if (type === 'Put') this.#applyLeaseKey(lease, kv);
      else {
        this.leases.delete(lease);
        this.leaseChanged(lease, undefined);
        const [service, id] = splitName(lease);
        this.apply({ kind: 'lease', service, id, status: 'expired', note: '', revision });
      }
      return;
    }
    const service = this.#keys.nameOf(key, 'settings/');
    if (service !== undefined && type === 'Put') this.apply({ kind: 'settings', service, settings: JSON.parse(kv.value.toString()) as ServiceSettings, revision });
    else if (service === undefined) this.#applyOther(type, kv);
  }

  #applyOther(type: 'Put' | 'Delete', kv: IKeyValue): void {
    const change = this.otherKey(type, kv);
    if (change) this.apply(change);
  }

  /** Notes this node's write of `keys` at `revision`, so its watch events are recognised. */
  wrote(keys: string[], revision: number): void {
    for (const key of keys) if (revision > (this.#written.get(key) ?? 0)) this.#written.set(key, revision);
    if (this.#written.size > MAX_WRITTEN) {
      for (const [key, written] of this.#written) if (written <= this.lastRevision) this.#written.delete(key);
    }
  }

  #applyLeaseKey(name: string, kv: IKeyValue): void {
    const { status, note, holder = '', deadline = 0 } = JSON.parse(kv.value.toString()) as Partial<LeaseValue> & Pick<LeaseValue, 'status' | 'note'>;
    const [service, id] = splitName(name);
    const ttl = this.registrations.get(name)?.ttl ?? 0;
    const lease = { id: kv.lease, status, note, ttl, holder, deadline, revision: Number(kv.mod_revision) };
    this.leases.set(name, lease);
    this.leaseChanged(name, lease);
    this.apply({ kind: 'lease', service, id, status, note, revision: Number(kv.mod_revision) });
  }
}
