// Questions outside the zone: answered from the cache synchronously (`fromCache`, called by
// answerQuery on the listener's hot path), or asked of the upstream resolvers (`forward`).
//
// Identical questions in flight share one upstream query: the first starts it, later ones wait on
// the same promise, and each gets its own reply built from the shared answer (its ID, its letter
// case, its size limit). A question tries the upstreams in turn, starting with the one that last
// answered, each at most FORWARD_LIMITS.triesPerUpstream times, each try bounded by the per-try
// timeout, all of it by the budget; then the client gets SERVFAIL. Only questions that start an
// upstream query are rate-limited: answers from the cache cost nothing upstream and are served at
// the speed of zone answers, which are not limited either.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SignpostConfig } from '../../config/flags.ts';
import { FORWARD_LIMITS } from '../../config/limits.ts';
import { formatHostPort, type HostPort } from '../../config/parse.ts';
import { AddressSet, addressMatcher, expandClientList } from '../../lib/addresses.ts';
import { TokenBuckets } from '../../lib/token-buckets.ts';
import { HEADER_BYTES, RCODE } from '../wire/constants.ts';
import { FoldedKeys } from '../wire/names.ts';
import type { Question } from '../wire/question.ts';
import { AnswerCache, cachedReplyBytes, rcodeReply, toCachedAnswer, writeCachedReply, type CachedAnswer } from './cache.ts';
import { isAnswerRcode, readReply } from './message.ts';
import { isSelf, RESOLV_CONF, systemNameservers } from './resolvconf.ts';
import { exchange, UpstreamError } from './upstream.ts';

export interface ForwarderOptions {
  upstreams: readonly HostPort[];
  /** Per try, ms. */
  timeoutMs: number;
  /** Per question over all tries, ms. */
  budgetMs: number;
  /** Entries; 0: no cache. */
  cacheSize: number;
  /** Seconds. */
  cacheMaxTtl: number;
  /** Upstream-bound questions per client per second; 0: no limit. */
  rateLimit: number;
  /** The clients that may use forwarding (CIDRs); others get REFUSED for names outside the zone. */
  clients: readonly string[];
  log: Logger;
}

/**
 * Answers to questions outside the zone. `fromCache` is the synchronous part the answer logic calls
 * (its `Recursion`); `forward` the asynchronous one the listeners call.
 */
export class Forwarder {
  readonly upstreams: readonly HostPort[];
  /** Who may use it, as CIDRs (for the start-up log). */
  readonly clients: readonly string[];
  readonly #clients: AddressSet;
  readonly #options: ForwarderOptions;
  readonly #cache: AnswerCache | null;
  /** Upstream-bound questions per client; null: no limit. */
  readonly #limiter: TokenBuckets | null;
  /** Cache keys: a question's name lower-cased, QTYPE and QCLASS. */
  readonly #keys = new FoldedKeys();
  readonly #inFlight = new Map<string, Promise<CachedAnswer | null>>();
  /** One per question in flight: aborted by its budget, or all at once by close(). */
  readonly #questions = new Set<AbortController>();
  #closed = false;
  /** The upstream that answered last: the next question starts there. */
  #preferred = 0;
  /** Upstreams whose last try failed, so a failure is logged once, not per question. */
  readonly #failing = new Set<number>();
  /** Since start, for metrics: questions answered from the cache, tries sent upstream, tries that got no answer. */
  cacheHits = 0;
  upstreamTries = 0;
  upstreamFailures = 0;

  constructor(options: ForwarderOptions) {
    if (options.upstreams.length === 0) throw new Error('a forwarder needs at least one upstream');
    this.#options = options;
    this.upstreams = options.upstreams;
    this.clients = options.clients;
    this.#clients = new AddressSet(addressMatcher(options.clients));
    this.#cache = options.cacheSize > 0 ? new AnswerCache(options.cacheSize) : null;
    this.#limiter = options.rateLimit > 0 ? new TokenBuckets(options.rateLimit, FORWARD_LIMITS.rateLimitClients) : null;
  }

  allows(client: string): boolean {
    return this.#clients.has(client);
  }

