// Watching for changes: blocking queries and server-sent events against the running server.
import { afterEach, describe, expect, it } from 'vitest';
import { openSse, type SseStream } from './helpers/sse.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const servers: TestSignpost[] = [];
const streams: SseStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  for (const server of servers.splice(0)) await server.close();
});

async function start(config: Parameters<typeof startTestSignpost>[0] = {}) {
  const signpost = await startTestSignpost(config);
  servers.push(signpost);
  return signpost;
}

async function sse(url: string, headers: Record<string, string> = {}) {
  const stream = await openSse(url, headers);
  streams.push(stream);
  return stream;
}

const heartbeat = (signpost: TestSignpost, service: string, id: string) =>
  fetch(`${signpost.url}/v1/services/${service}/instances/${id}/heartbeat`, { method: 'PUT' });

describe('blocking queries', () => {
  it('every response carries X-Signpost-Index; a blocking query returns as soon as the service changes', async () => {
    const signpost = await start();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    const first = await fetch(`${signpost.url}/v1/services/web`);
    const index = Number(first.headers.get('x-signpost-index'));
    expect(index).toBeGreaterThan(0);
    expect((await first.json()).index).toBe(index);

    const blocked = fetch(`${signpost.url}/v1/services/web?index=${index}&wait=30`);
    let settled = false;
    void blocked.then(() => (settled = true));
    // A change to another service and a heartbeat change nothing visible here: still blocked.
    await signpost.register('other', 'x', { address: '10.0.0.9', port: 80 });
    await heartbeat(signpost, 'web', 'a');
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    expect(settled).toBe(false);

    await signpost.register('web', 'b', { address: '10.0.0.2', port: 80 });
    const response = await blocked;
    const woken = Number(response.headers.get('x-signpost-index'));
    expect(woken).toBeGreaterThan(index);
    expect((await response.json()).instances.map((instance: { id: string }) => instance.id)).toEqual(['a', 'b']);
  });

  it('returns the same body and index after `wait` when nothing changed', async () => {
    const signpost = await start();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    const first = await fetch(`${signpost.url}/v1/services/web`);
    const index = first.headers.get('x-signpost-index');
    const body = await first.json();
    const second = await fetch(`${signpost.url}/v1/services/web?index=${index}&wait=0.3`);
    expect(second.headers.get('x-signpost-index')).toBe(index);
    const secondBody = await second.json();
    expect(secondBody).toEqual(body);
  });

  it('returns at once when the index is already behind, and wakes for a service that appears', async () => {
    const signpost = await start();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    const immediate = await fetch(`${signpost.url}/v1/services/web?index=1&wait=30`);
    expect(immediate.status).toBe(200);

    const missing = await fetch(`${signpost.url}/v1/services/later`);
    expect(missing.status).toBe(404);
    const index = Number(missing.headers.get('x-signpost-index'));
    const blocked = fetch(`${signpost.url}/v1/services/later?index=${index}&wait=30`);
    await signpost.register('later', 'l1', { address: '10.0.0.3', port: 80 });
    const response = await blocked;
    expect(response.status).toBe(200);
    expect((await response.json()).instances).toHaveLength(1);
  });

  it('health changes wake watchers', async () => {
    const signpost = await start();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    const index = (await (await fetch(`${signpost.url}/v1/services/web`)).json()).index;
    const blocked = fetch(`${signpost.url}/v1/services/web?index=${index}&wait=30`);
    await fetch(`${signpost.url}/v1/services/web/instances/a/heartbeat`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'warning', note: 'slow' }),
    });
    const body = await (await blocked).json();
    expect(body.instances[0]).toMatchObject({ status: 'warning', health: { lease: { note: 'slow' } } });
  });
});

