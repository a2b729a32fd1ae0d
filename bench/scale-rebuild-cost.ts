// What a change to a service of 10,000 instances costs the DNS side: its records are rebuilt on
// the next query (its unchanged instances' bytes copied, the changed one encoded). CPU time of
// that rebuild after each of 30 one-instance changes, and of the registry's `answerable` read the
// rebuild starts from (one process, a store that keeps nothing).
// Run: node bench/scale-rebuild-cost.ts
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
const store = { load: async () => [], put: async () => {}, delete: async () => {}, loadSettings: async () => new Map(), putSettings: async () => {}, close: async () => {} };
const registry = new Registry(store as never, { gracePeriod: 60, onlyPassing: false });
const zone = new Zone(registry, { domain: 'local', ttl: 5 });
const reg = (k: number, w = 100) => registry.register({ service: 'big', id: `i${k}`, address: `10.9.${k >> 8}.${k & 255}`, port: 8080, weight: w, priority: 0, ttl: 86400, tags: [], meta: {} });
await Promise.all(Array.from({ length: 10000 }, (_, k) => reg(k)));
{ const c = process.cpuUsage(); zone.service('big'); const u = process.cpuUsage(c); console.log('first build', ((u.user + u.system) / 1000).toFixed(1), 'ms of CPU'); }
const times: number[] = []; const ans: number[] = [];
for (let i = 0; i < 30; i++) {
  await reg(i, 50 + i);
  { const c = process.cpuUsage(); registry.answerable('big'); const u = process.cpuUsage(c); ans.push((u.user + u.system) / 1000); }
  { const c = process.cpuUsage(); zone.service('big'); const u = process.cpuUsage(c); times.push((u.user + u.system) / 1000); }
}
times.sort((a, b) => a - b); ans.sort((a, b) => a - b);
console.log('rebuild after one change (CPU): median', times[15].toFixed(1), 'ms, max', times[29].toFixed(1), '; answerable() alone median', ans[15].toFixed(1));
await registry.close();
