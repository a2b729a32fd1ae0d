// signpost/grpc with the real @grpc/grpc-js: round_robin over the healthy instances of a service,
// following registrations, deregistrations, health and maintenance through the event stream.
import { connectivityState, credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignpostClient, type Registration } from '../src/client/index.ts';
import '../src/grpc/index.ts';
import { GreeterClient, greeterService, type HelloReply } from '../examples/greeter.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;
let proxy: TestProxy;
let client: SignpostClient;
const servers: Server[] = [];
const callers: Array<InstanceType<typeof GreeterClient>> = [];

const ROUND_ROBIN = { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }), 'grpc.enable_http_proxy': 0 };

/** Starts a greeter answering with its name, and registers it. */
async function greeter(name: string, service = 'greeter', registrar = client): Promise<Registration> {
  const server = new Server();
  server.addService(greeterService, { sayHello: (call: { request: { name: string } }, reply: (error: null, value: HelloReply) => void) => reply(null, { message: `hello ${call.request.name}`, from: name }) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  servers.push(server);
  return registrar.register({ service, id: name, address: '127.0.0.1', port });
}

function caller(target: string, options: Record<string, unknown> = {}) {
  const created = new GreeterClient(target, credentials.createInsecure(), { ...ROUND_ROBIN, ...options });
  callers.push(created);
  return created;
}

function hello(greeterClient: InstanceType<typeof GreeterClient>): Promise<HelloReply> {
  return new Promise((resolve, reject) =>
    (greeterClient as unknown as { sayHello(request: object, done: (error: ServiceError | null, reply: HelloReply) => void): void }).sayHello({ name: 'test' }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    ),
  );
}

/** Who answered `count` calls in a row. */
async function answers(greeterClient: InstanceType<typeof GreeterClient>, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add((await hello(greeterClient)).from);
  return seen;
}

/** Calls until `count` answers in a row come from exactly `expected` (a change has propagated). */
async function settlesOn(greeterClient: InstanceType<typeof GreeterClient>, expected: string[], count = 12): Promise<void> {
  for (;;) {
    const seen = await answers(greeterClient, count).catch(() => new Set<string>());
    if ([...seen].sort().join() === [...expected].sort().join()) return;
  }
}

beforeAll(async () => {
  signpost = await startTestSignpost(NO_OVERLOAD_GUARD);
  proxy = await startProxy(signpost.http.port);
  client = new SignpostClient({ url: signpost.url });
});

afterAll(async () => {
  for (const each of callers) each.close();
  await client?.close();
  for (const server of servers) server.forceShutdown();
  await proxy?.close();
  await signpost?.close();
});

describe('signpost: resolver', () => {
  it('balances over every healthy instance, and follows registration, health, maintenance and deregistration', async () => {
    const a = await greeter('a');
    await greeter('b');
    const greeters = caller(`signpost://127.0.0.1:${proxy.port}/greeter`);
    expect(await answers(greeters, 10)).toEqual(new Set(['a', 'b']));

    const c = await greeter('c');
    await settlesOn(greeters, ['a', 'b', 'c']);
    await c.setStatus('critical', 'out of memory');
    await settlesOn(greeters, ['a', 'b']);
    await c.setStatus('passing');
    await settlesOn(greeters, ['a', 'b', 'c']);
    await fetch(`${signpost.url}/v1/services/greeter/instances/b/maintenance`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'upgrade' }),
    });
    await settlesOn(greeters, ['a', 'c']);
    await a.deregister();
    await settlesOn(greeters, ['c']);
    // Pushed, not polled: over these changes the resolver read the service once per event burst,
    // and opened one stream; no request repeats on a timer (calls themselves ask Signpost nothing).
    const before = proxy.requests.length;
    await answers(greeters, 50);
    expect(proxy.requests.slice(before)).toEqual([]);
    expect(proxy.requests.filter((line) => line.startsWith('GET /v1/watch'))).toEqual(['GET /v1/watch?service=greeter']);
  });

  it('signpost:///NAME takes the server from SIGNPOST_URL (or the channel option), and keeps the last instances through an outage', async () => {
    await greeter('solo', 'lonely');
    const previous = process.env.SIGNPOST_URL;
    process.env.SIGNPOST_URL = proxy.url;
    try {
      const lonely = caller('signpost:///lonely');
      expect(await answers(lonely, 3)).toEqual(new Set(['solo']));
      await proxy.cut();
      expect(await answers(lonely, 5)).toEqual(new Set(['solo']));
    } finally {
      await proxy.restore();
      if (previous === undefined) delete process.env.SIGNPOST_URL;
      else process.env.SIGNPOST_URL = previous;
    }
    const byOption = caller('signpost:///lonely', { 'signpost.url': signpost.url });
    expect(await answers(byOption, 2)).toEqual(new Set(['solo']));
  });

  it('fails calls with UNAVAILABLE naming the reason when a service has no healthy instance', async () => {
    const nobody = caller(`signpost://127.0.0.1:${signpost.http.port}/nobody`);
    const error = await hello(nobody).then(
      () => undefined,
      (caught: ServiceError) => caught,
    );
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toContain('no instance of nobody is registered in Signpost');
  });

  it('reopens the stream after the channel went idle (destroy, then updateResolution)', async () => {
    // A server of its own: its open watches are this channel's stream and nothing else.
    const own = await startTestSignpost(NO_OVERLOAD_GUARD);
    const registrar = new SignpostClient({ url: own.url });
    try {
      const openWatches = async () => ((await (await fetch(`${own.url}/healthz`)).json()) as { watches: { open: number } }).watches.open;
      await greeter('idle-1', 'idler', registrar);
      const idler = caller(`signpost://127.0.0.1:${own.http.port}/idler`, { 'grpc.client_idle_timeout_ms': 1000 });
      expect(await answers(idler, 2)).toEqual(new Set(['idle-1']));
      expect(await openWatches()).toBe(1);
      // Idle: grpc-js destroys the resolver; the next call resolves again.
      const channel = idler.getChannel();
      for (let state = channel.getConnectivityState(false); state !== connectivityState.IDLE; state = channel.getConnectivityState(false)) {
        await new Promise((resolve) => channel.watchConnectivityState(state, Date.now() + 10_000, resolve));
      }
      // Its event stream was closed (the server sees it go)...
      while ((await openWatches()) !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
      // ...and the next call opens it again, following changes as before.
      await greeter('idle-2', 'idler', registrar);
      await settlesOn(idler, ['idle-1', 'idle-2']);
      expect(await openWatches()).toBe(1);
    } finally {
      await registrar.close();
      await own.close();
    }
  });
});
