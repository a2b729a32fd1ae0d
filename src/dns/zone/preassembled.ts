// Small record sets, every order pre-assembled: a query draws one order by its exact RFC 2782
// probability and copies one block of bytes, instead of drawing keys and copying record by record.
//
// Most services have a handful of instances, and the answer path is dominated by memory traffic,
// not arithmetic: one contiguous block per order touches a few cache lines where the general path
// touches a few per record. Unlike caching a few random shuffles, enumerating every order with its
// probability keeps the first-position shares exactly equal to the weight shares.
import { AT_ADDRESS, AT_GLUE, AT_SRV, LAYOUT_STRIDE, SRV_TARGET_OFFSET, type Preassembled, type RecordSet } from './records.ts';

/** Sets of at most this many records get every order pre-assembled (4! = 24 orders, a few KB). */
export const MAX_PREASSEMBLED_RECORDS = 4;

/** SRV answers with glue, for every order the priority tiers allow. */
export function preassembleSrv(set: RecordSet): Preassembled {
  const tiers: number[][] = [];
  let from = 0;
  for (const to of set.srvGroupEnds) {
    tiers.push(Array.from({ length: to - from }, (_, i) => from + i));
    from = to;
  }
  const orders = product(tiers.map((tier) => permutations(tier, set.drawWeight)));
  const { bytes, layout } = set;
  const slice = (record: number, at: number) =>
    bytes.subarray(layout[record * LAYOUT_STRIDE + at], layout[record * LAYOUT_STRIDE + at + 1]);
  const bodies: Buffer[] = [];
  const pointers: number[] = [];
  for (const { records } of orders) {
    const srvs = records.map((record) => slice(record, AT_SRV));
    const targets: number[] = [];
    let offset = 0;
    for (const srv of srvs) {
      targets.push(offset + SRV_TARGET_OFFSET);
      offset += srv.length;
    }
    const glue = records.map((record, i) => {
      pointers.push(offset, targets[i]);
      const tail = slice(record, AT_GLUE);
      offset += 2 + tail.length;
      return Buffer.concat([Buffer.alloc(2), tail]);
    });
    bodies.push(Buffer.concat([...srvs, ...glue]));
  }
  return assemble(orders, bodies, Int32Array.from(pointers), set.count, set.count);
}

/** A or AAAA answers of one tier (record numbers), for every order. */
export function preassembleAddresses(set: RecordSet, tier: Int32Array): Preassembled {
  const orders = permutations([...tier], set.drawWeight);
  const { bytes, layout } = set;
  const bodies = orders.map(({ records }) =>
    Buffer.concat(records.map((record) => bytes.subarray(layout[record * LAYOUT_STRIDE + AT_ADDRESS], layout[record * LAYOUT_STRIDE + AT_ADDRESS + 1]))),
  );
  return assemble(orders, bodies, new Int32Array(0), tier.length, 0);
}

interface Order {
  records: number[];
  probability: number;
}

function assemble(orders: Order[], bodies: Buffer[], pointers: Int32Array, answers: number, glue: number): Preassembled {
  const cumulative = new Float64Array(orders.length);
  let sum = 0;
  orders.forEach((order, k) => (cumulative[k] = sum += order.probability));
  cumulative[orders.length - 1] = 1;
  const bodyStart = new Int32Array(orders.length + 1);
  bodies.forEach((body, k) => (bodyStart[k + 1] = bodyStart[k] + body.length));
  const all = Buffer.concat(bodies);
  const bodyViews = bodies.map((_, k) => all.subarray(bodyStart[k], bodyStart[k + 1]));
  return { cumulative, bodies: all, bodyStart, bodyViews, pointers, answers, glue };
}

/**
 * Every order of `records` with its RFC 2782 probability: each position is taken with probability
 * weight / (sum of the weights not yet placed).
 */
function permutations(records: number[], weights: Float64Array): Order[] {
  if (records.length <= 1) return [{ records, probability: 1 }];
  const total = records.reduce((sum, record) => sum + weights[record], 0);
  return records.flatMap((first) =>
    permutations(
      records.filter((record) => record !== first),
      weights,
    ).map((rest) => ({ records: [first, ...rest.records], probability: (weights[first] / total) * rest.probability })),
  );
}

/** Independent tiers one after another: every combination, probabilities multiplied. */
function product(tiers: Order[][]): Order[] {
  return tiers.reduce<Order[]>(
    (orders, tier) => orders.flatMap((head) => tier.map((tail) => ({ records: [...head.records, ...tail.records], probability: head.probability * tail.probability }))),
    [{ records: [], probability: 1 }],
  );
}
