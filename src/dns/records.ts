// How registry instances become DNS records: the one place that says which records a name has.
// Everything here runs when the registry changes (lazily, on the first query after a change),
// never per query; the per-query work in answer.ts only orders and copies these fragments.
import type { Instance } from '../registry/types.ts';
import { TYPE, addressRdata, answerFragment, encodeName, recordTail, srvRdata, txtRdata } from './wire.ts';

/** One instance's records, as fragments ready to copy. */
export interface InstanceRecords {
  priority: number;
  /** The weight ordering draws with; zero weights get a tiny one (RFC 2782: "a very small chance"). */
  drawWeight: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** SRV answer, owner = question. */
  srv: Buffer;
  /** A or AAAA answer, owner = question. */
  address: Buffer;
  /** The SRV target's A/AAAA record without owner: the owner is written as a pointer to the target. */
  glueTail: Buffer;
  /** The SRV target name, for glue written where a pointer cannot reach. */
  target: Buffer;
  /** TXT answers, one record per meta entry as a `key=value` string (RFC 1464); empty without meta. */
  txt: Buffer[];
}

/** A set of instances answered together (a service, or one tag of it), pre-sorted for ordering. */
export interface RecordSet {
  /** SRV order: by priority ascending; `srvGroups` marks where each priority tier ends. */
  bySrv: InstanceRecords[];
  srvGroupEnds: number[];
  /** A and AAAA answers hold only the best (lowest) priority tier of their address family. */
  v4: InstanceRecords[];
  v6: InstanceRecords[];
}

export interface ServiceRecords {
  all: RecordSet;
  byTag: Map<string, RecordSet>;
  byId: Map<string, InstanceRecords>;
}

/** Offset of the target name inside an SRV answer fragment: pointer, type, class, TTL, rdlength, then 6 bytes. */
export const SRV_TARGET_OFFSET = 2 + 2 + 2 + 4 + 2 + 6;

/** Weight used for ordering a weight-0 instance: it sorts after every weighted one, randomly among its peers. */
const ZERO_WEIGHT_DRAW = 1e-9;

export function instanceTargetName(instance: Pick<Instance, 'id' | 'service'>, domain: string): string {
  return `${instance.id}.${instance.service}.instance.${domain}`;
}

/**
 * Builds the records of a service from its healthy instances.
 * `weightOf` is the weight DNS publishes and orders by.
 */
export function buildServiceRecords(
  healthy: readonly Instance[],
  domain: string,
  ttl: number,
  weightOf: (instance: Instance) => number = (instance) => instance.weight,
): ServiceRecords | null {
  if (healthy.length === 0) return null;
  const byId = new Map<string, InstanceRecords>();
  const tagged = new Map<string, InstanceRecords[]>();
  const all: InstanceRecords[] = [];
  for (const instance of healthy) {
    const records = buildInstanceRecords(instance, domain, ttl, weightOf(instance));
    byId.set(instance.id, records);
    all.push(records);
    for (const tag of instance.tags) {
      let list = tagged.get(tag);
      if (!list) tagged.set(tag, (list = []));
      list.push(records);
    }
  }
  const byTag = new Map<string, RecordSet>();
  for (const [tag, list] of tagged) byTag.set(tag, buildRecordSet(list));
  return { all: buildRecordSet(all), byTag, byId };
}

function buildInstanceRecords(instance: Instance, domain: string, ttl: number, weight: number): InstanceRecords {
  const target = encodeName(instanceTargetName(instance, domain));
  const { type, rdata } = addressRdata(instance.address);
  const metaStrings = Object.entries(instance.meta).map(([key, value]) => `${key}=${value}`);
  return {
    priority: instance.priority,
    drawWeight: weight === 0 ? ZERO_WEIGHT_DRAW : weight,
    family: type === TYPE.A ? 4 : 6,
    srv: answerFragment(TYPE.SRV, ttl, srvRdata(instance.priority, weight, instance.port, target)),
    address: answerFragment(type, ttl, rdata),
    glueTail: recordTail(type, ttl, rdata),
    target,
    txt: metaStrings.map((text) => answerFragment(TYPE.TXT, ttl, txtRdata([text]))),
  };
}

function buildRecordSet(records: InstanceRecords[]): RecordSet {
  const bySrv = [...records].sort((a, b) => a.priority - b.priority);
  const srvGroupEnds: number[] = [];
  for (let i = 1; i <= bySrv.length; i++) {
    if (i === bySrv.length || bySrv[i].priority !== bySrv[i - 1].priority) srvGroupEnds.push(i);
  }
  return { bySrv, srvGroupEnds, v4: bestTier(bySrv, 4), v6: bestTier(bySrv, 6) };
}

function bestTier(sorted: InstanceRecords[], family: 4 | 6): InstanceRecords[] {
  const ofFamily = sorted.filter((records) => records.family === family);
  if (ofFamily.length === 0) return ofFamily;
  const best = ofFamily[0].priority;
  return ofFamily.filter((records) => records.priority === best);
}
