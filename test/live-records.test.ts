// A large service's records, kept up to date one instance at a time (zone/live-records.ts), against
// records built from scratch from the same registrations: after many random single changes of every
// kind (registration, replacement with another weight, address or meta, deregistration,
// maintenance in and out, health to warning, critical and back), every answer holds the same
// records as a zone started afresh over the registry gives (SRV complete over TCP and truncated over
// UDP, A, AAAA, TXT, tags, the RFC 2782 names, PTR), and every set (the service's and each tag's)
// holds the same records, draw weights and priority tiers as records.ts builds. Changes are drawn
// from a seeded generator, so a failure names the seed and step that reproduce it.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RECORD_SETS } from '../src/config/limits.ts';
import { Answerer } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from '../src/dns/answer/writer.ts';
import { LiveServiceRecords } from '../src/dns/zone/live-records.ts';
import { TieredOrder } from '../src/dns/zone/live-set.ts';
import { AT_ADDRESS, AT_GLUE, AT_SRV, AT_TARGET, LAYOUT_STRIDE, buildServiceRecords, type RecordSet, type ServiceRecords } from '../src/dns/zone/records.ts';
import { WeightTree } from '../src/dns/zone/weight-tree.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Registration } from '../src/registry/types.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { decode, Packet, query } from './helpers/signpost.ts';

const SEED = 19;
const STEPS = 1200;
/** Compared every this many steps (each comparison asks every question of the service). */
const EVERY = 40;

let registry: Registry;
let zone: Zone;
const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);

beforeEach(() => {
  // onlyPassing off: a warning instance stays in DNS at its warning weight (a weight change by health).
  registry = new Registry(new MemoryStore(), { gracePeriod: 3600, onlyPassing: false });
  zone = new Zone(registry, { domain: 'local', ttl: 5 });
});

afterEach(() => registry.close());

/** Mulberry32: small, seeded, good enough to pick changes. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = generator(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

/** A registration of `id` with fields drawn at random: fragments of several sizes, two priorities, both families, weight 0 too. */
function drawRegistration(id: string): Registration {
  const v6 = random() < 0.2;
  // A tag on most (a live set of its own), a few (built), one rarely there at all, one per instance (many tiny sets).
  const tags = [random() < 0.7 ? 'most' : '', random() < 0.1 ? pick(['few', 'Few']) : '', random() < 0.02 ? 'rare' : '', random() < 0.3 ? `own-${id}` : ''].filter(Boolean);
  const meta: Record<string, string> = {};
  if (random() < 0.3) meta.zone = pick(['a', 'bb', 'ccc']);
  return {
    service: 'big',
    id,
    address: v6 ? `fd00::${Math.floor(random() * 0xffff).toString(16)}` : `10.${Math.floor(random() * 4)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`,
    port: 1 + Math.floor(random() * 60000),
    weight: random() < 0.05 ? 0 : 1 + Math.floor(random() * 100),
    warningWeight: random() < 0.5 ? Math.floor(random() * 10) : undefined,
    priority: random() < 0.85 ? 0 : 5,
    ttl: 3600,
    tags,
    meta,
  };
}

let nextId = 0;
const newId = () => `i${nextId++}${'x'.repeat(nextId % 3)}`;

/** One random change to one instance of `big`. */
async function change(): Promise<void> {
  const ids = (registry.instances('big') ?? []).map((instance) => instance.id);
  const roll = random();
  // Drifts around 400 instances, now and then down past the size where live records stop, and back.
  const target = Math.floor(nextId / 300) % 3 === 2 ? RECORD_SETS.liveBelow - 20 : 400;
  if (ids.length < target && roll < 0.3) {
    await registry.register(drawRegistration(newId()));
    return;
  }
  const id = pick(ids);
  if (roll < 0.3) await registry.deregister('big', id);
  else if (roll < 0.45) await registry.register(drawRegistration(id));
  else if (roll < 0.6) await registry.setMaintenance('big', id, !registry.get('big', id)!.maintenance, 'test');
  else await registry.heartbeat('big', id, { status: pick(['passing', 'warning', 'critical'] as const), note: '' });
}

/** The answer to one question, and its size in bytes. */
function ask(target: Zone, name: string, type: keyof typeof Packet.TYPE, transport: 'udp' | 'tcp') {
  const length = new Answerer(target).answer(query(name, type), transport, out, '127.0.0.1');
  return Object.assign(decode(Buffer.from(out.subarray(0, length))), { length });
}

type Decoded = ReturnType<typeof ask>;
const line = (record: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(record).filter(([key]) => key !== 'ttl')));
const lines = (records: Decoded['answers']) => records.map((record) => line(record as never)).sort();

