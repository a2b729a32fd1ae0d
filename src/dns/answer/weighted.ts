// Answers drawn from a record set (a service, or one tag of it) in RFC 2782's weighted order:
// from the pre-assembled orders of a small set (and kept as a prepared answer), or drawn record
// by record for a large one, with SRV glue written beside each answer.
import type { Buffer } from 'node:buffer';
import { DNS_LIMITS } from '../../config/limits.ts';
import { RCODE, TYPE } from '../wire/constants.ts';
import { MAX_PREASSEMBLED_RECORDS, preassembleAddresses, preassembleSrv } from '../zone/preassembled.ts';
import { AT_ADDRESS, AT_GLUE, AT_SRV, AT_TARGET, LAYOUT_STRIDE, SRV_TARGET_OFFSET, type Preassembled, type RecordSet } from '../zone/records.ts';
import type { Zone } from '../zone/zone.ts';
import { WeightTree } from '../zone/weight-tree.ts';
import type { WeightedOrder } from './order.ts';
import { copyRange, glueSize, type ResponseWriter } from './writer.ts';

/**
 * Sets larger than this draw only the records an answer can hold, from a weight tree built once
 * per change (zone/weight-tree.ts), rather than sorting every record by a random key per query.
 */
export const LARGE_SET = 32;

/** Bytes of an A and an AAAA answer (owner pointer, type, class, TTL, length, address). */
const ADDRESS_ANSWER_BYTES = { 4: 2 + 10 + 4, 6: 2 + 10 + 16 } as const;

/** A service or tag name: SRV for every member, A/AAAA for the best tier; RFC 2782 names (`srvOnly`) have SRV only. */
export function answerSet(w: ResponseWriter, order: WeightedOrder, zone: Zone, query: Buffer, set: RecordSet | undefined, srvOnly: boolean): number {
  if (!set) return w.nxDomain(zone.soaTail);
  const qtype = w.qtype;
  // A live set (zone/live-set.ts, which has its SRV tree from the start) is never pre-assembled.
  const small = set.count <= MAX_PREASSEMBLED_RECORDS && set.srvTree === null;
  if (qtype === TYPE.SRV || qtype === TYPE.ANY) {
    const all = small ? (set.srvOrders ??= preassembleSrv(set)) : null;
    if (all && writePreassembled(w, all)) {
      zone.prepared.learn(query, w.questionEnd, qtype, w.hash, set.service, all);
      return w.finish(RCODE.NOERROR, true);
    }
    return answerSrv(w, order, set);
  }
  if (!srvOnly && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
    const tier = qtype === TYPE.A ? set.v4 : set.v6;
    if (tier.length === 0) return w.noData(zone.soaTail);
    if (small) {
      const tierOrders = qtype === TYPE.A ? (set.v4Orders ??= preassembleAddresses(set, tier)) : (set.v6Orders ??= preassembleAddresses(set, tier));
      if (writePreassembled(w, tierOrders)) {
        zone.prepared.learn(query, w.questionEnd, qtype, w.hash, set.service, tierOrders);
        return w.finish(RCODE.NOERROR, true);
      }
    }
    const family = qtype === TYPE.A ? 4 : 6;
    let count = tier.length;
    let numbers: Int32Array | null = null;
    if (tier.length > LARGE_SET) {
      const tree = family === 4 ? (set.v4Tree ??= tierTree(set, tier)) : (set.v6Tree ??= tierTree(set, tier));
      count = order.drawFirst(tree, Math.floor((w.limit - w.pos) / ADDRESS_ANSWER_BYTES[family]) + 1);
      numbers = tier;
    } else {
      order.draw(set.drawWeight, tier, 0, tier.length, 0);
    }
    const drawn = order.order;
    const { bytes, layout } = set;
    for (let i = 0; i < count; i++) {
      const record = numbers === null ? drawn[i] : numbers[drawn[i]];
      const at = record * LAYOUT_STRIDE + AT_ADDRESS;
      if (!w.fits(layout[at + 1] - layout[at])) break;
      w.pos = copyRange(bytes, layout[at], layout[at + 1], w.out, w.pos);
      w.answers++;
    }
    return w.finish(RCODE.NOERROR, true);
  }
  return w.noData(zone.soaTail);
}

