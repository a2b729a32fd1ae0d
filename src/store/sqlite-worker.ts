// The database side of the SQLite store, run in a worker thread (see sqlite.ts for why): opens and
// checks the database, then applies each batch of writes the main thread sends as one transaction.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { reasonOf as systemReasonOf } from '../lib/system-errors.ts';
import { PageWriter } from './load-pages.ts';
import { databaseFile, type Reply, type Request, type Write } from './sqlite.ts';

/** `PRAGMA user_version` of the schema below; a database with another version is refused. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE instances (
    service TEXT NOT NULL,
    id      TEXT NOT NULL,
    -- The rest of the registration (address, port, weight, ttl, tags, meta, check, ...) as JSON.
    body    TEXT NOT NULL,
    PRIMARY KEY (service, id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE settings (
    service TEXT PRIMARY KEY,
    -- The service's settings (protection threshold, warm-up) as JSON.
    body    TEXT NOT NULL
  ) STRICT, WITHOUT ROWID`;

/** Primary result codes (https://sqlite.org/rescode.html) that need their own explanation. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Failures of the open, already worded `<path>: <reason>` for the one line the CLI prints. */
class OpenError extends Error {}

const port = parentPort!;
const file = databaseFile((workerData as { dataDir: string }).dataDir);
const dir = dirname(file);
const reply = (message: Reply) => port.postMessage(message);

try {
  checkDirectory();
  const db = openDatabase();
  const statements: Record<Write['kind'], StatementSync> = {
    put: db.prepare('INSERT OR REPLACE INTO instances (service, id, body) VALUES (?, ?, ?)'),
    delete: db.prepare('DELETE FROM instances WHERE service = ? AND id = ?'),
    settings: db.prepare('INSERT OR REPLACE INTO settings (service, body) VALUES (?, ?)'),
  };
  // Instances go to the main thread a page at a time, each page one JSON string of columns
  // (load-pages.ts: this thread parses each row's body, the main thread only a few arrays a page):
  // a million rows are never one string of hundreds of megabytes, and the main thread takes in one
  // page while this thread reads the next. One pass over the table: the cursor stays open between
  // pages (nothing writes before the load is done: the registry waits for it).
  const instances = db.prepare('SELECT service, id, body FROM instances');
  instances.setReturnArrays(true);
  let cursor: Iterator<unknown> | null = null;
  const settings = db.prepare('SELECT json_group_array(json_array(service, json(body))) AS rows FROM settings');
  port.on('message', (request: Request) => {
    if (request.op === 'close') {
      db.close();
      port.close(); // nothing else keeps the worker alive: it exits, which the main thread awaits
      return;
    }
    try {
      if (request.op === 'load' && request.table === 'settings') {
        reply({ id: request.id, ok: true, rows: String(settings.get()!.rows), more: false });
      } else if (request.op === 'load') {
        if (request.first) cursor = instances.iterate();
        const page = new PageWriter();
        let row: IteratorResult<unknown> | undefined;
        while (page.length < request.limit && !(row = cursor!.next()).done) {
          const [service, id, body] = row.value as [string, string, string];
          page.add(service, id, body);
        }
        const more = page.length === request.limit;
        if (!more) cursor = null;
        reply({ id: request.id, ok: true, rows: page.take(), more });
      } else {
        commit(db, statements, request.writes);
        reply({ id: request.id, ok: true });
      }
    } catch (error) {
      reply({ id: request.id, ok: false, message: `${file}: ${reasonOf(error)}` });
    }
  });
  reply({ id: 0, ok: true });
} catch (error) {
  reply({ id: 0, ok: false, message: error instanceof OpenError ? error.message : `${file}: ${reasonOf(error)}` });
  port.close();
}

