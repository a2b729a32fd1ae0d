// Consul's blocking queries: `?index=N&wait=D` (or `?hash=H` where Consul uses a content hash)
// holds a read until its answer changes, or until the wait (plus Consul's jitter) ends.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { WatchHub } from '../watch/hub.ts';
import { parseGoDuration } from './decode.ts';
import { ConsulError } from './errors.ts';
import { ConsulIndexes, type AnswerKind } from './indexes.ts';
import type { LeaderContact } from './leader.ts';

/** Consul's default and longest wait, seconds, and its jitter: up to wait/16 more (under the 10% the npm client allows). */
export const DEFAULT_WAIT = 300;
export const MAX_WAIT = 600;
const JITTER_FRACTION = 16;

export interface Read<T> {
  kind: AnswerKind;
  /** The service the answer is about (for `catalog` and `health`). */
  service?: string;
  render(): T;
  /** An answer's content hash: reads that have one also block on `?hash=` and send `X-Consul-ContentHash`. */
  hash?(answer: T): string;
}

interface ReadQuery {
  index?: string;
  wait?: string;
  hash?: string;
  stale?: string;
  consistent?: string;
}

/** Query parameters that do not change what a read answers (left out of its cache key). */
const NOT_IN_KEY = new Set(['index', 'wait', 'hash', 'token', 'stale', 'consistent', 'cached', 'pretty']);

/**
 * Answers reads: sets Consul's query headers and holds blocking queries. A held query renders its
 * answer again on each event that concerns it and returns only when the answer differs from the
 * one it held (the renders are shared by every query asking the same thing: one per event, not
 * one per waiting client), so nothing wakes it that its answer does not show.
 */
export class BlockingReads {
  readonly #watches: WatchHub;
  readonly #indexes: ConsulIndexes;
  readonly #leader: LeaderContact;
  /** Latest render per distinct read (path and query), with the index it was made at. */
  readonly #renders = new LRUCache<string, { index: number; json: string; body: unknown; wire?: string }>({ max: 1000 });

  constructor(watches: WatchHub, indexes: ConsulIndexes, leader: LeaderContact) {
    this.#watches = watches;
    this.#indexes = indexes;
    this.#leader = leader;
  }

  async answer<T>(request: FastifyRequest, reply: FastifyReply, read: Read<T>): Promise<T> {
    const query = request.query as ReadQuery;
    const minIndex = parseIndex(query.index);
    const wait = parseWait(query.wait);
    const key = keyOf(request);
    // A render may throw (the instance a read names was removed meanwhile): that is a change to answer
    // with, not an error inside the watch hub's dispatch.
    const json = () => {
      try {
        return this.#render(key, read);
      } catch {
        return undefined;
      }
    };
    const index = () => this.#indexes.of(read.kind, read.service);
    const byHash = read.hash !== undefined && query.hash !== undefined && query.hash !== '';
    const held = byHash ? query.hash === read.hash!(read.render()) : minIndex > 0 && index() === minIndex;
    if (held) {
      const before = json();
      if (!this.#watches.acquire()) throw new ConsulError(503, `too many open watches (${this.#watches.max}); retry later`);
      const closed = new AbortController();
      const onClose = () => closed.abort();
      request.raw.once('close', onClose);
      try {
        const timeoutMs = (wait + (Math.random() * wait) / JITTER_FRACTION) * 1000;
        // An answer about one service is offered only that service's events.
        const about = read.kind === 'catalog' || read.kind === 'health' ? read.service : undefined;
        await this.#watches.waitFor(
          (event) => ConsulIndexes.concerns(event, read.kind, read.service ?? '') && json() !== before,
          timeoutMs,
          closed.signal,
          about,
        );
      } finally {
        request.raw.off('close', onClose);
        this.#watches.release();
      }
    }
    // Queries woken by the same change all answer the same: render and serialise it once for them.
    const shared = held ? this.#shared(key, read, reply) : undefined;
    const body = shared ? (shared.body as T) : read.render();
    reply.headers({
      'x-consul-index': String(Math.max(1, index())),
      'x-consul-knownleader': String(this.#leader.knownLeader),
      'x-consul-lastcontact': String(this.#leader.lastContactMs()),
      'x-consul-effective-consistency': query.stale !== undefined ? 'stale' : query.consistent !== undefined ? 'consistent' : 'leader',
    });
    if (read.hash) reply.header('x-consul-contenthash', read.hash(body));
    if (!shared) return body;
    // A string with a JSON content type is sent as it is (fastify serialises objects only).
    reply.type('application/json; charset=utf-8');
    return shared.wire as T;
  }

  /** The read's current answer and its serialised form, shared by every query that asks it at this index. */
  #shared<T>(key: string, read: Read<T>, reply: FastifyReply): { body: unknown; wire: string } {
    this.#render(key, read);
    const entry = this.#renders.get(key)!;
    entry.wire ??= reply.serialize(entry.body) as string;
    return entry as { body: unknown; wire: string };
  }

  /** The read's answer as JSON, rendered once per index whoever asks. */
  #render<T>(key: string, read: Read<T>): string {
    const index = this.#indexes.of(read.kind, read.service);
    const cached = this.#renders.get(key);
    if (cached && cached.index === index) return cached.json;
    const body = read.render();
    const json = JSON.stringify(body);
    this.#renders.set(key, { index, json, body });
    return json;
  }
}

/** Consul's ContentHash: a short hex digest of the answer. */
export function hashOf(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

function keyOf(request: FastifyRequest): string {
  const [path, search = ''] = request.url.split('?', 2);
  const params = new URLSearchParams(search);
  for (const name of [...params.keys()]) if (NOT_IN_KEY.has(name)) params.delete(name);
  params.sort();
  return `${path}?${params}`;
}

function parseIndex(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ConsulError(400, 'Invalid index');
  return Number(text);
}

/** The wait in seconds: Go's duration syntax, Consul's default when absent or 0, at most Consul's longest. */
function parseWait(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_WAIT;
  const seconds = parseGoDuration(text);
  if (seconds === undefined) throw new ConsulError(400, 'Invalid wait time');
  return seconds <= 0 ? DEFAULT_WAIT : Math.min(seconds, MAX_WAIT);
}
