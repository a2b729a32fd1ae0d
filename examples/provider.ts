// A tiny HTTP service that registers itself with Signpost, keeps its lease alive with
// heartbeats, and deregisters on shutdown. Plain `fetch`: no client library needed.
//
//   npm run example:provider            (PORT, SIGNPOST_URL, SERVICE, ID, WEIGHT, TTL)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST = '127.0.0.1';
const signpostUrl = (process.env.SIGNPOST_URL ?? 'http://127.0.0.1:8500').replace(/\/+$/, '');
const service = process.env.SERVICE ?? 'hello';
const ttl = integerEnv('TTL', 10);
const weight = process.env.WEIGHT === undefined ? undefined : integerEnv('WEIGHT', 100);
/** Backoff while Signpost is unreachable: doubles from the first value up to the second. */
const BACKOFF_MS = [500, 10_000] as const;
/** No request to Signpost may hang the loop (or the shutdown) for longer than this. */
const REQUEST_TIMEOUT_MS = 5_000;

const server = createServer((request, response) => {
  if (request.method !== 'GET' || request.url !== '/') {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service, id, port }));
});
await new Promise<void>((resolve) => server.listen(integerEnv('PORT', 0), HOST, resolve));
const { port } = server.address() as AddressInfo;
const id = process.env.ID ?? `${service}-${port}`;
const instanceUrl = `${signpostUrl}/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`;
log(`listening on http://${HOST}:${port}`);

const stopping = new AbortController();
const loop = keepRegistered();
// `once`: a second Ctrl-C gets Node's default handling and kills the process at once.
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

/** Register, then heartbeat every ttl/3 s; register again when Signpost forgot us (404). */
async function keepRegistered(): Promise<void> {
  let registered = false;
  let backoff: number = BACKOFF_MS[0];
  while (!stopping.signal.aborted) {
    try {
      if (!registered) {
        await register();
        registered = true;
      } else if (!(await heartbeat())) {
        // Lease deleted or Signpost restarted without our record: register again right away.
        log('heartbeat: not registered (404), registering again');
        registered = false;
        continue;
      }
      backoff = BACKOFF_MS[0];
      await pause((ttl * 1000) / 3);
    } catch (error) {
      log(`${registered ? 'heartbeat' : 'register'} failed: ${reason(error)}; retrying in ${backoff} ms`);
      await pause(backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MS[1]);
    }
  }
}

async function register(): Promise<void> {
  const response = await fetch(instanceUrl, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: HOST, port, ttl, ...(weight === undefined ? {} : { weight }) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body = await response.json();
  if (response.status >= 400 && response.status < 500) {
    // Our registration itself is wrong (bad ID, SERVICE or TTL): retrying cannot help.
    log(`register rejected: ${response.status} ${body.message}`);
    process.exit(1);
  }
  if (!response.ok) throw new Error(`HTTP ${response.status} ${body.message ?? ''}`.trim());
  log(`registered ${service}/${id} at ${HOST}:${port} (ttl ${ttl}s, weight ${body.weight}), expires ${body.expiresAt}`);
}

/** True when the lease was renewed, false when Signpost does not know the instance. */
async function heartbeat(): Promise<boolean> {
  const response = await fetch(`${instanceUrl}/heartbeat`, { method: 'PUT', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (response.status === 404) return false;
  const body = await response.json();
  if (!response.ok) throw new Error(`HTTP ${response.status} ${body.message ?? ''}`.trim());
  log(`heartbeat: ${body.status}, expires ${body.expiresAt}`);
  return true;
}

async function shutdown(signal: string): Promise<void> {
  log(`${signal}: deregistering`);
  stopping.abort();
  // Let a registration in flight land first, so the DELETE below cannot be overtaken by it.
  await loop;
  try {
    const response = await fetch(instanceUrl, { method: 'DELETE', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    log(response.status === 204 ? 'deregistered' : `deregister: HTTP ${response.status}`);
  } catch (error) {
    // Not fatal: the lease lapses on its own after the TTL.
    log(`deregister failed: ${reason(error)}`);
  }
  server.close();
  server.closeAllConnections();
  log('stopped');
  process.exit(0);
}

/** Sleeps, but wakes at once on shutdown. */
async function pause(ms: number): Promise<void> {
  await sleep(ms, undefined, { signal: stopping.signal }).catch(() => {});
}

function integerEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`provider: ${name} must be a whole number, got "${raw}"`);
    process.exit(1);
  }
  return value;
}

/** fetch hides the useful part (ECONNREFUSED, timeout) in `cause`. */
function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? (error as Error).message;
}

function log(message: string): void {
  console.log(`${new Date().toISOString()} provider ${message}`);
}
