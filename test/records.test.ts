// How instances become DNS records, and RFC 2782's weighted order, without sockets: the record
// sets the zone builds, the pre-assembled orders of small sets with their exact probabilities,
// and the per-query draw of large ones.
import { describe, expect, it } from 'vitest';
import { WeightedOrder } from '../src/dns/answer/order.ts';
import { MAX_PREASSEMBLED_RECORDS, preassembleAddresses, preassembleSrv } from '../src/dns/zone/preassembled.ts';
import { AT_ADDRESS, AT_SRV, buildServiceRecords, LAYOUT_STRIDE, txtAnswers, type RecordSet } from '../src/dns/zone/records.ts';
import { ReverseIndex } from '../src/dns/zone/reverse.ts';
import { WeightTree } from '../src/dns/zone/weight-tree.ts';
import { encodeName } from '../src/dns/wire/names.ts';
import type { Answerable, Instance } from '../src/registry/types.ts';

function instance(id: string, fields: Partial<Instance> = {}): Instance {
  return {
    service: 'web',
    id,
    address: '10.0.0.1',
    port: 8080,
    weight: 100,
    priority: 0,
    ttl: 15,
    tags: [],
    meta: {},
    maintenance: null,
    status: 'passing',
    health: {},
    registeredAt: 0,
    expiresAt: null,
    warmingSince: null,
    index: 0,
    ...fields,
  };
}

const answerable = (...instances: Instance[]): Answerable[] => instances.map((one) => ({ instance: one, weight: one.weight }));

/** The address a record set's record `n` answers with, decoded. */
function addressOf(set: RecordSet, record: number): string {
  const at = record * LAYOUT_STRIDE + AT_ADDRESS;
  const fragment = set.bytes.subarray(set.layout[at], set.layout[at + 1]);
  const rdata = fragment.subarray(12);
  return rdata.length === 4 ? [...rdata].join('.') : rdata.toString('hex');
}

describe('record sets', () => {
  it('one set per service and per tag; instances by id; SRV order by priority', () => {
    const records = buildServiceRecords(
      answerable(
        instance('b', { priority: 10, tags: ['blue'], address: '10.0.0.2' }),
        instance('a', { priority: 0, tags: ['blue', 'green'], address: '10.0.0.1' }),
        instance('c', { priority: 0, address: 'fd00::3' }),
      ),
      'local',
      5,
    )!;
    expect(records.all.count).toBe(3);
    expect([...records.byTag.keys()].sort()).toEqual(['blue', 'green']);
    expect(records.byTag.get('blue')!.count).toBe(2);
    expect([...records.byId.keys()].sort()).toEqual(['a', 'b', 'c']);
    // Priority 0 first (a, c), then 10 (b): two tiers.
    expect([...records.all.srvGroupEnds]).toEqual([2, 3]);
    // A answers hold only the best tier of their family: a (priority 0), not b (priority 10).
    expect([...records.all.v4].map((record) => addressOf(records.all, record))).toEqual(['10.0.0.1']);
    expect(records.all.v6.length).toBe(1);
    // TXT: one record per meta entry.
    expect([...txtAnswers(buildServiceRecords(answerable(instance('m', { meta: { env: 'prod', zone: 'eu' } })), 'local', 5)!.byId.get('m')!)].length).toBe(2);
  });

  it('no answerable instance, no records: the name does not exist', () => {
    expect(buildServiceRecords([], 'local', 5)).toBeNull();
  });

  it('reuses the fragments of instances that did not change, and rebuilds the ones that did', () => {
    const a = instance('a');
    const b = instance('b');
    const before = buildServiceRecords(answerable(a, b), 'local', 5)!;
    const changedB = instance('b', { port: 9090 });
    const after = buildServiceRecords(answerable(a, changedB), 'local', 5, before)!;
    expect(after.byId.get('a')).toBe(before.byId.get('a'));
    expect(after.byId.get('b')).not.toBe(before.byId.get('b'));
    // A new effective weight (warm-up) is a change too.
    const warmer = buildServiceRecords([{ instance: a, weight: 50 }, { instance: changedB, weight: 100 }], 'local', 5, after)!;
    expect(warmer.byId.get('a')).not.toBe(after.byId.get('a'));
  });

  it('reverse names map to every instance at that address, across services', () => {
    const reverse = new ReverseIndex(5);
    reverse.update('web', buildServiceRecords(answerable(instance('a', { address: '10.0.0.7' })), 'local', 5));
    reverse.update('api', buildServiceRecords(answerable(instance('b', { address: '10.0.0.7', service: 'api' })), 'local', 5));
    expect(reverse.size).toBe(1);
    const name = encodeName('7.0.0.10.IN-ADDR.arpa');
    expect(reverse.find(name, 0, name.length)!.length).toBe(2);
    reverse.update('api', null);
    expect(reverse.find(name, 0, name.length)!.length).toBe(1);
    reverse.update('web', null);
    expect(reverse.find(name, 0, name.length)).toBeUndefined();
    expect(reverse.size).toBe(0);
  });
});

