// The overload guard: HTTP answers 503 with Retry-After while the event loop lags, so DNS, which
// shares the loop, keeps answering. @fastify/under-pressure measures the lag.
import { performance } from 'node:perf_hooks';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { ABUSE_LIMITS } from '../config/limits.ts';
import { HttpError } from './errors.ts';

class Overloaded extends HttpError {
  constructor() {
    super(503, 'server overloaded; retry later');
  }
}

/**
 * Sheds requests while the event loop lags more than `maxDelayMs`. The lag is judged only from the
 * first measurement that lies wholly after the server started listening: start-up work (opening
 * the store, compiling routes) blocks the loop once, and a busy machine stretches it, but it is not
 * load to shed; without this the first requests after a start could get 503. Routes exempt
 * themselves with `config.pressureHandler: () => undefined` (/healthz, /metrics).
 */
export function installOverloadGuard(app: FastifyInstance, maxDelayMs: number): void {
  const sampleIntervalMs = Math.max(10, Math.min(1000, maxDelayMs));
  let judgingFrom = Infinity;
  // Measurements are taken every interval from registration on: the second after listening is the
  // first whose window starts after it.
  app.addHook('onListen', async () => {
    judgingFrom = performance.now() + 2 * sampleIntervalMs;
  });
  app.register(underPressure, {
    maxEventLoopDelay: maxDelayMs,
    sampleInterval: sampleIntervalMs,
    pressureHandler: (_request, reply, type) => {
      if (type === 'eventLoopDelay' && performance.now() < judgingFrom) return undefined;
      reply.header('retry-after', ABUSE_LIMITS.overloadRetryAfterSeconds);
      return Promise.reject(new Overloaded());
    },
  });
}
