// Where an instance's bytes go: builds the registry and the DNS side of N instances (services of
// 100) in this process, and prints the heap (with array buffers) each part added per instance,
// measured after a forced GC. The store keeps nothing in memory, as SQLite's does not (the memory
// store's copy of every registration would be counted otherwise).
// Run by bench/scale.ts: node --expose-gc bench/scale-breakdown.ts N
import { Buffer } from 'node:buffer';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Store } from '../src/registry/store.ts';
import { encodeName } from '../src/dns/wire/names.ts';

const N = Number(process.argv[2] ?? 100_000);
const PER_SERVICE = 100;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

const nothingKept: Store = {
  load: async () => [],
  put: async () => {},
  delete: async () => {},
  loadSettings: async () => new Map(),
  putSettings: async () => {},
  close: async () => {},
};
const registry = new Registry(nothingKept, { gracePeriod: 60, onlyPassing: false });
const zone = new Zone(registry, { domain: 'local', ttl: 5 });
const start = heap();
for (let from = 0; from < N; from += 10_000) {
  const writes = [];
  for (let k = from; k < Math.min(N, from + 10_000); k++) {
    writes.push(
      registry.register({
        service: `svc${Math.floor(k / PER_SERVICE)}`,
        id: `i${k}`,
        address: `10.${(k >> 16) & 0xff}.${(k >> 8) & 0xff}.${k & 0xff}`,
        port: 8000 + (k % 1000),
        weight: 100,
        priority: 0,
        ttl: 86400,
        tags: ['v2'],
        meta: { version: '2.1.0', zone: 'eu-1' },
      }),
    );
  }
  await Promise.all(writes);
}
const registered = heap();
for (const name of [...registry.serviceNames()]) zone.service(name);
const records = heap();
const ptr = encodeName('1.0.0.10.in-addr.arpa'); // one question brings the whole index up to date
zone.reverse(Buffer.from(ptr), 0, ptr.length);
const reverse = heap();
zone.hasUnderscoreParent('tcp');
const parents = heap();
const per = (bytes: number) => Math.round(bytes / N);
console.log(
  JSON.stringify({
    'registry: instances, health, leases (timers), indexes': per(registered - start),
    'DNS records of every service (fragments, record sets)': per(records - registered),
    'reverse (PTR) index': per(reverse - records),
    '`_tag.service` parents': per(parents - reverse),
    total: per(parents - start),
  }),
);
await registry.close();
