// Writes of one event-loop turn go to etcd together, as one transaction: under load a round trip
// (and a raft proposal, and etcd's fsync) carries dozens of registrations instead of one. etcd
// answers a transaction only once it is committed, so every write in it is as durable as a write
// on its own; a transaction that fails fails every write in it (503), and changes nothing in etcd.
//
// A write may carry a guard (compares that must hold for it to apply: "the instance is still
// registered", "the lease key is as I last saw it"). The guards of a batch are sent together, as one
// conjunction: almost always they all hold and the batch costs one transaction. When one does not,
// etcd applies nothing, and each write of the batch is sent again on its own, with its own guard,
// so a failed guard fails only its own write.
import { Buffer } from 'node:buffer';
import type { ICompare, IRequestOp } from 'etcd3';
import type { EtcdConnection } from './connection.ts';

/** etcd's default `--max-txn-ops`: a transaction with more operations is refused. */
export const MAX_TXN_OPS = 128;
/** Well under etcd's default `--max-request-bytes` (1.5 MiB), leaving room for the request's framing. */
export const MAX_TXN_BYTES = 1024 * 1024;

interface Write {
  ops: IRequestOp[];
  guard: ICompare[];
  /** The revision it committed at, or 0 when its guard did not hold. */
  resolve(revision: number): void;
  reject(error: unknown): void;
}

interface Batch {
  ops: IRequestOp[];
  guard: ICompare[];
  bytes: number;
  /** Keys the batch writes: etcd refuses a transaction that names one key twice. */
  keys: Set<string>;
  writes: Write[];
  /** It holds a key an earlier batch of the turn also writes: it is sent once those are answered, so writes stay in order. */
  waitsForEarlier: boolean;
}

export class TxnBatcher {
  readonly #etcd: EtcdConnection;
  /** Batches of this turn, sent at its end in order; the last one still takes writes. */
  #pending: Batch[] = [];

  constructor(etcd: EtcdConnection) {
    this.#etcd = etcd;
  }

  /**
   * Writes `ops` (touching `keys`) in the next transaction, if every compare of `guard` holds;
   * resolves with the revision it committed at (0: the guard did not hold, nothing was written),
   * rejects with a StoreError when etcd did not take it.
   */
  write(ops: IRequestOp[], keys: string[], guard: ICompare[] = []): Promise<number> {
    if (this.#etcd.closed) return Promise.reject(this.#etcd.closedError());
    let bytes = 0;
    for (const op of ops) bytes += opBytes(op);
    if (this.#pending.length === 0) setImmediate(this.#flush);
    let batch = this.#pending.at(-1);
    const clash = this.#clashes(keys);
    const full = batch !== undefined && batch.ops.length > 0 && (Math.max(batch.ops.length + ops.length, batch.guard.length + guard.length) > MAX_TXN_OPS || batch.bytes + bytes > MAX_TXN_BYTES);
    if (!batch || clash || full) {
      batch = { ops: [], guard: [], bytes: 0, keys: new Set(), writes: [], waitsForEarlier: clash };
      this.#pending.push(batch);
    }
    for (const op of ops) batch.ops.push(op);
    for (const compare of guard) batch.guard.push(compare);
    batch.bytes += bytes;
    for (const key of keys) batch.keys.add(key);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    batch.writes.push({ ops, guard, resolve, reject });
    return promise;
  }

  /** Whether a batch of this turn already writes one of `keys`. */
  #clashes(keys: string[]): boolean {
    for (const earlier of this.#pending) for (const key of keys) if (earlier.keys.has(key)) return true;
    return false;
  }

  readonly #flush = (): void => {
    const batches = this.#pending;
    this.#pending = [];
    const sent: Promise<void>[] = [];
    for (const batch of batches) sent.push(batch.waitsForEarlier ? Promise.all([...sent]).then(() => this.#send(batch)) : this.#send(batch));
  };

  async #send(batch: Pick<Batch, 'ops' | 'guard' | 'writes'>): Promise<void> {
    try {
      const response = await this.#etcd.call((client) => client.kv.txn({ compare: batch.guard, success: batch.ops, failure: [] }));
      const revision = Number(response.header.revision);
      if (response.succeeded) for (const write of batch.writes) write.resolve(revision);
      else if (batch.writes.length === 1) batch.writes[0].resolve(0);
      // Some guard did not hold, and etcd applied nothing: each write again, on its own.
      else await Promise.all(batch.writes.map((write) => this.#send({ ops: write.ops, guard: write.guard, writes: [write] })));
    } catch (error) {
      for (const write of batch.writes) write.reject(error);
    }
  }
}

function opBytes(op: IRequestOp): number {
  const put = op.request_put;
  if (put) return byteLength(put.key) + byteLength(put.value) + 16;
  return byteLength(op.request_delete_range?.key) + 16;
}

function byteLength(value: Buffer | string | undefined): number {
  if (value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
