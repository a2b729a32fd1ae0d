// Active health checks: HTTP and TCP probes of registered instances, reported to the registry.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from 'pino';
import { SingleNodeChecks, type CheckCoordinator } from '../registry/check-coordinator.ts';
import type { Registry } from '../registry/registry.ts';
import type { CheckDefinition, Instance, ReportedStatus } from '../registry/types.ts';

interface CheckState {
  timer?: NodeJS.Timeout;
  running: boolean;
  /** Consecutive results, counted by the node that runs the check (from zero when it takes it over). */
  successes: number;
  failures: number;
  /** Whether this node ran the check at its last turn. */
  owned: boolean;
}

export interface CheckResult {
  status: ReportedStatus;
  note: string;
}

/**
 * Runs every instance's check on its interval. The first run of each is placed at a random point
 * of its first interval, so 10,000 checks registered (or restored) together spread evenly instead
 * of firing in the same millisecond; at most `concurrency` probes are in flight, the rest wait
 * their turn in order. An instance's next run is scheduled only after its previous one ended.
 *
 * In a cluster every node keeps every check's timer (a timer is cheap), but at each turn only the
 * node the coordinator says owns the check probes; the others skip that turn. So when an owner goes
 * away, the node that takes its checks over probes at their next turn, within one interval. A
 * result is shared only when it changes the status or the note, and applied here once stored.
 */
export class HealthChecker {
  readonly #registry: Registry;
  readonly #concurrency: number;
  readonly #log: Logger;
  /** Keyed by `service/id`; the instance object tells a replacement from its predecessor. */
  readonly #states = new Map<string, { instance: Instance; state: CheckState }>();
  readonly #queue: Instance[] = [];
  #running = 0;
  readonly #agents = new ProbeAgents();
  readonly #unsubscribe: () => void;
  readonly #coordinator: CheckCoordinator;

  constructor(registry: Registry, options: { concurrency: number; log: Logger; coordinator?: CheckCoordinator }) {
    this.#registry = registry;
    this.#concurrency = options.concurrency;
    this.#log = options.log;
    this.#coordinator = options.coordinator ?? new SingleNodeChecks();
    this.#unsubscribe = registry.onEvent((event) => {
      if (event.type === 'register') {
        // A replacement is a new instance object: the old one's state goes with it.
        this.#forget(event.instance);
        this.#watch(event.instance);
      } else if (event.type === 'deregister') {
        this.#forget(event.instance);
      }
    });
    for (const instance of registry.allInstances()) this.#watch(instance);
  }

  /** Checks currently scheduled. */
  get size(): number {
    return this.#states.size;
  }

  close(): void {
    this.#unsubscribe();
    for (const { instance } of [...this.#states.values()]) this.#forget(instance);
    this.#queue.length = 0;
    this.#agents.close();
  }

  #watch(instance: Instance): void {
    if (!instance.check) return;
    const state: CheckState = { running: false, successes: 0, failures: 0, owned: false };
    this.#states.set(keyOf(instance), { instance, state });
    this.#coordinator.want(instance.service, instance.id);
    this.#schedule(instance, state, Math.random() * instance.check.interval * 1000);
  }

  #forget(instance: Instance): void {
    const entry = this.#states.get(keyOf(instance));
    if (!entry) return;
    clearTimeout(entry.state.timer);
    this.#states.delete(keyOf(instance));
    this.#coordinator.unwant(instance.service, instance.id);
  }

  #schedule(instance: Instance, state: CheckState, delayMs: number): void {
    state.timer = setTimeout(() => {
      const owned = this.#coordinator.owns(instance.service, instance.id);
      if (owned && !state.owned) {
        // Taken over (or first run): count consecutive results afresh, from the shared status.
        state.successes = 0;
        state.failures = 0;
      }
      state.owned = owned;
      if (!owned) {
        this.#schedule(instance, state, instance.check!.interval * 1000);
        return;
      }
      this.#queue.push(instance);
      this.#drain();
    }, delayMs);
    state.timer.unref();
  }

  #drain(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const instance = this.#queue.shift()!;
      const state = this.#current(instance);
      if (!state || state.running) continue;
      state.running = true;
      this.#running++;
      void this.#run(instance, state);
    }
  }

  /** One probe, its result recorded (and shared) before the next run is scheduled, so results never overtake each other. */
  async #run(instance: Instance, state: CheckState): Promise<void> {
    const result = await probe(instance.check!, this.#agents);
    this.#running--;
    this.#drain();
    if (this.#current(instance) === state) await this.#record(instance, state, result);
    state.running = false;
    if (this.#current(instance) === state) this.#schedule(instance, state, instance.check!.interval * 1000);
  }

  /** The state of `instance` if it is still the registered one. */
  #current(instance: Instance): CheckState | undefined {
    const entry = this.#states.get(keyOf(instance));
    return entry?.instance === instance ? entry.state : undefined;
  }

  /**
   * Applies the consecutive-result thresholds to the status the registry holds (the shared one in a
   * cluster), then, if the status or the note changed, publishes the result and applies it.
   */
  async #record(instance: Instance, state: CheckState, result: CheckResult): Promise<void> {
    const check = instance.check!;
    const shown = instance.health.check;
    const current = shown?.status ?? 'critical';
    let status: ReportedStatus = current === 'maintenance' ? 'critical' : current;
    if (result.status === 'passing') {
      state.successes++;
      state.failures = 0;
      if (status !== 'passing' && state.successes >= check.successBeforePassing) status = 'passing';
    } else if (result.status === 'warning') {
      state.successes = 0;
      state.failures = 0;
      status = 'warning';
    } else {
      state.failures++;
      state.successes = 0;
      if (status !== 'critical' && state.failures >= check.failuresBeforeCritical) status = 'critical';
    }
    // The note tells what the last probe saw, even while a threshold holds the status back.
    if (shown && shown.status === status && shown.note === result.note) return;
    if (status !== current) this.#log.debug({ service: instance.service, id: instance.id, status, note: result.note }, 'check result changed');
    const report = { status, note: result.note, since: Date.now() };
    try {
      const revision = await this.#coordinator.publish(instance, report);
      this.#registry.reportCheck(instance, report.status, report.note, report.since, revision ?? undefined);
    } catch (error) {
      // Not stored (the store is unreachable, or another node took the check over): applied nowhere,
      // so every node keeps showing the same; the next probe tries again.
      this.#log.debug({ service: instance.service, id: instance.id, error: (error as Error).message }, 'check result not shared');
    }
  }
}