/** One transaction, so one fsync, for the whole batch: all of it is stored, or none and it throws. */
function commit(db: DatabaseSync, statements: Record<Write['kind'], StatementSync>, writes: Write[]): void {
  try {
    db.exec('BEGIN');
    for (const write of writes) {
      if (write.kind === 'put') statements.put.run(write.service, write.id, write.body);
      else if (write.kind === 'delete') statements.delete.run(write.service, write.id);
      else statements.settings.run(write.service, write.body);
    }
    db.exec('COMMIT');
  } catch (error) {
    // SQLite already rolled back on an I/O error or a full disk; otherwise the transaction is still open.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** Creates the directory if needed and fails with the OS's reason if it is unusable. */
function checkDirectory(): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // mkdir says EEXIST for a file where the directory should be, ENOTDIR for a file among its parents.
    const reason = code === 'EEXIST' || code === 'ENOTDIR' ? 'not a directory (a file is in the way)' : reasonOf(error);
    throw new OpenError(`${dir}: ${reason}`);
  }
  for (const [path, mode] of [
    [dir, constants.R_OK | constants.W_OK | constants.X_OK],
    [file, constants.R_OK | constants.W_OK],
  ] as const) {
    if (path === file && !existsSync(file)) continue;
    try {
      // Catches what permission bits do not show: a read-only mount (EROFS), an immutable file (EPERM).
      accessSync(path, mode);
    } catch (error) {
      throw new OpenError(`${path}: not writable: ${reasonOf(error)}`);
    }
  }
}

function openDatabase(): DatabaseSync {
  const db = new DatabaseSync(file);
  try {
    // Exclusive locking: the first transaction takes an OS lock that is held until this process
    // closes the database or dies. A second server on the same directory fails at once, and a
    // kill -9 leaves no stale lock behind. It also keeps the WAL index in memory (no -shm file).
    db.exec('PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT');
    checkIntegrity(db);
    // FULL: in WAL mode, every commit fsyncs the WAL before it returns; nothing is acknowledged before that.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL');
    migrate(db);
    return db;
  } catch (error) {
    db.close(); // also rolls back a transaction left open by the failure
    throw error instanceof OpenError ? error : new OpenError(describeOpenFailure(error));
  }
}

/** Reads every page once: a damaged file is refused here rather than half-loaded, and never written over. */
function checkIntegrity(db: DatabaseSync): void {
  // The first problem is enough to refuse; flattened, so the refusal stays one line.
  const result = String(db.prepare('PRAGMA quick_check(1)').get()!.quick_check);
  if (result !== 'ok') throw new OpenError(corrupt(result.replace(/\s*\n\s*/g, ' ')));
}

function migrate(db: DatabaseSync): void {
  db.exec('BEGIN');
  const version = Number(db.prepare('PRAGMA user_version').get()!.user_version);
  if (version === 0) {
    const { tables } = db.prepare("SELECT count(*) AS tables FROM sqlite_schema WHERE type = 'table'").get()!;
    if (tables !== 0) throw new OpenError(`${file}: not a Signpost database (it has tables but no schema version); point --data-dir elsewhere`);
    db.exec(SCHEMA);
  } else if (version !== SCHEMA_VERSION) {
    throw new OpenError(`${file}: schema version ${version}, this Signpost reads version ${SCHEMA_VERSION}; use a matching Signpost release`);
  }
  // Written on every start, even when unchanged: the open fails here, not at the first
  // registration, when the disk is full or the file cannot be written.
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT`);
}

function describeOpenFailure(error: unknown): string {
  switch (primaryCode(error)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return `${dir}: in use by another Signpost process (${file} is locked); stop it or choose another --data-dir`;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return corrupt(reasonOf(error));
    default:
      return `${file}: ${reasonOf(error)}`;
  }
}

function corrupt(detail: string): string {
  return (
    `${file}: the database is damaged or not a SQLite file (${detail}); Signpost will not start over it: ` +
    'move the file aside (keep it for recovery) and restore a backup, or start with an empty --data-dir'
  );
}

function primaryCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** The human part of an OS or SQLite error: `permission denied (EACCES)`, `database or disk is full`. */
function reasonOf(error: unknown): string {
  const { errno, errstr } = error as NodeJS.ErrnoException & { errstr?: string };
  return typeof errno !== 'number' && errstr ? errstr : systemReasonOf(error);
}
