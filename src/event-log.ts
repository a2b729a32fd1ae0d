// Registry events as log lines: one per event, except leases lapsing in a storm, summed up.
import type { Logger } from 'pino';
import { LAPSE_SUMMARY_MS } from './config/limits.ts';
import type { RegistryEvent } from './registry/types.ts';

/** Service names a summary line lists; it counts the rest. */
const NAMED_SERVICES = 10;

/**
 * Logs every registry event at info level, as it happens, but for lapses: a lapse after a quiet
 * spell is logged as any health change, and the lapses of the LAPSE_SUMMARY_MS that follow it are
 * counted and logged as one line at its end (each also at debug level). Call `flush` when stopping.
 */
export class EventLog {
  readonly #log: Logger;
  #window: NodeJS.Timeout | undefined;
  #lapsed = 0;
  readonly #services = new Set<string>();

  constructor(log: Logger) {
    this.#log = log;
  }

  event(event: RegistryEvent): void {
    const log = this.#log;
    if (event.type === 'settings') {
      log.info({ service: event.service, ...event.settings }, 'settings changed');
      return;
    }
    const { service, id, address, port } = event.instance;
    if (event.type === 'register') log.info({ service, id, address, port, replaced: event.replaced }, 'registered');
    else if (event.type === 'deregister') log.info({ service, id, reason: event.reason }, 'deregistered');
    else if (!event.lapsed || this.#window === undefined) {
      log.info({ service, id, status: event.instance.status, previous: event.previous }, 'health changed');
      if (event.lapsed) this.#window = setTimeout(() => this.flush(), LAPSE_SUMMARY_MS).unref();
    } else {
      log.debug({ service, id, status: event.instance.status, previous: event.previous }, 'health changed');
      this.#lapsed++;
      this.#services.add(service);
    }
  }

  /** Logs the summary of the lapses counted so far, if any, and starts over. */
  flush(): void {
    clearTimeout(this.#window);
    this.#window = undefined;
    if (this.#lapsed === 0) return;
    const services = [...this.#services];
    const named = services.slice(0, NAMED_SERVICES).join(', ') + (services.length > NAMED_SERVICES ? ` and ${services.length - NAMED_SERVICES} more` : '');
    this.#log.info({ lapsed: this.#lapsed, services: services.length }, `${this.#lapsed} more leases lapsed (instances critical) in ${services.length} services: ${named}`);
    this.#lapsed = 0;
    this.#services.clear();
  }
}
