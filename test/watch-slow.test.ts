// Event streams whose clients read slowly or not at all: what the server holds for them is bounded,
// a stream that catches up gets every event in order, and one that falls out of the history is closed.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WATCH_LIMITS } from '../src/config/limits.ts';
import type { StreamFigures } from '../src/watch/hub.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { eventually } from './helpers/wait.ts';

const servers: TestSignpost[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function start(config: Parameters<typeof startTestSignpost>[0] = {}) {
  const signpost = await startTestSignpost(config);
  servers.push(signpost);
  return signpost;
}

/** The server's own figures for its event streams, from /healthz. */
async function streams(signpost: TestSignpost): Promise<StreamFigures & { watches: number }> {
  const { watches } = (await (await fetch(`${signpost.url}/healthz`)).json()) as { watches: { open: number; streams: StreamFigures } };
  return { ...watches.streams, watches: watches.open };
}

/** A raw connection asking for the event stream, that reads nothing until told to. */
async function stalledStream(signpost: TestSignpost): Promise<{ socket: net.Socket; received: () => string }> {
  const socket = net.connect(signpost.http.port, '127.0.0.1');
  sockets.push(socket);
  socket.pause();
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  socket.write('GET /v1/watch HTTP/1.1\r\nHost: signpost\r\n\r\n');
  await eventually(async () => ((await streams(signpost)).open === 1 ? true : undefined), 10_000, 'the stream to open');
  return { socket, received: () => text };
}

/** Largest meta a registration may carry (64 entries of a 255-byte TXT string): ~16 KiB of JSON an event. */
const BULKY_META = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, String(i).padEnd(250, 'x')]));
let next = 0;
const registerBulky = (signpost: TestSignpost) => signpost.register('bulk', `n${next++}`, { address: '10.0.0.1', port: 80, meta: BULKY_META });

/** Registers bulky instances until the server says the stalled stream waits on its socket (the kernel's buffers are full). */
async function fillUntilBehind(signpost: TestSignpost): Promise<number> {
  for (let sent = 0; sent < 5_000; sent += 10) {
    await Promise.all(Array.from({ length: 10 }, () => registerBulky(signpost)));
    const figures = await streams(signpost);
    expect(figures.largestQueueBytes).toBeLessThan(2 * WATCH_LIMITS.streamQueuedBytes);
    if (figures.behind === 1) return sent + 10;
  }
  throw new Error('the stream never fell behind');
}

describe('event streams that do not keep up', () => {
  it('a client that stops reading costs the server at most its queue bound, and is closed once it falls out of the history', async () => {
    const signpost = await start({ watchHistory: 50 });
    const stalled = await stalledStream(signpost);
    await fillUntilBehind(signpost);
    // Events keep coming while it does not read: what the server holds for it does not grow.
    let figures = await streams(signpost);
    for (let i = 0; i < 200 && figures.open === 1; i++) {
      await registerBulky(signpost);
      figures = await streams(signpost);
      expect(figures.largestQueueBytes).toBeLessThan(2 * WATCH_LIMITS.streamQueuedBytes);
    }
    // More than the history (50 events) behind: closed, its watch slot free again.
    expect(figures).toMatchObject({ open: 0, behind: 0, cutOff: 1, largestQueueBytes: 0, watches: 0 });
    // The client, reading again, finds the end of the stream after what the kernel held.
    const closed = new Promise((resolve) => stalled.socket.once('close', resolve));
    stalled.socket.resume();
    await closed;
    expect(stalled.received()).toMatch(/^HTTP\/1\.1 200 OK/);
  });

  it('a client that reads again after falling behind gets every event once, in order, from the history', async () => {
    const signpost = await start();
    const stalled = await stalledStream(signpost);
    const firstIndex = signpost.registry.index;
    const sentBehind = await fillUntilBehind(signpost);
    for (let i = 0; i < 20; i++) await registerBulky(signpost);
    const total = sentBehind + 20;
    expect((await streams(signpost)).behind).toBe(1);
    stalled.socket.resume();
    const ids = await eventually(() => {
      const found = [...stalled.received().matchAll(/id: (\d+)\nevent: register\n/g)].map((match) => Number(match[1]));
      return found.length >= total ? found : undefined;
    }, 30_000, `${total} register events`);
    expect(ids).toHaveLength(total);
    expect(ids.every((id, i) => id > (i === 0 ? firstIndex : ids[i - 1]))).toBe(true);
    await eventually(async () => ((await streams(signpost)).behind === 0 ? true : undefined), 10_000, 'the stream to catch up');
    expect(await streams(signpost)).toMatchObject({ open: 1, cutOff: 0 });
  });
});

describe('many watchers woken by one change', () => {
  it('every stream and blocking query gets it, and a shared answer does not outlive the change that woke it', async () => {
    const signpost = await start();
    await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80, ttl: 60 });
    const native = Number((await fetch(`${signpost.url}/v1/services/web`)).headers.get('x-signpost-index'));
    const consul = Number((await fetch(`${signpost.url}/v1/health/service/web`)).headers.get('x-consul-index'));
    const held = [
      ...Array.from({ length: 30 }, () => fetch(`${signpost.url}/v1/services/web?index=${native}&wait=60`)),
      ...Array.from({ length: 30 }, () => fetch(`${signpost.url}/v1/health/service/web?index=${consul}&wait=60s`)),
    ];
    await eventually(async () => ((await (await fetch(`${signpost.url}/healthz`)).json()).watches.open === 60 ? true : undefined), 10_000, '60 held queries');
    await signpost.register('web', 'web-2', { address: '10.0.0.2', port: 80, ttl: 60 });
    const answers = await Promise.all(held.map(async (response) => ({ type: (await response).headers.get('content-type'), body: await (await response).json() })));
    for (const { type, body } of answers.slice(0, 30)) {
      expect(type).toBe('application/json; charset=utf-8');
      expect((body as { instances: Array<{ id: string }> }).instances.map((instance) => instance.id)).toEqual(['web-1', 'web-2']);
    }
    for (const { body } of answers.slice(30)) expect((body as Array<{ Service: { ID: string } }>).map((entry) => entry.Service.ID).sort()).toEqual(['web-1', 'web-2']);
    // A heartbeat takes no index but moves expiresAt: a query held at the same index afterwards (it
    // answers when its wait ends) shows the new expiry, not the answer shared by the woken ones.
    const shared = (answers[0].body as { index: number; instances: Array<{ id: string; expiresAt: string }> });
    expect((await fetch(`${signpost.url}/v1/services/web/instances/web-1/heartbeat`, { method: 'PUT' })).status).toBe(200);
    const later = (await (await fetch(`${signpost.url}/v1/services/web?index=${shared.index}&wait=1`)).json()) as typeof shared;
    expect(later.index).toBe(shared.index);
    expect(Date.parse(later.instances[0].expiresAt)).toBeGreaterThan(Date.parse(shared.instances[0].expiresAt));
  });
});
