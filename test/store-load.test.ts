// The SQLite store's start-up read, in pages: every stored registration comes back exactly once,
// as it was put (field order and a null maintenance flag included), across page boundaries, and
// the registry restores them all while the store reads on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Registry } from '../src/registry/registry.ts';
import type { Registration } from '../src/registry/types.ts';
import { SqliteStore } from '../src/store/sqlite.ts';

const root = mkdtempSync(join(tmpdir(), 'signpost-store-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// More than two pages (20,000 each), not a multiple of one.
const COUNT = 45_001;

function registration(k: number): Registration {
  return {
    service: `svc${k % 97}`,
    id: `i${k}`,
    address: k % 2 === 0 ? `10.${(k >> 16) & 0xff}.${(k >> 8) & 0xff}.${k & 0xff}` : `fd00::${k.toString(16)}`,
    port: 1 + (k % 65535),
    weight: k % 100,
    priority: k % 3,
    ttl: 30,
    tags: k % 5 === 0 ? ['blue', 'Mixed Case'] : [],
    meta: k % 7 === 0 ? { note: `ünïcode ${k}`, quote: '"}{,' } : {},
    maintenance: k % 11 === 0 ? { reason: `patch ${k}` } : null,
  };
}

it('gives back every registration exactly once, as it was put, across pages', async () => {
  const dir = join(root, 'pages');
  const store = await SqliteStore.open(dir);
  await Promise.all(Array.from({ length: COUNT }, (_, k) => store.put(registration(k))));
  await store.close();

  const reopened = await SqliteStore.open(dir);
  const pages: number[] = [];
  const seen = new Map<string, Registration>();
  const count = await reopened.loadInPages((page) => {
    pages.push(page.length);
    for (const row of page) seen.set(`${row.service}/${row.id}`, row);
  });
  expect(count).toBe(COUNT);
  expect(seen.size).toBe(COUNT);
  expect(pages.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...pages)).toBeLessThanOrEqual(20_000);
  for (const k of [0, 1, 7, 11, 19_999, 20_000, 40_000, COUNT - 1]) {
    const row = seen.get(`svc${k % 97}/i${k}`)!;
    expect(row).toEqual(registration(k));
    // The registration's own field order: service and id first, as registered.
    expect(Object.keys(row).slice(0, 2)).toEqual(['service', 'id']);
  }
  expect((await reopened.load()).length).toBe(COUNT);

  const registry = new Registry(reopened, { gracePeriod: 60, onlyPassing: false });
  expect(await registry.start()).toBe(COUNT);
  expect(registry.get('svc0', 'i0')?.maintenance).toEqual({ reason: 'patch 0' });
  expect(registry.get(`svc${(COUNT - 1) % 97}`, `i${COUNT - 1}`)?.address).toBe(registration(COUNT - 1).address);
  await registry.close();
  await reopened.close();
});
