// Where each fact lives in etcd, under the store's prefix (--etcd-prefix, default /signpost/):
//   instances/<service>/<id>  the registration JSON; no lease: it lives until deleted
//   leases/<service>/<id>     {"status","note","holder","deadline"}: the last reported status, the
//                             node holding the instance's lease and the deadline when written, bound
//                             to that node's etcd lease for the instance's ttl (node-leases.ts); the
//                             holder deletes it when the deadline passes, etcd when the node's lease lapses
//   settings/<service>        the service's settings JSON
//   checks/<service>/<id>     {"status","note","since","fingerprint"}: an active check's last result,
//                             written by the node that runs it (check-results.ts); no lease
//   owners/<shard>            {"node"}: which node runs the checks of a shard, bound to that node's
//                             owner lease (check-owners.ts)
//   members/<lease>           {"node"}: a node taking part in running checks, on the same lease
import { Buffer } from 'node:buffer';

export type KeyKind = 'instances/' | 'leases/' | 'settings/' | 'checks/' | 'owners/' | 'members/';

const KINDS: readonly KeyKind[] = ['instances/', 'leases/', 'settings/', 'checks/', 'owners/', 'members/'];

export class EtcdKeys {
  readonly prefix: string;
  /** The prefix of each kind, built once: every watch event is sorted by kind. */
  readonly #starts: Readonly<Record<KeyKind, string>>;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.#starts = Object.fromEntries(KINDS.map((kind) => [kind, prefix + kind])) as Record<KeyKind, string>;
  }

  /** The key of `name` (`service/id`, or `service` for settings) of one kind. */
  key(kind: KeyKind, name: string): string {
    return `${this.prefix}${kind}${name}`;
  }

  /** `service/id` (or `service`) of a key of `kind`; undefined for keys of another kind. */
  nameOf(key: string, kind: KeyKind): string | undefined {
    const start = this.#starts[kind];
    return key.startsWith(start) ? key.slice(start.length) : undefined;
  }

  /** The range of every key under the prefix (etcd's prefix convention: [prefix, prefix+1)), or of one kind. */
  range(kind?: KeyKind): { key: Buffer; range_end: Buffer } {
    const key = Buffer.from(this.prefix + (kind ?? ''));
    return { key, range_end: prefixEnd(key) };
  }
}

/** `service/id` as its two parts. */
export function splitName(name: string): [string, string] {
  const slash = name.indexOf('/');
  return [name.slice(0, slash), name.slice(slash + 1)];
}

/** The end of the range of keys starting with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
