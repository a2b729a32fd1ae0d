// The DNS side's read-only view of the registry: the records of `<domain>.`, built lazily per
// service on the first query after that service changed, and dropped on every change.
import { isIP } from 'node:net';
import type { RegistryView } from '../registry/types.ts';
import { buildServiceRecords, type ServiceRecords } from './records.ts';
import { TYPE, addressRdata, answerFragment, encodeName, recordTail, soaRdata } from './wire.ts';

export interface ZoneOptions {
  domain: string;
  /** Seconds; positive answers and the SOA minimum (negative caching, RFC 2308). */
  ttl: number;
  /** The address the DNS server listens on, published as `ns.<domain>` when it is a concrete address. */
  nameServerAddress?: string;
}

/** SOA timers for secondaries; Signpost has none, so these are conventional values. */
const SOA_REFRESH = 3600;
const SOA_RETRY = 600;
const SOA_EXPIRE = 86400;

export class Zone {
  readonly domain: string;
  readonly ttl: number;
  /** The zone's labels, lower case, for the in-zone suffix check. */
  readonly apexLabels: Buffer[];
  /** NS answer (owner = question) and the glue for `ns.<domain>`, if the listener has a concrete address. */
  readonly nsAnswer: Buffer;
  readonly nsGlue: { family: 4 | 6; answer: Buffer; tail: Buffer; target: Buffer } | null;
  readonly #view: RegistryView;
  readonly #services = new Map<string, ServiceRecords | null>();
  readonly #mname: Buffer;
  readonly #rname: Buffer;
  #serial = Math.floor(Date.now() / 1000);
  #soaTail: Buffer;

  constructor(view: RegistryView, options: ZoneOptions) {
    this.#view = view;
    this.domain = options.domain;
    this.ttl = options.ttl;
    this.apexLabels = options.domain.split('.').map((label) => Buffer.from(label, 'ascii'));
    this.#mname = encodeName(`ns.${options.domain}`);
    this.#rname = encodeName(`hostmaster.${options.domain}`);
    this.#soaTail = this.#buildSoaTail();
    this.nsAnswer = answerFragment(TYPE.NS, this.ttl, this.#mname);
    const address = options.nameServerAddress;
    if (address && isIP(address) && address !== '0.0.0.0' && address !== '::') {
      const { type, rdata } = addressRdata(address);
      this.nsGlue = {
        family: type === TYPE.A ? 4 : 6,
        answer: answerFragment(type, this.ttl, rdata),
        tail: recordTail(type, this.ttl, rdata),
        target: this.#mname,
      };
    } else {
      this.nsGlue = null;
    }
    view.onChange((service) => this.#invalidate(service));
  }

  /** SOA record without owner name; the serial moves with every change, so secondaries and caches can tell. */
  get soaTail(): Buffer {
    return this.#soaTail;
  }

  /** The records of a service's healthy instances, or null when it has none (the name does not exist). */
  service(name: string): ServiceRecords | null {
    const cached = this.#services.get(name);
    if (cached !== undefined) return cached;
    const instances = this.#view.instances(name);
    // Only registered services are cached, so random query names cannot grow this map.
    if (!instances) return null;
    const healthy = instances.filter((instance) => instance.status === 'passing');
    const records = buildServiceRecords(healthy, this.domain, this.ttl);
    this.#services.set(name, records);
    return records;
  }

  #invalidate(service: string): void {
    this.#services.delete(service);
    this.#serial = (this.#serial + 1) >>> 0;
    this.#soaTail = this.#buildSoaTail();
  }

  #buildSoaTail(): Buffer {
    const rdata = soaRdata(this.#mname, this.#rname, this.#serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, this.ttl);
    return recordTail(TYPE.SOA, this.ttl, rdata);
  }
}
