// What a change to a service of 10,000 instances costs the DNS side. Two registries in one process
// (a store that keeps nothing) take the same changes, one instance at a time: one with a zone whose
// records of the service are built (and asked for after each change), one without a zone. The
// difference in CPU time per change is the DNS side's share, whether it is paid in the change's
// listener (records updated in place) or by the next query (records rebuilt). Changes cycle through
// re-registration with a new weight, maintenance in and out, heartbeat to warning and back (out of
// DNS and in: these registries serve passing instances only), deregistration with registration of a new
// instance (counted as one). Then changes the zone cannot take one
// instance at a time (the service's settings, nine times), and the first build.
// Run: node bench/scale-rebuild-cost.ts
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';

const SIZE = 10_000;
const CHANGES = 600;
const store = () => ({ load: async () => [], put: async () => {}, delete: async () => {}, loadSettings: async () => new Map(), putSettings: async () => {}, close: async () => {} });
const withZone = new Registry(store() as never, { gracePeriod: 60, onlyPassing: true });
const alone = new Registry(store() as never, { gracePeriod: 60, onlyPassing: true });
const zone = new Zone(withZone, { domain: 'local', ttl: 5 });
const registration = (k: number, weight = 100) => ({ service: 'big', id: `i${k}`, address: `10.9.${k >> 8}.${k & 255}`, port: 8080, weight, priority: 0, ttl: 86400, tags: [], meta: {} });

for (const registry of [withZone, alone]) await Promise.all(Array.from({ length: SIZE }, (_, k) => registry.register(registration(k))));

function cpuMs(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}
const first = cpuMs(() => zone.service('big'));

/** Change number `i` to `registry`: six kinds in turn on one instance, the next six on the next. */
async function change(registry: Registry, i: number): Promise<void> {
  const k = Math.floor(i / 6);
  switch (i % 6) {
    case 0: await registry.register(registration(k, 1 + (i % 99))); break;
    case 1: await registry.setMaintenance('big', `i${k}`, true, 'bench'); break;
    case 2: await registry.setMaintenance('big', `i${k}`, false, ''); break;
    // Servable only while passing (onlyPassing): out, then in.
    case 3: await registry.heartbeat('big', `i${k}`, { status: 'warning', note: 'slow' }); break;
    case 4: await registry.heartbeat('big', `i${k}`, { status: 'passing', note: '' }); break;
    default: await registry.deregister('big', `i${k}`); await registry.register(registration(SIZE + k)); break;
  }
}

/** CPU ms of changes [from, from + CHANGES), each with the zone's work for it (in its listener or the next query's). */
async function measure(registry: Registry, askZone: boolean, from: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = from; i < from + CHANGES; i++) {
    const start = process.cpuUsage();
    await change(registry, i);
    if (askZone) zone.service('big');
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b);
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)];
const p99 = (sorted: number[]) => sorted[Math.floor(sorted.length * 0.99)];
// Alone first, then with the zone, twice, so warm-up of the JIT counts for neither.
await measure(alone, false, 0);
const baseline = await measure(alone, false, CHANGES);
await measure(withZone, true, 0);
const dns = await measure(withZone, true, CHANGES);
const afterSettings: number[] = [];
for (let i = 1; i <= 9; i++) {
  await withZone.setSettings('big', { protectionThreshold: 0, warmup: i });
  afterSettings.push(cpuMs(() => zone.service('big')));
}
afterSettings.sort((a, b) => a - b);

const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
console.log(`first build of ${SIZE} instances: ${first.toFixed(1)} ms of CPU`);
console.log(
  `one-instance change, CPU per change over ${CHANGES}: with the zone median ${us(median(dns))} (p99 ${us(p99(dns))}), ` +
    `registry alone median ${us(median(baseline))} (p99 ${us(p99(baseline))}); the DNS side's share: median ${us(median(dns) - median(baseline))}`,
);
console.log(`after a settings change (not one instance), median of 9: ${median(afterSettings).toFixed(1)} ms of CPU for the next query's records`);
await withZone.close();
await alone.close();
