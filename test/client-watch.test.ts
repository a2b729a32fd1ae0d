// client.watch() against a real Signpost: events in order, resumed after the connection is cut
// (nothing lost, nothing twice), `reset` after a restart, and a process that waits stays alive.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignpostClient, type WatchEvent } from '../src/client/index.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;
let proxy: TestProxy;
let client: SignpostClient;

beforeAll(async () => {
  signpost = await startTestSignpost(NO_OVERLOAD_GUARD);
  proxy = await startProxy(signpost.http.port);
  client = new SignpostClient({ url: proxy.url });
});

afterAll(async () => {
  await client?.close();
  await proxy?.close();
  await signpost?.close();
});

/** The next `count` events of `watch`. */
async function take(watch: AsyncIterator<WatchEvent>, count: number): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  while (events.length < count) events.push((await watch.next()).value as WatchEvent);
  return events;
}

const describeEvent = (event: WatchEvent) => (event.type === 'reset' ? 'reset' : event.type === 'settings' ? `settings ${event.service}` : `${event.type} ${event.id}`);

describe('watch', () => {
  it('yields the changes of one service in order, with the instance as it was', async () => {
    const watch = client.watch('shop');
    const other = new SignpostClient({ url: signpost.url });
    try {
      await watch.ready;
      await other.register({ service: 'elsewhere', id: 'x-1', address: '10.0.0.1', port: 80 });
      const registration = await other.register({ service: 'shop', id: 'shop-1', address: '10.0.0.1', port: 8080 });
      await registration.setStatus('warning', 'slow disk');
      await registration.deregister();
      const events = await take(watch, 3);
      expect(events.map(describeEvent)).toEqual(['register shop-1', 'health shop-1', 'deregister shop-1']);
      expect(events[1]).toMatchObject({ type: 'health', previous: 'passing', instance: { status: 'warning', health: { lease: { note: 'slow disk' } } } });
      expect(events[0].index).toBeLessThan(events[1].index);
    } finally {
      watch.close();
      await other.close();
    }
  });

  it('ends when the server refuses the stream for good: ready and next() reject with its reason, then the watch is done', async () => {
    const watch = client.watch('Not_A_Label');
    await expect(watch.ready).rejects.toMatchObject({ code: 'rejected', status: 400, message: expect.stringContaining('service must be a DNS label') });
    await expect(watch.next()).rejects.toMatchObject({ status: 400 });
    expect(await watch.next()).toEqual({ value: undefined, done: true });
  });

  it('resumes after the connection is cut mid-stream: every event once, in order', async () => {
    const watch = client.watch('burst');
    const total = 300;
    try {
      await watch.ready;
      const producing = (async () => {
        for (let i = 0; i < total; i++) await signpost.register('burst', `burst-${i}`, { address: '10.0.0.2', port: 1000 + i });
      })();
      const events: WatchEvent[] = [];
      for await (const event of watch) {
        events.push(event);
        // Cut twice while events are still being produced and sent.
        if (events.length === 60 || events.length === 180) proxy.drop();
        if (events.length === total) break;
      }
      await producing;
      const ids = events.map((event) => (event.type === 'register' ? event.id : event.type));
      expect(ids).toEqual(Array.from({ length: total }, (_, i) => `burst-${i}`));
      expect(events.every((event, i) => i === 0 || event.index > events[i - 1].index)).toBe(true);
      // The stream was really reopened (with Last-Event-ID): once at the start and after each cut.
      expect(proxy.requests.filter((line) => line === 'GET /v1/watch?service=burst').length).toBeGreaterThanOrEqual(3);
    } finally {
      watch.close();
    }
  });

  it('starts after a given index: what happened since is replayed first', async () => {
    const from = signpost.registry.index;
    await signpost.register('replay', 'replay-1', { address: '10.0.0.3', port: 1 });
    await signpost.register('replay', 'replay-2', { address: '10.0.0.3', port: 2 });
    const watch = client.watch('replay', { after: from });
    try {
      expect((await take(watch, 2)).map(describeEvent)).toEqual(['register replay-1', 'register replay-2']);
    } finally {
      watch.close();
    }
  });

  it('says reset when the server restarted and cannot replay the gap, then goes on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'signpost-watch-'));
    let first: TestSignpost | undefined = await startTestSignpost({ ...NO_OVERLOAD_GUARD, store: 'sqlite', dataDir });
    let second: TestSignpost | undefined;
    const front = await startProxy(first.http.port);
    const watcher = new SignpostClient({ url: front.url });
    // The restart is an outage the watch reports (and rides out).
    watcher.on('error', () => {});
    const watch = watcher.watch('durable');
    try {
      await watch.ready;
      await first.register('durable', 'before', { address: '10.0.0.4', port: 1 });
      expect((await take(watch, 1)).map(describeEvent)).toEqual(['register before']);
      await first.close();
      first = undefined;
      second = await startTestSignpost({ ...NO_OVERLOAD_GUARD, store: 'sqlite', dataDir });
      front.retarget(second.http.port);
      expect((await take(watch, 1)).map(describeEvent)).toEqual(['reset']);
      await second.register('durable', 'after', { address: '10.0.0.4', port: 2 });
      expect((await take(watch, 1)).map(describeEvent)).toEqual(['register after']);
    } finally {
      watch.close();
      await watcher.close();
      await front.close();
      await first?.close();
      await second?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps the process alive while it waits for an event, and lets it exit once nothing waits', async () => {
    const script = fileURLToPath(new URL('./fixtures/watch-once.ts', import.meta.url));
    const child = spawn(process.execPath, [script, signpost.url, 'alive'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    const exited = once(child, 'exit');
    await once(child.stdout!, 'data');
    await signpost.register('alive', 'alive-1', { address: '10.0.0.5', port: 1 });
    expect(await exited).toEqual([0, null]);
    expect(output).toContain('"type":"register"');
    expect(output).toContain('"id":"alive-1"');
  });
});
