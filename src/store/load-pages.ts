// Stored instances on their way from the database worker to the registry at start-up, a page at a
// time, as columns: the worker parses each row's JSON body (beside the main thread, which is the
// busy one at start-up) and the main thread parses only a few arrays per page, then builds each
// registration with one object literal. Equal tags and meta (most instances of a service have the
// same) become one frozen array or object that every restored instance with them shares.
import type { Registration } from '../registry/types.ts';

/** One page as the worker sends it, as a JSON string. Row i is the i-th entry of each column. */
interface Columns {
  /** The page's distinct service names; `service` indexes into it. */
  services: string[];
  /** The page's distinct tags and meta, as JSON texts; `tags` and `meta` index into it. */
  texts: string[];
  service: number[];
  id: string[];
  address: string[];
  port: number[];
  weight: number[];
  priority: number[];
  ttl: number[];
  tags: number[];
  meta: number[];
  /**
   * 0: the row is exactly the fields above; 1: those and `maintenance: null` (what the registry
   * stores for an instance not in maintenance); otherwise the row's whole body (a check, a
   * maintenance reason, a warning weight…), taken as stored.
   */
  rest: Array<0 | 1 | Record<string, unknown>>;
}

/** The fields of a plain registration besides `service`, `id`, tags and meta, each a column. */
const PLAIN_KEYS = 7;

/** Worker side: rows in, one page's JSON out. */
export class PageWriter {
  #columns = emptyColumns();
  readonly #serviceIndex = new Map<string, number>();
  readonly #textIndex = new Map<string, number>();

  get length(): number {
    return this.#columns.id.length;
  }

  /** Adds a stored row: its service, id and body (the registration's other fields, as JSON). */
  add(service: string, id: string, bodyText: string): void {
    const columns = this.#columns;
    const body = JSON.parse(bodyText) as Record<string, unknown>;
    columns.service.push(indexOf(this.#serviceIndex, columns.services, service));
    columns.id.push(id);
    const keys = Object.keys(body).length;
    const plain =
      typeof body.address === 'string' &&
      typeof body.port === 'number' &&
      typeof body.weight === 'number' &&
      typeof body.priority === 'number' &&
      typeof body.ttl === 'number' &&
      Array.isArray(body.tags) &&
      typeof body.meta === 'object' &&
      body.meta !== null &&
      !Array.isArray(body.meta) &&
      (keys === PLAIN_KEYS || (keys === PLAIN_KEYS + 1 && body.maintenance === null));
    if (!plain) {
      columns.address.push('');
      columns.port.push(0);
      columns.weight.push(0);
      columns.priority.push(0);
      columns.ttl.push(0);
      columns.tags.push(0);
      columns.meta.push(0);
      columns.rest.push(body);
      return;
    }
    columns.address.push(body.address as string);
    columns.port.push(body.port as number);
    columns.weight.push(body.weight as number);
    columns.priority.push(body.priority as number);
    columns.ttl.push(body.ttl as number);
    columns.tags.push(indexOf(this.#textIndex, columns.texts, JSON.stringify(body.tags)));
    columns.meta.push(indexOf(this.#textIndex, columns.texts, JSON.stringify(body.meta)));
    columns.rest.push(keys === PLAIN_KEYS ? 0 : 1);
  }

  /** The page so far as one JSON string; the writer starts a new page. */
  take(): string {
    const page = JSON.stringify(this.#columns);
    this.#columns = emptyColumns();
    this.#serviceIndex.clear();
    this.#textIndex.clear();
    return page;
  }
}

/**
 * Distinct tags and meta kept across pages to be shared: enough for any realistic variety; past it
 * (every instance with meta of its own, say) the cache starts over rather than holding them all.
 */
const SHARED_LIMIT = 4096;

/** Main-thread side: pages in, registrations out; equal tags and meta shared across the whole load. */
export class PageReader {
  readonly #shared = new Map<string, unknown>();

  read(page: string): Registration[] {
    const columns = JSON.parse(page) as Columns;
    const shared = columns.texts.map((text) => this.#share(text));
    const { services, service, id, address, port, weight, priority, ttl, rest } = columns;
    const registrations: Registration[] = new Array(id.length);
    for (let i = 0; i < id.length; i++) {
      const kind = rest[i];
      if (typeof kind === 'object') {
        registrations[i] = { service: services[service[i]], id: id[i], ...kind } as unknown as Registration;
        continue;
      }
      const registration: Registration = {
        service: services[service[i]],
        id: id[i],
        address: address[i],
        port: port[i],
        weight: weight[i],
        priority: priority[i],
        ttl: ttl[i],
        tags: shared[columns.tags[i]] as string[],
        meta: shared[columns.meta[i]] as Record<string, string>,
      };
      if (kind === 1) registration.maintenance = null;
      registrations[i] = registration;
    }
    return registrations;
  }

  #share(text: string): unknown {
    let value = this.#shared.get(text);
    if (value === undefined) {
      if (this.#shared.size >= SHARED_LIMIT) this.#shared.clear();
      // Frozen: shared by many instances, a change made through one would show in all.
      value = Object.freeze(JSON.parse(text));
      this.#shared.set(text, value);
    }
    return value;
  }
}

function emptyColumns(): Columns {
  return { services: [], texts: [], service: [], id: [], address: [], port: [], weight: [], priority: [], ttl: [], tags: [], meta: [], rest: [] };
}

function indexOf(index: Map<string, number>, values: string[], value: string): number {
  let at = index.get(value);
  if (at === undefined) {
    at = values.push(value) - 1;
    index.set(value, at);
  }
  return at;
}
