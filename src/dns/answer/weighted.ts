// Answers drawn from a record set (a service, or one tag of it) in RFC 2782's weighted order:
// from the pre-assembled orders of a small set (and kept as a prepared answer), or drawn record
// by record for a large one, with SRV glue written beside each answer.
import type { Buffer } from 'node:buffer';
import { RCODE, TYPE } from '../wire/constants.ts';
import { MAX_PREASSEMBLED_RECORDS, preassembleAddresses, preassembleSrv } from '../zone/preassembled.ts';
import { AT_ADDRESS, AT_GLUE, AT_SRV, AT_TARGET, LAYOUT_STRIDE, SRV_TARGET_OFFSET, type Preassembled, type RecordSet } from '../zone/records.ts';
import type { Zone } from '../zone/zone.ts';
import type { WeightedOrder } from './order.ts';
import { copyRange, glueSize, type ResponseWriter } from './writer.ts';

/** A service or tag name: SRV for every member, A/AAAA for the best tier; RFC 2782 names (`srvOnly`) have SRV only. */
export function answerSet(w: ResponseWriter, order: WeightedOrder, zone: Zone, query: Buffer, set: RecordSet | undefined, srvOnly: boolean): number {
  if (!set) return w.nxDomain(zone.soaTail);
  const qtype = w.qtype;
  const small = set.count <= MAX_PREASSEMBLED_RECORDS;
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
    order.draw(set.drawWeight, tier, 0, tier.length, 0);
    const drawn = order.order;
    const { bytes, layout } = set;
    for (let i = 0; i < tier.length; i++) {
      const at = drawn[i] * LAYOUT_STRIDE + AT_ADDRESS;
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
  const { bytes, layout, count } = set;
  let from = 0;
  for (let g = 0; g < set.srvGroupEnds.length; g++) {
    const to = set.srvGroupEnds[g];
    order.draw(set.drawWeight, null, from, to, from);
    from = to;
  }
  const drawn = order.order;
  let answersEnd = w.pos;
  let glueBytes = 0;
  let fitting = 0;
  for (; fitting < count; fitting++) {
    const at = drawn[fitting] * LAYOUT_STRIDE;
    const srv = layout[at + AT_SRV + 1] - layout[at + AT_SRV];
    const glue = glueSize(answersEnd + SRV_TARGET_OFFSET, layout[at + AT_TARGET + 1] - layout[at + AT_TARGET], layout[at + AT_GLUE + 1] - layout[at + AT_GLUE]);
    if (answersEnd + srv + glueBytes + glue > w.limit) {
      w.truncated = true;
      break;
    }
    answersEnd += srv;
    glueBytes += glue;
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
