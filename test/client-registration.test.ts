// signpost/client registering against a real Signpost: batched heartbeats, registering again when
// the server forgot, reported status, failover, Retry-After, errors as events, deregistration.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignpostClient, SignpostError } from '../src/client/index.ts';
import { deadPort, startProxy, type TestProxy } from './helpers/proxy.ts';
import { failure } from './helpers/failure.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;
let proxy: TestProxy;
const clients: SignpostClient[] = [];

function client(options: ConstructorParameters<typeof SignpostClient>[0] = {}): SignpostClient {
  const created = new SignpostClient({ url: proxy.url, ...options });
  clients.push(created);
  return created;
}

const instance = (service: string, id: string, port: number, extra: Record<string, unknown> = {}) => ({ service, id, address: '127.0.0.1', port, ...extra });

beforeAll(async () => {
  signpost = await startTestSignpost(NO_OVERLOAD_GUARD);
  proxy = await startProxy(signpost.http.port);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((each) => each.close()));
});

afterAll(async () => {
  await proxy?.close();
  await signpost?.close();
});

describe('register and keep alive', () => {
  it('registers with the given fields, and renews every registration of the process in one PUT /v1/heartbeats a tick', async () => {
    const batch = client();
    const registrations = await Promise.all(
      Array.from({ length: 40 }, (_, i) => batch.register(instance('batch', `batch-${i}`, 2000 + i, { ttl: 1, weight: 7, tags: ['v2'], meta: { zone: 'a' } }))),
    );
    expect(signpost.registry.get('batch', 'batch-3')).toMatchObject({ port: 2003, weight: 7, ttl: 1, tags: ['v2'], meta: { zone: 'a' }, status: 'passing' });
    const registered = registrations.map((registration) => signpost.registry.get('batch', registration.id)!.expiresAt!);
    const first = proxy.requests.length;
    // Every lease gets renewed (its deadline moves): ticks of about ttl/3 follow until it has.
    const renewed = () => registrations.every((registration, i) => signpost.registry.get('batch', registration.id)!.expiresAt! > registered[i]);
    while (!renewed()) await proxy.nextRequest(/^PUT \/v1\/heartbeats$/);
    // By batch requests only, each holding every lease due: a few ticks' worth, none one by one (that would be 40).
    const during = proxy.requests.slice(first);
    expect(during.length).toBeLessThan(10);
    expect(during.filter((line) => line.startsWith('PUT /v1/services'))).toEqual([]);
    expect(during.every((line) => line === 'PUT /v1/heartbeats')).toBe(true);
    expect(registrations.every((registration) => registration.expiresAt!.getTime() > registered[0])).toBe(true);
  });

  it('registers again when the server forgot the instance (404 on heartbeat)', async () => {
    const forgetful = client();
    const reregistered = once(forgetful, 'reregister');
    const registration = await forgetful.register(instance('forgot', 'forgot-1', 3001, { ttl: 1, weight: 3 }));
    const back = signpost.nextEvent((event) => event.type === 'register' && event.instance.id === 'forgot-1');
    await signpost.registry.deregister('forgot', 'forgot-1');
    await back;
    expect((await reregistered)[0]).toBe(registration);
    expect(signpost.registry.get('forgot', 'forgot-1')).toMatchObject({ port: 3001, weight: 3, status: 'passing' });
  });

  it('reports a status with a note, delivered when setStatus resolves, and kept across re-registration', async () => {
    const reporter = client();
    const registration = await reporter.register(instance('status', 'status-1', 3002, { ttl: 1 }));
    await registration.setStatus('warning', 'disk 91%');
    expect(signpost.registry.get('status', 'status-1')!.health.lease).toMatchObject({ status: 'warning', note: 'disk 91%' });
    expect(registration.status).toBe('warning');
    const again = signpost.nextEvent((event) => event.type === 'health' && event.instance.id === 'status-1' && event.instance.status === 'warning');
    await signpost.registry.deregister('status', 'status-1');
    await again;
    await registration.setStatus('passing');
    expect(signpost.registry.get('status', 'status-1')!.status).toBe('passing');
  });

  it('a ttl 0 registration is never renewed; a status it reports is refused (409) and said in an error event', async () => {
    const keeper = client();
    const errors: SignpostError[] = [];
    keeper.on('error', (error: SignpostError) => errors.push(error));
    const forever = await keeper.register(instance('forever', 'forever-1', 3007, { ttl: 0 }));
    await keeper.register(instance('forever', 'leased-1', 3008, { ttl: 1 }));
    expect(forever.expiresAt).toBeNull();
    await forever.setStatus('warning', 'ignored');
    expect(errors.map((error) => error.status)).toEqual([409]);
    // Two more ticks renew the leased one; the ttl 0 one is not in them (it would be refused again).
    await proxy.nextRequest(/^PUT \/v1\/heartbeats$/);
    await proxy.nextRequest(/^PUT \/v1\/heartbeats$/);
    expect(errors).toHaveLength(1);
    expect(signpost.registry.get('forever', 'forever-1')!.status).toBe('passing');
  });

  it('deregister() removes the instance; close() removes every registration of the client', async () => {
    const owner = client();
    const one = await owner.register(instance('bye', 'bye-1', 3003));
    await owner.register(instance('bye', 'bye-2', 3004));
    await owner.register(instance('bye', 'bye-3', 3005));
    await one.deregister();
    expect(signpost.registry.get('bye', 'bye-1')).toBeUndefined();
    expect(signpost.registry.instances('bye')).toHaveLength(2);
    await owner.close();
    expect(signpost.registry.instances('bye')).toBeUndefined();
    await expect(owner.register(instance('bye', 'bye-4', 3006))).rejects.toThrow('the client is closed');
  });

  it('rejects a registration the server refuses, with its words and the field', async () => {
    const error = await failure(client().register(instance('bad', 'bad-1', 70000)));
    expect(error).toBeInstanceOf(SignpostError);
    expect(error).toMatchObject({ code: 'rejected', status: 400, field: 'port' });
    expect(error.message).toBe('register bad/bad-1: 400 port must be <= 65535');
  });
});

