// The lease clock (every lease deadline of the registry on one timer): exact deadlines, renewals
// and removals, and a storm of lapses handed out in slices with the event loop's turn between them.
import { afterEach, expect, it, vi } from 'vitest';
import { LeaseClock } from '../src/registry/lease-clock.ts';

afterEach(() => {
  vi.useRealTimers();
});

it('lapses each key at its deadline exactly, never early, and not at all once renewed away or deleted', async () => {
  vi.useFakeTimers();
  const lapsed: string[] = [];
  const clock = new LeaseClock<string>((key) => lapsed.push(key));
  const now = Date.now();
  clock.set('a', now + 1000);
  clock.set('b', now + 1003);
  clock.set('c', now + 5000);
  clock.set('gone', now + 1000);
  clock.delete('gone');
  await vi.advanceTimersByTimeAsync(999);
  expect(lapsed).toEqual([]);
  await vi.advanceTimersByTimeAsync(1);
  expect(lapsed).toEqual(['a']);
  // Renewed before its deadline: moves on.
  clock.set('b', now + 3000);
  await vi.advanceTimersByTimeAsync(1999);
  expect(lapsed).toEqual(['a']);
  await vi.advanceTimersByTimeAsync(1);
  expect(lapsed).toEqual(['a', 'b']);
  expect(clock.has('b')).toBe(false);
  // An earlier deadline set later still comes first.
  clock.set('d', Date.now() + 10);
  await vi.advanceTimersByTimeAsync(10);
  expect(lapsed).toEqual(['a', 'b', 'd']);
  await vi.advanceTimersByTimeAsync(2000);
  expect(lapsed).toEqual(['a', 'b', 'd', 'c']);
});

it('hands out a storm of lapses in slices, letting other callbacks run between them', async () => {
  const STORM = 5000;
  let lapses = 0;
  let otherRanAfter = -1;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const clock = new LeaseClock<number>(() => {
    lapses++;
    // What a socket's read would be: queued during the first lapse, run before the storm is over.
    if (lapses === 1) setImmediate(() => (otherRanAfter = lapses));
    if (lapses === STORM) resolve();
  });
  const deadline = Date.now() + 50;
  for (let key = 0; key < STORM; key++) clock.set(key, deadline);
  await done;
  expect(lapses).toBe(STORM);
  expect(otherRanAfter).toBeGreaterThan(0);
  expect(otherRanAfter).toBeLessThan(STORM);
});
