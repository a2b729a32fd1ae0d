// What one registration or expiry costs the DNS side, counted rather than timed (no sockets): with
// many services registered, a change re-indexes and rebuilds its own service only, never every
// instance. The counters are the zone's own (records built, reverse index and `_L.service` parents
// updates); a change that goes back to rebuilding an index whole makes these fail.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { Answerer } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from '../src/dns/answer/writer.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Registration } from '../src/registry/types.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { decode, Packet, query } from './helpers/signpost.ts';

const SERVICES = 400;
const PER_SERVICE = 25;
const ALL = SERVICES * PER_SERVICE;

const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);
let registry: Registry;
let zone: Zone;

function ask(name: string, type: keyof typeof Packet.TYPE) {
  const length = new Answerer(zone).answer(query(name, type), 'tcp', out, '127.0.0.1');
  return decode(Buffer.from(out.subarray(0, length)));
}

function registration(service: string, id: string, fields: Partial<Registration> = {}): Registration {
  return { service, id, address: '10.0.0.1', port: 8080, weight: 100, priority: 0, ttl: 3600, tags: [], meta: {}, ...fields };
}

/** svc<s>/i<k> at 10.<s / 256>.<s % 256>.<k>, tagged `t<s % 7>`. */
async function registerAll(): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let k = 1; k <= PER_SERVICE; k++) {
      writes.push(registry.register(registration(`svc${s}`, `i${k}`, { address: `10.${s >> 8}.${s & 0xff}.${k}`, tags: [`t${s % 7}`] })));
    }
  }
  await Promise.all(writes);
}