describe('servers that fail', () => {
  it('fails over to the next URL when one is down', async () => {
    const both = client({ url: [`http://127.0.0.1:${await deadPort()}`, proxy.url] });
    const registration = await both.register(instance('failover', 'failover-1', 3010));
    expect(signpost.registry.get('failover', 'failover-1')).toBeDefined();
    await registration.deregister();
  });

  it('moves heartbeats to another server when its server goes away, and registers there', async () => {
    const other = await startTestSignpost(NO_OVERLOAD_GUARD);
    const otherProxy = await startProxy(other.http.port);
    try {
      const pair = client({ url: [proxy.url, otherProxy.url] });
      await pair.register(instance('moved', 'moved-1', 3011, { ttl: 1 }));
      const arrived = other.nextEvent((event) => event.type === 'register' && event.instance.id === 'moved-1');
      await proxy.cut();
      await arrived;
      expect(other.registry.get('moved', 'moved-1')).toMatchObject({ port: 3011, status: 'passing' });
    } finally {
      await proxy.restore();
      await otherProxy.close();
      await other.close();
    }
  });

  it('waits out Retry-After on 429 and then succeeds', async () => {
    const limited = await startTestSignpost({ ...NO_OVERLOAD_GUARD, httpWriteRateLimit: 1, rateLimitExempt: [] });
    try {
      const patient = new SignpostClient({ url: limited.url });
      // Three writes at once against one a second: two wait for the Retry-After the server sends.
      await Promise.all([1, 2, 3].map((i) => patient.register(instance('limited', `limited-${i}`, 3020 + i))));
      expect(limited.registry.instances('limited')).toHaveLength(3);
      const metrics = await (await fetch(`${limited.url}/metrics`)).text();
      const tooMany = [...metrics.matchAll(/signpost_http_requests_total\{[^}]*status="429"[^}]*\} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
      // Honouring "Retry-After: 1" means one refused try per write that waited and no more (a client
      // retrying on its own short backoff gets several more 429s in the same time).
      expect(tooMany).toBeGreaterThan(0);
      expect(tooMany).toBeLessThanOrEqual(3);
      await patient.close();
      expect(limited.registry.instances('limited')).toBeUndefined();
    } finally {
      await limited.close();
    }
  });

  it('rejects register() with code unavailable when no server answers within retryFor', async () => {
    const nowhere = client({ url: `http://127.0.0.1:${await deadPort()}`, retryFor: 300 });
    const error = await failure(nowhere.register(instance('none', 'none-1', 3030)));
    expect(error).toMatchObject({ code: 'unavailable' });
    expect(error.message).toMatch(/no Signpost server answered PUT \/v1\/services\/none\/instances\/none-1: http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('emits heartbeat failures as error events, and as process warnings when nobody listens', async () => {
    const listened = client();
    await listened.register(instance('outage', 'outage-1', 3040, { ttl: 1 }));
    const unlistened = client();
    await unlistened.register(instance('outage', 'outage-2', 3041, { ttl: 1 }));
    const error = once(listened, 'error');
    const warning = once(process, 'warning');
    await proxy.cut();
    try {
      const [emitted] = (await error) as [SignpostError];
      expect(emitted).toBeInstanceOf(SignpostError);
      expect(emitted.message).toMatch(/no Signpost server answered PUT \/v1\/heartbeats/);
      const [warned] = (await warning) as [Error];
      expect(warned.name).toBe('SignpostError');
    } finally {
      await proxy.restore();
    }
  });
});

describe('signals', () => {
  it('deregisterOnSignal: SIGTERM deregisters, then the process ends by the signal as it would have', async () => {
    const script = fileURLToPath(new URL('./fixtures/register-until-signal.ts', import.meta.url));
    const child = spawn(process.execPath, [script, proxy.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    expect(signpost.registry.get('signal', 'signal-1')).toBeDefined();
    const gone = signpost.nextEvent((event) => event.type === 'deregister' && event.instance.id === 'signal-1');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await gone;
    expect(await exited).toEqual([null, 'SIGTERM']);
  });
});