describe('server-sent events', () => {
  it('streams register, health, settings and deregister events with ids', async () => {
    const signpost = await start();
    const stream = await sse(`${signpost.url}/v1/watch`);
    expect(stream.status).toBe(200);
    const hello = await stream.next();
    expect(hello.event).toBe('hello');
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    await fetch(`${signpost.url}/v1/services/web/instances/a/heartbeat`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'critical' }),
    });
    await fetch(`${signpost.url}/v1/services/web/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ warmup: 5 }),
    });
    await fetch(`${signpost.url}/v1/services/web/instances/a`, { method: 'DELETE' });
    const events = [await stream.next(), await stream.next(), await stream.next(), await stream.next()];
    expect(events.map((event) => event.event)).toEqual(['register', 'health', 'settings', 'deregister']);
    const ids = events.map((event) => Number(event.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(Number(events[0].id)).toBeGreaterThan(Number(hello.id));
    expect(JSON.parse(events[0].data)).toMatchObject({ type: 'register', service: 'web', id: 'a', instance: { address: '10.0.0.1' } });
    expect(JSON.parse(events[1].data)).toMatchObject({ type: 'health', previous: 'passing', instance: { status: 'critical' } });
    expect(JSON.parse(events[2].data)).toMatchObject({ type: 'settings', settings: { warmup: 5 } });
    expect(JSON.parse(events[3].data)).toMatchObject({ type: 'deregister', reason: 'request' });
  });

  it('filters by service', async () => {
    const signpost = await start();
    const stream = await sse(`${signpost.url}/v1/watch?service=db`);
    await stream.next();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    await signpost.register('db', 'd', { address: '10.0.0.2', port: 5432 });
    const event = await stream.next();
    expect(JSON.parse(event.data)).toMatchObject({ service: 'db', id: 'd' });
  });

  it('a client reconnecting with Last-Event-ID receives what it missed', async () => {
    const signpost = await start();
    const first = await sse(`${signpost.url}/v1/watch`);
    await first.next();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80 });
    const seen = await first.next();
    first.close();
    await signpost.register('web', 'b', { address: '10.0.0.2', port: 80 });
    await signpost.register('web', 'c', { address: '10.0.0.3', port: 80 });
    const resumed = await sse(`${signpost.url}/v1/watch`, { 'last-event-id': seen.id! });
    const missed = [await resumed.next(), await resumed.next()];
    expect(missed.map((event) => JSON.parse(event.data).id)).toEqual(['b', 'c']);
    await signpost.register('web', 'd', { address: '10.0.0.4', port: 80 });
    expect(JSON.parse((await resumed.next()).data).id).toBe('d');
  });

  it('a reset when the history no longer reaches back far enough', async () => {
    const signpost = await start({ watchHistory: 3 });
    const first = await sse(`${signpost.url}/v1/watch`);
    const hello = await first.next();
    first.close();
    for (let i = 0; i < 10; i++) await signpost.register('web', `i${i}`, { address: '10.0.0.1', port: 80 });
    const resumed = await sse(`${signpost.url}/v1/watch`, { 'last-event-id': hello.id! });
    const reset = await resumed.next();
    expect(reset.event).toBe('reset');
    expect(Number(reset.id)).toBe(signpost.registry.index);
    // An id from the future (another server, a restart with a different history) is a reset too.
    const future = await sse(`${signpost.url}/v1/watch`, { 'last-event-id': String(signpost.registry.index + 1000) });
    expect((await future.next()).event).toBe('reset');
  });

  it('open watches are bounded and visible in /healthz', async () => {
    const signpost = await start({ maxWatches: 2 });
    const a = await sse(`${signpost.url}/v1/watch`);
    await a.next();
    const b = await sse(`${signpost.url}/v1/watch`);
    await b.next();
    expect((await (await fetch(`${signpost.url}/healthz`)).json()).watches).toMatchObject({ open: 2, max: 2, streams: { open: 2, behind: 0, cutOff: 0 } });
    const refused = await fetch(`${signpost.url}/v1/watch`);
    expect(refused.status).toBe(503);
    expect((await refused.json()).message).toMatch(/too many open watches/);
    const blocking = await fetch(`${signpost.url}/v1/services/x?index=${signpost.registry.index}&wait=5`);
    expect(blocking.status).toBe(503);
    a.close();
    // The slot frees when the server sees the disconnect; wait for it through the health endpoint.
    for (let open = 2; open === 2; ) open = (await (await fetch(`${signpost.url}/healthz`)).json()).watches.open;
    const again = await sse(`${signpost.url}/v1/watch`);
    expect(again.status).toBe(200);
  });

  it('a consumer that stops reading does not hold up the registry or other consumers', async () => {
    const signpost = await start();
    // A raw socket that asks for the stream and never reads a byte.
    const net = await import('node:net');
    const stalled = net.connect(signpost.http.port, '127.0.0.1');
    stalled.write(`GET /v1/watch HTTP/1.1\r\nHost: x\r\n\r\n`);
    stalled.pause();
    const healthy = await sse(`${signpost.url}/v1/watch`);
    await healthy.next();
    const meta = { blob: 'x'.repeat(200) };
    for (let i = 0; i < 300; i++) await signpost.register('bulk', `n${i}`, { address: '10.0.0.1', port: 80, meta });
    let received = 0;
    while (received < 300) {
      if ((await healthy.next()).event === 'register') received++;
    }
    expect(received).toBe(300);
    stalled.destroy();
  });
});
