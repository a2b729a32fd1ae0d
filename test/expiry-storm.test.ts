// An expiry storm on the running server: thousands of leases lapse together. Each instance is out
// of DNS answers from its deadline on, however many lapses are still to be handed out; each lapse
// still reaches an event stream, once; and the log sums the storm up instead of a line per lapse.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { openSse, type SseStream } from './helpers/sse.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const SERVICES = 1000;
const PER_SERVICE = 10;
const STORM = SERVICES * PER_SERVICE;

let signpost: TestSignpost | undefined;
let stream: SseStream | undefined;

afterEach(async () => {
  stream?.close();
  await signpost?.close();
});

const addressOf = (n: number) => `10.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`;

it('thousands of leases lapsing together leave DNS at their deadlines, each lapse is streamed once, and the log sums them up', async () => {
  const lines: Array<{ level: number; msg: string; lapsed?: number }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  signpost = await startTestSignpost({ gracePeriod: 3600, watchHistory: 4 * STORM, ...NO_OVERLOAD_GUARD }, { logger: pino({ level: 'info' }, sink) });
  stream = await openSse(`${signpost.url}/v1/watch`);
  expect((await stream.next()).event).toBe('hello');

  // Registered in-process through the registry: thousands of HTTP requests would take longer than the leases.
  const deadlineOf = new Map<string, number>();
  const registered = await Promise.all(
    Array.from({ length: STORM }, (_, n) =>
      signpost!.registry.register({ service: `storm${n % SERVICES}`, id: `i${n}`, address: addressOf(n), port: 80, weight: 1, priority: 0, ttl: 2, tags: [], meta: {} }),
    ),
  );
  for (const instance of registered) deadlineOf.set(instance.address, instance.expiresAt!);

  // Every lapse as the event stream tells it, counted per instance.
  const lapses = new Map<string, number>();
  const { promise: allStreamed, resolve } = Promise.withResolvers<void>();
  void (async () => {
    for (;;) {
      const event = await stream.next();
      if (event.event !== 'health') continue;
      const body = JSON.parse(event.data) as { id: string; instance: { status: string } };
      expect(body.instance.status).toBe('critical');
      lapses.set(body.id, (lapses.get(body.id) ?? 0) + 1);
      if (lapses.size === STORM) resolve();
    }
  })();
  let streamed = false;
  void allStreamed.then(() => (streamed = true));

  // Ask the stormed services over and over, from before the first deadline until every lapse was
  // streamed: no answer may hold an instance whose deadline had passed when it was asked.
  const resolver = signpost.resolver();
  const stale: string[] = [];
  let emptied = 0;
  for (let n = 0; !streamed; n = (n + 7) % SERVICES) {
    const askedAt = Date.now();
    const addresses = await resolver.resolve4(`storm${n}.service.local`).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTFOUND') throw error;
      return [];
    });
    if (addresses.length === 0) emptied++;
    for (const address of addresses) if (deadlineOf.get(address)! <= askedAt) stale.push(`${address} asked ${askedAt - deadlineOf.get(address)!} ms after its deadline`);
  }
  expect(stale).toEqual([]);
  expect(emptied).toBeGreaterThan(0);

  expect(lapses.size).toBe(STORM);
  expect([...lapses.values()].every((count) => count === 1)).toBe(true);
  for (const n of [0, 499, 999]) {
    await expect(resolver.resolve4(`storm${n}.service.local`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  }

  // The log: a summary line counts the lapses after a lone one, rather than an info line each.
  await signpost.close();
  signpost = undefined;
  const infoLines = lines.filter((line) => line.level === 30 && (line.msg === 'health changed' || line.lapsed !== undefined));
  const summed = infoLines.reduce((sum, line) => sum + (line.lapsed ?? 1), 0);
  expect(summed).toBe(STORM);
  expect(infoLines.length).toBeLessThan(STORM / 100);
});
