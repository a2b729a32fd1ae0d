// The embedded durable store: one SQLite database (node:sqlite, WAL mode) in the data directory.
import { join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Registration, ServiceSettings } from '../registry/types.ts';
import { StoreError, type Store } from '../registry/store.ts';
import { PageReader } from './load-pages.ts';

/**
 * The worker's file beside this one: `.ts` when run from the sources, `.js` once compiled for the
 * package (the compiler rewrites import specifiers, not URLs built from strings).
 */
const WORKER_FILE = import.meta.url.endsWith('.ts') ? './sqlite-worker.ts' : './sqlite-worker.js';

export const DATABASE_FILE = 'signpost.db';

/** Absolute path of the database file in `dataDir`. */
export function databaseFile(dataDir: string): string {
  return join(resolve(dataDir), DATABASE_FILE);
}

/** A write as the database worker applies it; bodies are JSON. */
export type Write =
  | { kind: 'put'; service: string; id: string; body: string }
  | { kind: 'delete'; service: string; id: string }
  | { kind: 'settings'; service: string; body: string };

/** Main thread → database worker. */
export type Request = ({ id: number } & Load) | { id: number; op: 'commit'; writes: Write[] } | { op: 'close' };

/** The first or next page of instances (at most `limit`), or every service's settings. */
export type Load = { op: 'load'; table: 'instances'; first: boolean; limit: number } | { op: 'load'; table: 'settings' };

/**
 * Database worker → main thread: the answer to request `id`; id 0 answers the open. A load answers
 * with `rows`: a page of instances as JSON columns (load-pages.ts; `more` when there may be
 * another), or a JSON array of `[service, body]` (settings).
 */
export type Reply = { id: number; ok: true; rows?: string; more?: boolean } | { id: number; ok: false; message: string };

/** Instances a load page holds: large enough that a page costs little beyond its rows, small enough to stay a few MB. */
const LOAD_PAGE = 20_000;

interface Queued {
  write: Write;
  resolve(): void;
  reject(error: StoreError): void;
}

/**
 * Durability: a write's promise resolves only after the transaction holding it has committed with
 * `synchronous = FULL`, which in WAL mode fsyncs the WAL on every commit. An acknowledged write
 * therefore survives kill -9 and power loss; a failed commit rejects every write in it.
 *
 * A worker thread owns the database. node:sqlite is synchronous: on the main thread, each commit
 * would stop the event loop for an fsync, holding up every DNS answer and HTTP request meanwhile,
 * for as long as the disk takes (0.3-5 ms a commit on the benchmark machine; more on slow or
 * network disks). In the worker, the fsync runs beside the event loop (BENCHMARKS.md compares the two).
 *
 * Group commit: while one commit is in the worker, the writes that arrive queue up, and all of them
 * go in the next commit. An fsync costs about the same for one row as for dozens (measured here:
 * 0.26 ms for 1 or 10 rows, 0.6 ms for 100), so under load this multiplies durable writes per
 * second without weakening the guarantee above; when idle, a
 * write waits only for the end of its event-loop turn (so writes of the same turn share a commit).
 */
export class SqliteStore implements Store {
  /** Absolute path of the database file. */
  readonly file: string;
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly #waiting = new Map<number, { resolve(reply: Reply): void; reject(error: StoreError): void }>();
  #nextId = 1;
  #queued: Queued[] = [];
  /** Commits the queue, batch after batch, until it is empty; undefined when there is nothing to commit. */
  #draining: Promise<void> | undefined;
  #closed = false;
  /** Set once the worker is gone: every later request fails with it. */
  #failure: StoreError | undefined;

  /** Opens (creating if needed) the store in `dataDir`. Rejects with a StoreError `<path>: <reason>` if it cannot. */
  static async open(dataDir: string): Promise<SqliteStore> {
    const store = new SqliteStore(dataDir);
    const opened = await store.#reply(0);
    if (!opened.ok) {
      await store.#exited;
      throw new StoreError(opened.message);
    }
    return store;
  }

