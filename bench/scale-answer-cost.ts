// The DNS answer path's own cost per query as the registry grows, with no sockets: N instances in
// services of 100 (one process, a store that keeps nothing), 20,000 queries of bench:scale's mix
// (half A, a quarter `_svc._tcp` SRV, a quarter SRV, over every service) answered in a loop; the
// first pass builds every service's records, the next ones are what a warm server pays.
// Run: node --min-semi-space-size=16 --max-semi-space-size=16 bench/scale-answer-cost.ts N
import { Answerer } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from '../src/dns/answer/writer.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
const N = Number(process.argv[2]); const PER = 100;
const store = { load: async () => [], put: async () => {}, delete: async () => {}, loadSettings: async () => new Map(), putSettings: async () => {}, close: async () => {} };
const registry = new Registry(store as never, { gracePeriod: 60, onlyPassing: false });
const zone = new Zone(registry, { domain: 'local', ttl: 5 });
for (let from = 0; from < N; from += 10000) {
  const w = [];
  for (let k = from; k < Math.min(N, from + 10000); k++) w.push(registry.register({ service: `svc${Math.floor(k / PER)}`, id: `i${k}`, address: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, port: 8000, weight: 100, priority: 0, ttl: 86400, tags: ['v2'], meta: { version: '2.1.0', zone: 'eu-1' } }));
  await Promise.all(w);
}
const services = N / PER;
function q(name: string, type: number) {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])]);
}
const queries: Buffer[] = [];
let seed = 0x2545f491;
for (let i = 0; i < 20000; i++) { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; const n = (seed >>> 0) % services; queries.push(i % 4 === 1 ? q(`_svc${n}._tcp.service.local`, 33) : i % 4 === 3 ? q(`svc${n}.service.local`, 33) : q(`svc${n}.service.local`, 1)); }
const answerer = new Answerer(zone);
const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);
let t = performance.now();
for (const query of queries) answerer.answer(query, 'udp', out, '127.0.0.1');
console.log(N, 'first pass (builds)', ((performance.now() - t) * 1000 / queries.length).toFixed(2), 'µs/query');
for (let pass = 0; pass < 3; pass++) {
  t = performance.now();
  for (let r = 0; r < 5; r++) for (const query of queries) answerer.answer(query, 'udp', out, '127.0.0.1');
  console.log(N, 'pass', pass, ((performance.now() - t) * 1000 / (5 * queries.length)).toFixed(2), 'µs/query', 'rss', (process.memoryUsage().rss / 2 ** 20).toFixed(0));
}