/** Every question of the service, asked of the kept zone and of one started afresh: the same records. */
function compareAnswers(step: number): void {
  const fresh = new Zone(registry, { domain: 'local', ttl: 5 });
  const ids = [...(zone.service('big')?.byId.keys() ?? [])];
  const names = ['big.service.local', 'most.big.service.local', 'few.big.service.local', 'rare.big.service.local', '_big._tcp.service.local', '_big._most.service.local'];
  for (const name of names) {
    for (const type of ['SRV', 'A', 'AAAA'] as const) {
      const kept = ask(zone, name, type, 'tcp');
      const again = ask(fresh, name, type, 'tcp');
      const where = `step ${step}, seed ${SEED}: ${type} ${name}`;
      expect(kept.header.rcode, where).toBe(again.header.rcode);
      expect(kept.header.tc, where).toBe(again.header.tc);
      // Complete over TCP (some hundreds of instances fit): the very same records.
      expect(lines(kept.answers), where).toEqual(lines(again.answers));
      expect(lines(kept.additionals), where).toEqual(lines(again.additionals));
      // RFC 2782 order: priorities never go down along the answer.
      const priorities = kept.answers.map((record) => (record as { priority?: number }).priority ?? 0);
      expect(priorities, where).toEqual([...priorities].sort((a, b) => a - b));
      // Truncated over UDP: a part of those records, flagged.
      const udp = ask(zone, name, type, 'udp');
      const all = new Set(lines(again.answers));
      for (const record of lines(udp.answers)) expect(all.has(record), where).toBe(true);
      expect(udp.header.tc, where).toBe(again.length > 512 ? 1 : again.header.tc);
    }
  }
  for (const id of ids.filter((_, i) => i % 25 === 0)) {
    const where = `step ${step}, seed ${SEED}: ${id}`;
    expect(lines(ask(zone, `${id}.big.instance.local`, 'ANY', 'tcp').answers), where).toEqual(lines(ask(fresh, `${id}.big.instance.local`, 'ANY', 'tcp').answers));
  }
  for (const { instance } of registry.answerable('big') ?? []) {
    if (instance.address.includes(':') || Number(instance.id.slice(1).replace(/x/g, '')) % 10 !== 0) continue;
    const reverse = `${instance.address.split('.').reverse().join('.')}.in-addr.arpa`;
    expect(lines(ask(zone, reverse, 'PTR', 'tcp').answers), `step ${step}: PTR ${reverse}`).toEqual(lines(ask(fresh, reverse, 'PTR', 'tcp').answers));
  }
}

/** A set's records as content: each record's fragments, draw weight and priority tier; the A and AAAA tiers; in no order. */
function content(set: RecordSet) {
  const order = new Int32Array(set.count);
  const source = set.srvTree ?? new WeightTree(set.drawWeight, set.srvGroupEnds);
  expect(source.draw(order, set.count)).toBe(set.count);
  const slice = (record: number, at: number) => set.bytes.toString('hex', set.layout[record * LAYOUT_STRIDE + at], set.layout[record * LAYOUT_STRIDE + at + 1]);
  const records = Array.from(order, (record) => [slice(record, AT_SRV), slice(record, AT_GLUE), slice(record, AT_TARGET), slice(record, AT_ADDRESS), set.drawWeight[record]].join(' '));
  let least = Infinity;
  for (const record of order) least = Math.min(least, set.layout[record * LAYOUT_STRIDE + AT_GLUE + 1] - set.layout[record * LAYOUT_STRIDE + AT_SRV] + 2);
  // What answer/ bounds a draw by: never above the least record, or a record that fits would be left out.
  expect(set.minSrvBytes).toBeLessThanOrEqual(least);
  // Priorities in the order drawn: tiers in turn (the SRV fragment's first rdata bytes).
  const priorities = Array.from(order, (record) => set.bytes.readUInt16BE(set.layout[record * LAYOUT_STRIDE + AT_SRV] + 12));
  expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
  if (set.srvTree instanceof TieredOrder) {
    for (const tier of set.srvTree.tiers) for (const pool of [tier.all, tier.v4, tier.v6]) checkPool(set, pool.members.subarray(0, pool.count), pool.tree);
  }
  if (set.v4Tree) checkPool(set, set.v4, set.v4Tree);
  if (set.v6Tree) checkPool(set, set.v6, set.v6Tree);
  return {
    count: set.count,
    records: records.sort(),
    v4: Array.from(set.v4, (record) => slice(record, AT_ADDRESS)).sort(),
    v6: Array.from(set.v6, (record) => slice(record, AT_ADDRESS)).sort(),
  };
}

/** A weight tree over `members` (record numbers) draws each by its record's draw weight, and its sums say so. */
function checkPool(set: RecordSet, members: Int32Array, tree: WeightTree): void {
  expect(tree.count).toBe(members.length);
  let weighted = 0;
  let zero = 0;
  members.forEach((record, position) => {
    expect(tree.weightAt(position)).toBe(set.drawWeight[record]);
    if (set.drawWeight[record] >= 1) weighted += set.drawWeight[record];
    else zero++;
  });
  expect(tree.totals()).toEqual({ weighted, zero });
}

function compareSets(step: number): void {
  const kept = zone.service('big');
  const built = buildServiceRecords(registry.answerable('big') ?? [], 'local', 5);
  const where = `step ${step}, seed ${SEED}`;
  expect(kept === null, where).toBe(built === null);
  if (!kept || !built) return;
  expect(kept instanceof LiveServiceRecords, where).toBe(built.all.count >= RECORD_SETS.liveBelow || !(kept instanceof LiveServiceRecords));
  expect(content(kept.all), where).toEqual(content(built.all));
  expect([...kept.byTag.keys()].sort(), where).toEqual([...built.byTag.keys()].sort());
  for (const [tag, set] of built.byTag) expect(content(kept.byTag.get(tag)!), `${where}, tag ${tag}`).toEqual(content(set));
  expect(idsOf(kept), where).toEqual(idsOf(built));
}

const idsOf = (records: ServiceRecords) => [...records.byId.keys()].sort();

it('after many random single changes, a large service answers as one built from scratch', async () => {
  for (let k = 0; k < 400; k++) await registry.register(drawRegistration(newId()));
  expect(zone.service('big')).toBeInstanceOf(LiveServiceRecords);
  // Every index built, so that changes go through them as they come.
  compareAnswers(0);
  let live = 0;
  for (let step = 1; step <= STEPS; step++) {
    await change();
    if (zone.service('big') instanceof LiveServiceRecords) live++;
    if (step % EVERY === 0) {
      compareSets(step);
      compareAnswers(step);
    }
  }
  // Most steps went through live records (the rest: while the service was small).
  expect(live).toBeGreaterThan(STEPS / 2);
});