  fromCache(query: Buffer, question: Readonly<Question>, out: Buffer): number {
    if (this.#cache === null) return 0;
    const now = performance.now();
    const answer = this.#cache.get(this.#questionKey(query, question), now);
    if (answer === undefined) return 0;
    this.cacheHits++;
    return writeCachedReply(query, question, answer, now, out);
  }

  /** Answers in the cache now (some may have expired and not been evicted yet). */
  get cachedAnswers(): number {
    return this.#cache?.size ?? 0;
  }

  /**
   * The reply to a question answerQuery returned FORWARD for, from `client` (an address). Resolves
   * with null only once the forwarder is closed. Never rejects.
   */
  async forward(query: Buffer, question: Readonly<Question>, client: string): Promise<Buffer | null> {
    if (this.#closed) return null;
    const key = this.#questionKey(query, question);
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      if (this.#limiter !== null && this.#limiter.take(client, performance.now()) > 0) return rcodeReply(query, question, RCODE.REFUSED);
      if (this.#inFlight.size >= FORWARD_LIMITS.maxInFlight) return rcodeReply(query, question, RCODE.SERVFAIL);
      pending = this.#resolve(key);
      this.#inFlight.set(key, pending);
    }
    const answer = await pending;
    if (this.#closed) return null;
    if (answer === null) return rcodeReply(query, question, RCODE.SERVFAIL);
    const out = Buffer.allocUnsafe(cachedReplyBytes(question, answer));
    return out.subarray(0, writeCachedReply(query, question, answer, performance.now(), out));
  }

  #questionKey(query: Buffer, question: Readonly<Question>): string {
    return this.#keys.key(query, HEADER_BYTES, question.nameEnd, question.questionEnd - question.nameEnd);
  }

  /** Drops every question in flight (their clients get no reply) and the cache. */
  close(): void {
    this.#closed = true;
    for (const controller of this.#questions) controller.abort(new UpstreamError('forwarder closed'));
    this.#cache?.clear();
  }

  /** Asks the upstreams until one answers or the budget is spent; caches and returns the answer. */
  async #resolve(key: string): Promise<CachedAnswer | null> {
    const question = Buffer.from(key, 'latin1');
    const controller = new AbortController();
    const budget = setTimeout(() => controller.abort(new UpstreamError('budget spent')), this.#options.budgetMs);
    this.#questions.add(controller);
    try {
      const { upstreams } = this;
      const first = this.#preferred;
      const tries = upstreams.length * FORWARD_LIMITS.triesPerUpstream;
      for (let attempt = 0; attempt < tries && !controller.signal.aborted; attempt++) {
        const answer = await this.#ask((first + attempt) % upstreams.length, question, controller.signal);
        if (answer !== null) {
          this.#cache?.set(key, answer);
          return answer;
        }
      }
      return null;
    } finally {
      clearTimeout(budget);
      this.#questions.delete(controller);
      this.#inFlight.delete(key);
    }
  }

  /** One try at one upstream: its answer, or null when it failed, timed out or answered with an error rcode. */
  async #ask(index: number, question: Buffer, signal: AbortSignal): Promise<CachedAnswer | null> {
    const upstream = this.upstreams[index];
    const { log } = this.#options;
    let reply: Buffer;
    this.upstreamTries++;
    try {
      reply = await exchange(upstream, question, this.#options.timeoutMs, signal);
    } catch (error) {
      this.upstreamFailures++;
      if (signal.aborted) return null;
      if (!this.#failing.has(index)) {
        this.#failing.add(index);
        log.warn({ upstream: formatHostPort(upstream), err: (error as Error).message }, 'dns: upstream failed');
      }
      if (this.#preferred === index) this.#preferred = (index + 1) % this.upstreams.length;
      return null;
    }
    if (this.#failing.delete(index)) log.info({ upstream: formatHostPort(upstream) }, 'dns: upstream answers again');
    this.#preferred = index;
    const parsed = readReply(reply, HEADER_BYTES + question.length);
    if (parsed === null || !isAnswerRcode(parsed.rcode)) {
      // SERVFAIL, REFUSED and the like say the upstream could not answer this question: try the next.
      this.upstreamFailures++;
      log.debug({ upstream: formatHostPort(upstream), rcode: parsed?.rcode ?? 'malformed' }, 'dns: upstream gave no answer');
      return null;
    }
    return toCachedAnswer(parsed, performance.now(), this.#options.cacheMaxTtl);
  }
}

/**
 * The forwarder `config` asks for, or null when forwarding is off or there is no upstream to
 * forward to (then names outside the zone are REFUSED, as without forwarding). An upstream that
 * is Signpost's own listener is left out, so Signpost never forwards to itself. `localnets` in
 * --allow-recursion means the networks of `interfaces`, as they are now.
 */
export function createForwarder(
  config: Pick<SignpostConfig, 'dns' | 'recursors' | 'allowRecursion' | 'forwardTimeout' | 'forwardBudget' | 'cacheSize' | 'cacheMaxTtl' | 'forwardRateLimit'>,
  log: Logger,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): Forwarder | null {
  if (config.recursors === 'off') return null;
  let upstreams: HostPort[];
  if (config.recursors === 'resolv.conf') {
    upstreams = systemNameservers(config.dns);
    if (upstreams.length === 0) log.warn(`dns: no nameserver in ${RESOLV_CONF} other than Signpost: names outside the zone get REFUSED`);
  } else {
    upstreams = config.recursors.filter((upstream) => {
      if (!isSelf(upstream, config.dns)) return true;
      log.warn({ recursor: formatHostPort(upstream) }, 'dns: --recursor is Signpost itself; left out');
      return false;
    });
  }
  if (upstreams.length === 0) return null;
  return new Forwarder({
    upstreams,
    timeoutMs: config.forwardTimeout,
    budgetMs: config.forwardBudget,
    cacheSize: config.cacheSize,
    cacheMaxTtl: config.cacheMaxTtl,
    rateLimit: config.forwardRateLimit,
    clients: expandClientList(config.allowRecursion, interfaces),
    log,
  });
}