  /** Use `SqliteStore.open`. */
  private constructor(dataDir: string) {
    this.file = databaseFile(dataDir);
    this.#worker = new Worker(new URL(WORKER_FILE, import.meta.url), { workerData: { dataDir } });
    this.#worker.on('message', (reply: Reply) => {
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      waiting?.resolve(reply);
    });
    this.#worker.on('error', (error) => {
      this.#failure ??= new StoreError(`${this.file}: the database thread failed: ${error.message}`, { cause: error });
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        this.#failure ??= new StoreError(`${this.file}: ${this.#closed ? 'the store is closed' : 'the database thread stopped'}`);
        for (const waiting of this.#waiting.values()) waiting.reject(this.#failure);
        this.#waiting.clear();
        resolve();
      });
    });
  }

  async load(): Promise<Registration[]> {
    const registrations: Registration[] = [];
    await this.loadInPages((page) => {
      for (const registration of page) registrations.push(registration);
    });
    return registrations;
  }

  async loadInPages(onPage: (registrations: readonly Registration[]) => void): Promise<number> {
    let count = 0;
    const reader = new PageReader();
    let page = this.#load({ op: 'load', table: 'instances', first: true, limit: LOAD_PAGE });
    for (;;) {
      const answer = await page;
      // Ask for the next page before taking in this one: the worker reads it meanwhile.
      if (answer.more) {
        page = this.#load({ op: 'load', table: 'instances', first: false, limit: LOAD_PAGE });
        page.catch(() => {}); // awaited on the next turn of this loop; only a throw below leaves it unawaited
      }
      const registrations = reader.read(answer.rows!);
      count += registrations.length;
      onPage(registrations);
      if (!answer.more) return count;
    }
  }

  async loadSettings(): Promise<Map<string, ServiceSettings>> {
    const answer = await this.#load({ op: 'load', table: 'settings' });
    return new Map(JSON.parse(answer.rows!) as [string, ServiceSettings][]);
  }

  put(registration: Registration): Promise<void> {
    const { service, id, ...body } = registration;
    return this.#enqueue({ kind: 'put', service, id, body: JSON.stringify(body) });
  }

  delete(service: string, id: string): Promise<void> {
    return this.#enqueue({ kind: 'delete', service, id });
  }

  putSettings(service: string, settings: ServiceSettings): Promise<void> {
    return this.#enqueue({ kind: 'settings', service, body: JSON.stringify(settings) });
  }

  /** Commits the writes already accepted (their callers are waiting on them), then closes the file and its lock. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#draining;
      this.#worker.postMessage({ op: 'close' } satisfies Request);
    }
    await this.#exited;
  }

  async #load(request: Load): Promise<Extract<Reply, { ok: true }>> {
    const id = this.#nextId++;
    const reply = this.#reply(id);
    this.#worker.postMessage({ id, ...request } satisfies Request);
    const answer = await reply;
    if (!answer.ok) throw new StoreError(answer.message);
    return answer;
  }

  #enqueue(write: Write): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError(`${this.file}: the store is closed`));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queued.push({ write, resolve, reject });
    this.#draining ??= this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    // The first batch waits for the end of this turn, so that every request read in it joins.
    await nextTurn();
    while (this.#queued.length > 0) {
      const batch = this.#queued;
      this.#queued = [];
      const id = this.#nextId++;
      const reply = this.#reply(id);
      this.#worker.postMessage({ id, op: 'commit', writes: batch.map(({ write }) => write) } satisfies Request);
      try {
        const answer = await reply;
        if (!answer.ok) throw new StoreError(answer.message);
        for (const queued of batch) queued.resolve();
      } catch (error) {
        for (const queued of batch) queued.reject(error as StoreError);
      }
    }
    this.#draining = undefined;
  }

  /** The worker's reply to request `id`; rejects with a StoreError if the worker is gone. */
  #reply(id: number): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
  }
}