/**
 * Draws one pre-assembled order by its probability and writes it; false when it does not fit
 * (the general path then truncates record by record).
 */
function writePreassembled(w: ResponseWriter, orders: Preassembled): boolean {
  const { cumulative } = orders;
  const draw = Math.random();
  let k = 0;
  while (cumulative[k] <= draw && k < cumulative.length - 1) k++;
  const body = orders.bodyViews[k];
  const base = w.pos;
  if (base + body.length > w.limit) return false;
  const out = w.out;
  out.set(body, base);
  w.pos = base + body.length;
  // Glue owners point at the SRV targets, wherever this response put the body.
  const pointers = orders.pointers;
  for (let i = k * orders.glue * 2, last = i + orders.glue * 2; i < last; i += 2) {
    const target = base + pointers[i + 1];
    out[base + pointers[i]] = 0xc0 | (target >> 8);
    out[base + pointers[i] + 1] = target & 0xff;
  }
  w.answers += orders.answers;
  w.additionals += orders.glue;
  return true;
}

/**
 * SRV records in priority order, weighted within each priority, each with its target's address in
 * the additional section. An SRV record goes in only with its glue; the first pair that does not
 * fit ends the answer, with TC. Answers and glue are written in one pass: where the additional
 * section starts is known once the pairs that fit are counted.
 */
function answerSrv(w: ResponseWriter, order: WeightedOrder, set: RecordSet): number {
  const { bytes, layout } = set;
  let count = set.count;
  if (count > LARGE_SET || set.srvTree !== null) {
    // One record more than can fit at the least size: the loop below then stops at it, with TC.
    const tree = (set.srvTree ??= new WeightTree(set.drawWeight, set.srvGroupEnds));
    count = order.drawFirst(tree, Math.floor((w.limit - w.pos) / set.minSrvBytes) + 1);
  } else {
    let from = 0;
    for (let g = 0; g < set.srvGroupEnds.length; g++) {
      const to = set.srvGroupEnds[g];
      order.draw(set.drawWeight, null, from, to, from);
      from = to;
    }
  }
  const drawn = order.order;
  // Over TCP, glue counts as if its owner were the target name written out, not a pointer to it:
  // c-ares (Node's resolver) re-encodes a response without compressing those names and refuses it
  // (EFORMERR) when that comes to more than 65,535 bytes, which a full TCP answer of ours did.
  const spelledOut = w.maxBytes === DNS_LIMITS.maxTcpMessageBytes;
  let answersEnd = w.pos;
  let glueBytes = 0;
  let glueCounted = 0;
  let fitting = 0;
  for (; fitting < count; fitting++) {
    const at = drawn[fitting] * LAYOUT_STRIDE;
    const srv = layout[at + AT_SRV + 1] - layout[at + AT_SRV];
    const target = layout[at + AT_TARGET + 1] - layout[at + AT_TARGET];
    const tail = layout[at + AT_GLUE + 1] - layout[at + AT_GLUE];
    const glue = glueSize(answersEnd + SRV_TARGET_OFFSET, target, tail);
    const counted = spelledOut ? target + tail : glue;
    if (answersEnd + srv + glueCounted + counted > w.limit) {
      w.truncated = true;
      break;
    }
    answersEnd += srv;
    glueBytes += glue;
    glueCounted += counted;
  }
  const out = w.out;
  let srvAt = w.pos;
  let glueAt = answersEnd;
  for (let i = 0; i < fitting; i++) {
    const at = drawn[i] * LAYOUT_STRIDE;
    const targetAt = srvAt + SRV_TARGET_OFFSET;
    srvAt = copyRange(bytes, layout[at + AT_SRV], layout[at + AT_SRV + 1], out, srvAt);
    glueAt = w.writeGlue(glueAt, bytes, layout[at + AT_TARGET], layout[at + AT_TARGET + 1], bytes, layout[at + AT_GLUE], layout[at + AT_GLUE + 1], targetAt);
  }
  w.pos = glueAt;
  w.answers += fitting;
  return w.finish(RCODE.NOERROR, true);
}

/** The weight tree of one address family's best tier: its positions are indexes into `tier`. */
function tierTree(set: RecordSet, tier: Int32Array): WeightTree {
  return new WeightTree(Array.from(tier, (record) => set.drawWeight[record]), Int32Array.of(tier.length));
}