function keyOf(instance: Instance): string {
  return `${instance.service}/${instance.id}`;
}

/** One probe: HTTP 2xx passing, 429 warning, else critical; TCP connect passing. Never rejects. */
export function probe(check: CheckDefinition, agents: ProbeAgents): Promise<CheckResult> {
  const timeoutMs = check.timeout * 1000;
  return check.http ? probeHttp(check.http, timeoutMs, agents) : probeTcp(check.tcp!, timeoutMs);
}

/**
 * Probes reuse connections: 10,000 checks every 10 s are 1,000 probes a second, and a TCP (or TLS)
 * handshake per probe would double their cost. A target that stops accepting new connections is
 * still caught: an idle pooled connection is closed after a few seconds, and a refused reconnect
 * fails the probe.
 */
const POOL = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256, timeout: 5_000 } as const;
/** Pooled connections for HTTP and HTTPS probes: one pair per checker, closed with it. */
export class ProbeAgents {
  readonly http = new http.Agent(POOL);
  readonly https = new https.Agent(POOL);

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function probeHttp(url: string, timeoutMs: number, agents: ProbeAgents): Promise<CheckResult> {
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https : http;
    const request = client.get(url, { agent: url.startsWith('https:') ? agents.https : agents.http, signal: AbortSignal.timeout(timeoutMs), headers: { 'user-agent': 'signpost-health-check' } }, (response) => {
      const code = response.statusCode ?? 0;
      // Only the status line matters; discard the body without keeping it (the connection goes back to the pool).
      response.resume();
      const note = `HTTP GET ${url}: ${code} ${response.statusMessage ?? ''}`.trim();
      resolve({ status: code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical', note });
    });
    request.on('error', (error) => {
      const reason = error.name === 'AbortError' || error.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : describe(error);
      resolve({ status: 'critical', note: `HTTP GET ${url}: ${reason}` });
    });
  });
}

function probeTcp(target: string, timeoutMs: number): Promise<CheckResult> {
  const split = target.lastIndexOf(':');
  const host = target.slice(0, split).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(split + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const finish = (result: CheckResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => finish({ status: 'passing', note: `TCP connect ${target}: success` }));
    socket.once('timeout', () => finish({ status: 'critical', note: `TCP connect ${target}: timed out after ${timeoutMs} ms` }));
    socket.once('error', (error) => finish({ status: 'critical', note: `TCP connect ${target}: ${describe(error)}` }));
  });
}

function describe(error: Error): string {
  return (error as NodeJS.ErrnoException).code ?? error.message;
}
