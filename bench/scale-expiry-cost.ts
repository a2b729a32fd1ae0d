// What one expiry costs, and which part of it: N leases lapse together in one process (fake-free:
// real timers, ttl 1 s), first with only the registry and the DNS zone listening, then with the
// watch hub (every event kept for event streams, as the server wires it), then also with the
// server's event log (pino to /dev/null, the server's default level). Prints the process's CPU time
// from the first lapse to the last, per expiry, for each (the median of 3 rounds). Run: node bench/scale-expiry-cost.ts [N]
import { openSync } from 'node:fs';
import pino from 'pino';
import { Zone } from '../src/dns/zone/zone.ts';
import { EventLog } from '../src/event-log.ts';
import { watchEventBody } from '../src/http/routes/watch.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Store } from '../src/registry/store.ts';
import { WatchHub } from '../src/watch/hub.ts';

const N = Number(process.argv[2] ?? 100_000);
const nothingKept: Store = {
  load: async () => [],
  put: async () => {},
  delete: async () => {},
  loadSettings: async () => new Map(),
  putSettings: async () => {},
  close: async () => {},
};

async function storm(setup: 'registry and zone' | '+ watch hub' | '+ watch hub + event log'): Promise<number> {
  const registry = new Registry(nothingKept, { gracePeriod: 3600, onlyPassing: false });
  new Zone(registry, { domain: 'local', ttl: 5 });
  if (setup !== 'registry and zone') {
    new WatchHub(registry, {
      maxWatches: 4096,
      historySize: 10_000,
      body: (event) => watchEventBody(event, registry),
    });
  }
  if (setup === '+ watch hub + event log') {
    const eventLog = new EventLog(pino({ level: 'info' }, pino.destination({ fd: openSync('/dev/null', 'w'), sync: false })));
    registry.onEvent((event) => eventLog.event(event));
  }
  let lapsed = 0;
  let first = process.cpuUsage();
  const { promise, resolve } = Promise.withResolvers<number>();
  registry.onEvent((event) => {
    if (event.type !== 'health') return;
    if (lapsed++ === 0) first = process.cpuUsage();
    if (lapsed === N) {
      const used = process.cpuUsage(first);
      resolve((used.user + used.system) / 1000);
    }
  });
  const writes = [];
  for (let k = 0; k < N; k++) {
    writes.push(
      registry.register({ service: `svc${k % 1000}`, id: `i${k}`, address: `10.${(k >> 16) & 0xff}.${(k >> 8) & 0xff}.${k & 0xff}`, port: 8080, weight: 100, priority: 0, ttl: 1, tags: [], meta: {} }),
    );
  }
  await Promise.all(writes);
  const keepAlive = setTimeout(() => {}, 60_000);
  const ms = await promise;
  clearTimeout(keepAlive);
  await registry.close();
  return (ms * 1000) / N;
}

// Each setup ROUNDS times, alternating, and the median: one storm's figure moves with the collector and the machine's load.
const ROUNDS = 3;
const setups = ['registry and zone', '+ watch hub', '+ watch hub + event log'] as const;
const costs = new Map<string, number[]>(setups.map((setup) => [setup, []]));
for (let round = 0; round < ROUNDS; round++) for (const setup of setups) costs.get(setup)!.push(await storm(setup));
for (const setup of setups) {
  const sorted = costs.get(setup)!.sort((a, b) => a - b);
  console.log(`${setup}: ${sorted[Math.floor(ROUNDS / 2)].toFixed(2)} µs per expiry, median of ${ROUNDS} (${sorted.map((cost) => cost.toFixed(2)).join(', ')}; ${N.toLocaleString('en')} lapsing together)`);
}
