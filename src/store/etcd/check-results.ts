// Active check results in etcd: `checks/<service>/<id>` holds the last result the owner of the check
// saw, so that every node shows the same health and answers DNS alike, and a node started later (or a
// new owner) starts from it. Written only when the status or the note changes; never bound to a lease
// (the result outlives its owner); deleted with the registration (store.ts).
import { Buffer } from 'node:buffer';
import type { IKeyValue } from 'etcd3';
import { registrationFingerprint, type CheckReport } from '../../registry/check-coordinator.ts';
import { StoreError, type RemoteChange } from '../../registry/store.ts';
import type { Instance } from '../../registry/types.ts';
import type { EtcdConnection } from './connection.ts';
import { splitName, type EtcdKeys } from './keys.ts';
import type { EtcdMirror } from './mirror.ts';

/** The stored value: the result, and which registration of the instance it was for. */
interface StoredResult extends CheckReport {
  fingerprint: string;
}

export class CheckResults {
  readonly #etcd: EtcdConnection;
  readonly #keys: EtcdKeys;
  readonly #mirror: EtcdMirror;
  /** Where owner and member keys go (check-owners.ts), once a coordinator runs on this node. */
  ownerKeys: ((type: 'Put' | 'Delete', kv: IKeyValue) => void) | undefined;

  constructor(etcd: EtcdConnection, keys: EtcdKeys, mirror: EtcdMirror) {
    this.#etcd = etcd;
    this.#keys = keys;
    this.#mirror = mirror;
    mirror.otherKey = (type, kv) => this.#seen(type, kv);
  }

  /**
   * Stores `report` for `instance`, if this node still owns the check (the owner key is on `lease`)
   * and the instance is still registered; resolves with the revision. Rejects with a StoreError otherwise.
   */
  async write(instance: Instance, report: CheckReport, owner: { key: string; lease: string }): Promise<number> {
    const name = `${instance.service}/${instance.id}`;
    const key = this.#keys.key('checks/', name);
    const value: StoredResult = { ...report, fingerprint: registrationFingerprint(instance) };
    const response = await this.#etcd.call((client) =>
      client.kv.txn({
        compare: [
          { key: Buffer.from(owner.key), target: 'Lease', result: 'Equal', lease: owner.lease },
          { key: Buffer.from(this.#keys.key('instances/', name)), target: 'Version', result: 'Greater', version: 0 },
        ],
        success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) } }],
        failure: [],
      }),
    );
    if (!response.succeeded) throw new StoreError(`check of ${name} not stored: this node no longer runs it, or the instance is gone`);
    const revision = Number(response.header.revision);
    // The watch brings this write back: memory has it already.
    this.#mirror.wrote([key], revision);
    return revision;
  }

  /** A key the mirror does not read: a result becomes a change for the registry; owner keys go on. */
  #seen(type: 'Put' | 'Delete', kv: IKeyValue): RemoteChange | undefined {
    const key = kv.key.toString();
    const name = this.#keys.nameOf(key, 'checks/');
    if (name === undefined) {
      if (this.#keys.nameOf(key, 'owners/') !== undefined || this.#keys.nameOf(key, 'members/') !== undefined) this.ownerKeys?.(type, kv);
      return undefined;
    }
    // A deleted result goes with its registration, whose own deletion the registry applies.
    if (type !== 'Put') return undefined;
    const stored = JSON.parse(kv.value.toString()) as StoredResult;
    const [service, id] = splitName(name);
    const { status, note, since, fingerprint } = stored;
    return { kind: 'check', service, id, fingerprint, status, note, since, revision: Number(kv.mod_revision) };
  }
}