/** Asks every kind of question whose answer spans services, so every index is built. */
function useEveryIndex(): void {
  expect(ask('1.0.0.10.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['i1.svc0.instance.local']);
  expect(ask('_tcp.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
  expect(ask('_t3.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
}

function counters() {
  return { built: zone.recordsBuilt, reverse: zone.reverseIndex.work, parents: zone.underscoreParents.work };
}

beforeEach(() => {
  registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
  zone = new Zone(registry, { domain: 'local', ttl: 5 });
});

afterEach(async () => {
  vi.useRealTimers();
  await registry.close();
});

it('a registration costs the reverse index, the _tcp parents and the records its own service only', async () => {
  await registerAll();
  useEveryIndex();
  // The first use indexed everything: the counters count what they claim to.
  expect(zone.reverseIndex.work).toBeGreaterThanOrEqual(ALL);
  expect(zone.recordsBuilt).toBeGreaterThanOrEqual(ALL);
  const before = counters();

  await registry.register(registration('svc123', 'new', { address: '192.0.2.77', tags: ['fresh'] }));
  expect(ask('77.2.0.192.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['new.svc123.instance.local']);
  expect(ask('_fresh.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
  expect(ask('svc123.service.local', 'SRV').answers).toHaveLength(PER_SERVICE + 1);
  useEveryIndex();

  const after = counters();
  // One service of PER_SERVICE + 1 instances, taken out and put back: O(its service).
  expect(after.built - before.built).toBeLessThanOrEqual(PER_SERVICE + 1);
  expect(after.reverse - before.reverse).toBeLessThanOrEqual(2 * (PER_SERVICE + 1));
  expect(after.parents - before.parents).toBeLessThanOrEqual(2 * 4);
});

it('a deregistration and an expiry cost their own service only, and their PTR records go', async () => {
  vi.useFakeTimers();
  await registerAll();
  await registry.register(registration('svc5', 'short', { address: '192.0.2.5', ttl: 1 }));
  useEveryIndex();
  expect(ask('5.2.0.192.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['short.svc5.instance.local']);
  const before = counters();

  await vi.advanceTimersByTimeAsync(1000);
  expect(registry.get('svc5', 'short')?.status).toBe('critical');
  // Expired: out of the reverse index (its name forwarded or REFUSED, as any unknown reverse name).
  expect(ask('5.2.0.192.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  await registry.deregister('svc9', 'i3');
  expect(ask('3.9.0.10.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  expect(ask('4.9.0.10.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['i4.svc9.instance.local']);
  useEveryIndex();

  const after = counters();
  // Two services changed (svc5: 26 instances, svc9: 25).
  const changed = PER_SERVICE + 1 + PER_SERVICE;
  expect(after.built - before.built).toBeLessThanOrEqual(changed);
  expect(after.reverse - before.reverse).toBeLessThanOrEqual(2 * changed);
  expect(after.parents - before.parents).toBeLessThanOrEqual(2 * 2 * 3);
});

it('a service whose last instance goes leaves the _tag parents it alone gave', async () => {
  await registerAll();
  await registry.register(registration('lonely', 'only', { address: '192.0.2.9', tags: ['rare'] }));
  expect(ask('_rare.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
  await registry.deregister('lonely', 'only');
  expect(ask('_rare.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  expect(ask('9.2.0.192.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  expect(ask('_tcp.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
});

it('a one-instance change to a large service updates its records in place, not the whole set', async () => {
  vi.useFakeTimers();
  await registerAll();
  const LARGE = 2_000;
  const writes: Promise<unknown>[] = [];
  for (let k = 0; k < LARGE; k++) writes.push(registry.register(registration('large', `l${k}`, { address: `10.200.${k >> 8}.${k & 0xff}`, ttl: k === 7 ? 1 : 3600, tags: k % 2 ? ['odd'] : [] })));
  await Promise.all(writes);
  expect(ask('large.service.local', 'SRV').header.tc).toBe(1);
  useEveryIndex();
  expect(ask('3.0.200.10.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['l3.large.instance.local']);
  const before = counters();

  // Each kind of change, one instance at a time, each seen by the next answer.
  // (A tag of its own gives each changed instance an SRV answer small enough to read whole.)
  await registry.register(registration('large', 'new', { address: '192.0.2.200', weight: 7, tags: ['odd', 'mine'] }));
  expect(ask('mine.large.service.local', 'SRV').answers.map((record) => [record.target, record.weight])).toEqual([['new.large.instance.local', 7]]);
  expect(ask('200.2.0.192.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['new.large.instance.local']);
  await registry.register(registration('large', 'l1', { address: '10.200.0.1', weight: 9, tags: ['odd', 'mine'] }));
  expect(ask('mine.large.service.local', 'SRV').answers.map((record) => [record.target, record.weight]).sort()).toEqual([
    ['l1.large.instance.local', 9],
    ['new.large.instance.local', 7],
  ]);
  await registry.setMaintenance('large', 'l2', true, 'patching');
  expect(ask('l2.large.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  await registry.setMaintenance('large', 'l2', false, '');
  expect(ask('l2.large.instance.local', 'A').answers.map((record) => record.address)).toEqual(['10.200.0.2']);
  await registry.deregister('large', 'l3');
  expect(ask('3.0.200.10.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  // l7's lease (1 s) lapses: critical, out of DNS.
  await vi.advanceTimersByTimeAsync(1000);
  expect(ask('l7.large.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  expect(ask('large.service.local', 'SRV').header.tc).toBe(1);
  expect(ask('odd.large.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
  useEveryIndex();

  const after = counters();
  // Six one-instance changes: each encoded one instance (at most) and re-indexed one or two reverse
  // entries; the `_L.service` parents were counted again once, for the tag that came. A rebuild
  // would count 2,000 for each.
  expect(after.built - before.built).toBeLessThanOrEqual(6);
  expect(after.reverse - before.reverse).toBeLessThanOrEqual(2 * 6);
  expect(after.parents - before.parents).toBeLessThanOrEqual(2 * 4);
});

it('a lease deadline passing before its lapse is handed out rebuilds its own service only, and one renewed in time nothing', async () => {
  vi.useFakeTimers();
  await registerAll();
  await registry.register(registration('svc7', 'renewed', { address: '192.0.2.7', ttl: 10 }));
  await registry.register(registration('svc8', 'lapses', { address: '192.0.2.8', ttl: 10 }));
  useEveryIndex();
  expect(ask('svc7.service.local', 'SRV').answers).toHaveLength(PER_SERVICE + 1);
  expect(ask('svc8.service.local', 'SRV').answers).toHaveLength(PER_SERVICE + 1);
  const before = counters();

  // The clock moves past both deadlines without the lease timers running: lapses due, not handed out yet.
  vi.setSystemTime(Date.now() + 5000);
  await registry.heartbeat('svc7', 'renewed');
  vi.setSystemTime(Date.now() + 6000);
  const targets = (service: string) => ask(`${service}.service.local`, 'SRV').answers.map((record) => record.target);
  expect(targets('svc8')).toHaveLength(PER_SERVICE);
  expect(targets('svc8')).not.toContain('lapses.svc8.instance.local');
  expect(targets('svc7')).toContain('renewed.svc7.instance.local');
  expect(ask('8.2.0.192.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  expect(ask('7.2.0.192.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['renewed.svc7.instance.local']);
  useEveryIndex();
  expect(registry.get('svc8', 'lapses')?.status).toBe('passing');

  // svc8 rebuilt without what lapsed; svc7 re-read (its instance renewed), not rebuilt.
  expect(counters().built - before.built).toBe(PER_SERVICE);
});

it('a lease deadline passing before its lapse is handed out takes the instance out of a large (live) service too, one added in place included', async () => {
  vi.useFakeTimers();
  const LARGE = 300;
  const writes: Promise<unknown>[] = [];
  for (let k = 0; k < LARGE; k++) writes.push(registry.register(registration('big', `b${k}`, { address: `10.201.${k >> 8}.${k & 0xff}`, ttl: k === 7 ? 10 : 3600 })));
  await Promise.all(writes);
  expect(ask('big.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NOERROR);
  expect(ask('b7.big.instance.local', 'A').answers.map((record) => record.address)).toEqual(['10.201.0.7']);
  expect(ask('7.0.201.10.in-addr.arpa', 'PTR').answers.map((record) => record.domain)).toEqual(['b7.big.instance.local']);

  // Added in place after the records were built, with a lease shorter than any they hold.
  const start = Date.now();
  await registry.register(registration('big', 'brief', { address: '192.0.2.44', ttl: 5 }));
  expect(ask('brief.big.instance.local', 'A').answers.map((record) => record.address)).toEqual(['192.0.2.44']);
  vi.setSystemTime(start + 5_000);
  expect(ask('brief.big.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  expect(ask('b7.big.instance.local', 'A').answers.map((record) => record.address)).toEqual(['10.201.0.7']);

  vi.setSystemTime(start + 10_000);
  expect(ask('b7.big.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  expect(ask('7.0.201.10.in-addr.arpa', 'PTR').header.rcode).toBe(Packet.RCODE.REFUSED);
  expect(ask('b8.big.instance.local', 'A').answers.map((record) => record.address)).toEqual(['10.201.0.8']);
  expect(registry.get('big', 'b7')?.status).toBe('passing');
});