describe('pre-assembled orders', () => {
  it('enumerate every order of a small set with its RFC 2782 probability', () => {
    const set = buildServiceRecords(answerable(instance('a', { weight: 10 }), instance('b', { weight: 30 }), instance('c', { weight: 60 })), 'local', 5)!.all;
    const orders = preassembleSrv(set);
    expect(orders.cumulative.length).toBe(6);
    expect(orders.cumulative.at(-1)).toBe(1);
    // P(first = c) = 0.6: the orders starting with c are the last two in enumeration (c is record 2).
    const probabilities = [...orders.cumulative].map((value, k) => value - (k === 0 ? 0 : orders.cumulative[k - 1]));
    expect(probabilities[4] + probabilities[5]).toBeCloseTo(0.6, 10);
    // P(a, b, c) = 0.1 · 30/90 · 1.
    expect(probabilities[0]).toBeCloseTo(0.1 * (30 / 90), 10);
    expect(orders.answers).toBe(3);
    expect(orders.glue).toBe(3);
  });

  it('keep priority tiers in order: a lower priority is never listed after a higher one', () => {
    const set = buildServiceRecords(
      answerable(instance('a', { priority: 1 }), instance('b', { priority: 0, address: '10.0.0.2' }), instance('c', { priority: 0, weight: 0, address: '10.0.0.3' })),
      'local',
      5,
    )!.all;
    const orders = preassembleSrv(set);
    // Tier 0 (b, c) has two orders, tier 1 (a) one: two in all, and a is last in both.
    expect(orders.cumulative.length).toBe(2);
    const srvOf = (record: number) => set.bytes.subarray(set.layout[record * LAYOUT_STRIDE + AT_SRV], set.layout[record * LAYOUT_STRIDE + AT_SRV + 1]);
    const a = [...set.srvGroupEnds].at(-1)! - 1;
    expect(addressOf(set, a)).toBe('10.0.0.1');
    for (let k = 0; k < 2; k++) {
      const body = orders.bodies.subarray(orders.bodyStart[k], orders.bodyStart[k + 1]);
      const at = [0, 1, 2].map((record) => body.indexOf(srvOf(record)));
      expect(at.every((position) => position >= 0)).toBe(true);
      expect(at[a]).toBe(Math.max(...at));
    }
    // Weight 0 within a tier: "a very small chance" of coming first.
    const zeroFirst = orders.cumulative[0];
    expect(Math.min(zeroFirst, 1 - zeroFirst)).toBeLessThan(1e-6);
  });

  it('address answers of a tier, every order', () => {
    const set = buildServiceRecords(answerable(instance('a', { address: '10.0.0.1' }), instance('b', { address: '10.0.0.2' })), 'local', 5)!.all;
    const orders = preassembleAddresses(set, set.v4);
    expect(orders.cumulative.length).toBe(2);
    expect(orders.glue).toBe(0);
    expect(MAX_PREASSEMBLED_RECORDS).toBeGreaterThanOrEqual(2);
  });
});

describe('the weighted draw', () => {
  it('puts a record first in proportion to its weight, for small and large sets', () => {
    const order = new WeightedOrder();
    for (const size of [3, 40]) {
      const weights = Float64Array.from({ length: size }, (_, i) => (i === 0 ? size : 1));
      // Record 0 has weight `size`, the others 1 each: it should come first half the time.
      let first = 0;
      const rounds = 20_000;
      for (let round = 0; round < rounds; round++) {
        order.draw(weights, null, 0, size, 0);
        if (order.order[0] === 0) first++;
      }
      expect(Math.abs(first / rounds - size / (2 * size - 1))).toBeLessThan(0.02);
      // Every record exactly once.
      expect([...order.order.subarray(0, size)].sort((a, b) => a - b)).toEqual(Array.from({ length: size }, (_, i) => i));
    }
  });

  it('draws a sub-range in place, leaving what comes before it alone', () => {
    const order = new WeightedOrder();
    const weights = Float64Array.from([1, 1, 1, 1, 1, 1]);
    order.draw(weights, null, 0, 3, 0);
    const head = [...order.order.subarray(0, 3)];
    order.draw(weights, Int32Array.from([0, 0, 0, 3, 4, 5]), 3, 6, 3);
    expect([...order.order.subarray(0, 3)]).toEqual(head);
    expect([...order.order.subarray(3, 6)].sort()).toEqual([3, 4, 5]);
  });
});

describe('the weight tree of large sets', () => {
  it('draws every record once, priority tiers in turn, weight-0 records last in their tier', () => {
    // Tier 0: records 0-49 (record 7 weighs 0); tier 1: records 50-99 (all weigh 0).
    const weights = Float64Array.from({ length: 100 }, (_, i) => (i >= 50 || i === 7 ? 1e-9 : 1 + (i % 5)));
    const tree = new WeightTree(weights, Int32Array.from([50, 100]));
    const order = new Int32Array(100);
    for (let round = 0; round < 50; round++) {
      expect(tree.draw(order, 100)).toBe(100);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(Math.max(...order.subarray(0, 50))).toBeLessThan(50);
      expect(order[49]).toBe(7);
    }
  });

  it('puts a record first in proportion to its weight, and draws only as many as asked', () => {
    // Record 0 weighs 1000, records 1-999 weigh 1: first about half the time.
    const weights = Float64Array.from({ length: 1000 }, (_, i) => (i === 0 ? 1000 : 1));
    const tree = new WeightTree(weights, Int32Array.from([1000]));
    const order = new Int32Array(12);
    let first = 0;
    const rounds = 20_000;
    for (let round = 0; round < rounds; round++) {
      expect(tree.draw(order, 12)).toBe(12);
      if (order[0] === 0) first++;
      expect(new Set(order).size).toBe(12);
    }
    expect(Math.abs(first / rounds - 1000 / 1999)).toBeLessThan(0.02);
  });

  it('is left as it was by a draw: the same shares on every query', () => {
    const weights = Float64Array.from([3, 1]);
    const tree = new WeightTree(weights, Int32Array.from([2]));
    const order = new Int32Array(2);
    let first = 0;
    for (let round = 0; round < 20_000; round++) {
      tree.draw(order, 1);
      if (order[0] === 0) first++;
    }
    expect(Math.abs(first / 20_000 - 0.75)).toBeLessThan(0.02);
  });
});
