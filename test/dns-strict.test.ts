// The answer logic where strict resolvers and DNS tools look hardest (pure: no sockets): empty
// non-terminals (RFC 8020), zone transfers whatever the request carries, the DO bit (RFC 3225),
// the CHAOS class, and forwarding only for the clients --allow-recursion names (RA with it).
// Every response is decoded with dns2. The same cases through Unbound, BIND, kdig and drill:
// test/resolvers.test.ts.
import { beforeEach, describe, expect, it } from 'vitest';
import { Answerer, FORWARD, type Recursion } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from '../src/dns/answer/writer.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { ANY_ADDRESS, addressMatcher, expandClientList, LOCAL_NETWORKS } from '../src/lib/addresses.ts';
import { parseClientList } from '../src/config/parse.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Registration } from '../src/registry/types.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { decode, Packet, query } from './helpers/signpost.ts';

const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);
const CLIENT = '127.0.0.1';
let registry: Registry;
let zone: Zone;

function answer(message: Buffer, answerer = new Answerer(zone), client = CLIENT) {
  const length = answerer.answer(message, 'udp', out, client);
  expect(length).toBeGreaterThan(0);
  return decode(Buffer.from(out.subarray(0, length)));
}

function registration(service: string, id: string, fields: Partial<Registration> = {}): Registration {
  return { service, id, address: '10.0.0.1', port: 8080, weight: 100, priority: 0, ttl: 3600, tags: [], meta: {}, ...fields };
}

const SOA = { name: 'local', type: Packet.TYPE.SOA, class: Packet.CLASS.IN, ttl: 0, primary: 'ns.local', admin: 'hostmaster.local', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 1 };

beforeEach(async () => {
  await registry?.close();
  registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
  zone = new Zone(registry, { domain: 'local', ttl: 5 });
});

describe('empty non-terminals', () => {
  const rcodeOf = (name: string, type: keyof typeof Packet.TYPE = 'A') => {
    const reply = answer(query(name, type));
    if (reply.header.rcode === Packet.RCODE.NOERROR) {
      // NODATA: no answer, the SOA in the authority section, authoritative.
      expect(reply.answers, name).toEqual([]);
      expect(reply.authorities.map((record) => record.type), name).toEqual([Packet.TYPE.SOA]);
      expect(reply.header.aa, name).toBe(1);
    }
    return reply.header.rcode;
  };

  it('service.<domain> and instance.<domain> always exist', () => {
    for (const name of ['service.local', 'instance.local', 'SERVICE.local']) expect(rcodeOf(name), name).toBe(Packet.RCODE.NOERROR);
  });

  it('_tcp and _udp under service exist while a service can be answered with', async () => {
    expect(rcodeOf('_tcp.service.local')).toBe(Packet.RCODE.NXDOMAIN);
    await registry.register(registration('web', 'a', { tags: ['blue'] }));
    for (const name of ['_tcp.service.local', '_UDP.service.local']) expect(rcodeOf(name), name).toBe(Packet.RCODE.NOERROR);
    expect(rcodeOf('_web._tcp.service.local')).toBe(Packet.RCODE.NOERROR);
    // Its only instance goes critical: nothing below exists any more.
    await registry.setMaintenance('web', 'a', true, 'test');
    expect(rcodeOf('_tcp.service.local')).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('_<tag> under service exists while an answerable instance carries the tag', async () => {
    await registry.register(registration('web', 'a', { tags: ['blue'] }));
    expect(rcodeOf('_blue.service.local')).toBe(Packet.RCODE.NOERROR);
    expect(rcodeOf('_web._blue.service.local')).toBe(Packet.RCODE.NOERROR);
    expect(rcodeOf('_green.service.local')).toBe(Packet.RCODE.NXDOMAIN);
    await registry.register(registration('api', 'b', { tags: ['green'] }));
    expect(rcodeOf('_green.service.local')).toBe(Packet.RCODE.NOERROR);
    await registry.deregister('api', 'b');
    expect(rcodeOf('_green.service.local')).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('<service>.instance.<domain> exists while the service has an instance name', async () => {
    expect(rcodeOf('web.instance.local')).toBe(Packet.RCODE.NXDOMAIN);
    await registry.register(registration('web', 'a'));
    expect(rcodeOf('web.instance.local')).toBe(Packet.RCODE.NOERROR);
    expect(rcodeOf('a.web.instance.local', 'TXT')).toBe(Packet.RCODE.NOERROR);
    // Below a name that exists only names that exist: nothing under an instance name.
    expect(rcodeOf('x.a.web.instance.local')).toBe(Packet.RCODE.NXDOMAIN);
  });
});

describe('zone transfers', () => {
  it('IXFR carrying the client SOA in the authority section is REFUSED, not FORMERR, with our OPT', () => {
    const reply = answer(query('local', 251, { authorities: [SOA], edns: 1232, dnssecOk: true }));
    expect(reply.header.rcode).toBe(Packet.RCODE.REFUSED);
    expect(reply.answers).toEqual([]);
    expect(reply.additionals).toEqual([expect.objectContaining({ type: Packet.TYPE.EDNS, doFlag: true })]);
  });

  it('AXFR and IXFR are REFUSED for any name, inside the zone or not, with forwarding on or not', () => {
    const forwarding = new Answerer(zone, { allows: () => true, fromCache: () => 0 });
    for (const [name, type] of [
      ['local', 'AXFR'],
      ['local', 251],
      ['example.com', 'AXFR'],
      ['example.com', 251],
    ] as const) {
      for (const answerer of [new Answerer(zone), forwarding]) {
        const length = answerer.answer(query(name, type), 'tcp', out, CLIENT);
        expect(length).not.toBe(FORWARD);
        expect(decode(Buffer.from(out.subarray(0, length))).header.rcode, `${name} ${type}`).toBe(Packet.RCODE.REFUSED);
      }
    }
  });

  it('an authority record on anything but IXFR, or one that runs past the message, is FORMERR', () => {
    expect(answer(query('local', 'SOA', { authorities: [SOA] })).header.rcode).toBe(Packet.RCODE.FORMERR);
    const ixfr = query('local', 251, { authorities: [SOA] });
    expect(answer(ixfr.subarray(0, ixfr.length - 3)).header.rcode).toBe(Packet.RCODE.FORMERR);
  });
});

describe('EDNS', () => {
  it('echoes the DO bit in our OPT, on first answers and prepared ones, and not when it was clear', async () => {
    await registry.register(registration('web', 'a'));
    for (let asked = 0; asked < 2; asked++) {
      const withDo = answer(query('web.service.local', 'SRV', { edns: 1232, dnssecOk: true }));
      expect(withDo.additionals.find((record) => record.type === Packet.TYPE.EDNS)).toMatchObject({ doFlag: true });
      const without = answer(query('web.service.local', 'SRV', { edns: 1232 }));
      expect(without.additionals.find((record) => record.type === Packet.TYPE.EDNS)).toMatchObject({ doFlag: false });
    }
    for (const name of ['nothing.service.local', 'service.local']) {
      expect(answer(query(name, 'A', { edns: 1232, dnssecOk: true })).additionals).toEqual([expect.objectContaining({ doFlag: true })]);
    }
  });
});

describe('class CHAOS', () => {
  it('version.bind, hostname.bind and id.server are REFUSED: no version or host name for strangers', () => {
    for (const name of ['version.bind', 'hostname.bind', 'id.server', 'version.server']) {
      const reply = answer(query(name, 'TXT', { qclass: 3 }));
      expect(reply.header.rcode, name).toBe(Packet.RCODE.REFUSED);
      expect(reply.answers, name).toEqual([]);
    }
  });
});

describe('who may use forwarding', () => {
  const allowed = addressMatcher(expandClientList(['10.1.0.0/16'], {}));
  const recursion: Recursion = { allows: allowed, fromCache: () => 0 };

  it('forwards for allowed clients, with RA; others get REFUSED without RA, and zone answers as before', async () => {
    await registry.register(registration('web', 'a'));
    const answerer = new Answerer(zone, recursion);
    expect(answerer.answer(query('example.com', 'A'), 'udp', out, '10.1.2.3')).toBe(FORWARD);
    const refused = answer(query('example.com', 'A'), answerer, '192.0.2.9');
    expect(refused.header).toMatchObject({ rcode: Packet.RCODE.REFUSED, ra: 0, aa: 0 });
    const zoneAnswer = answer(query('web.service.local', 'A'), answerer, '192.0.2.9');
    expect(zoneAnswer.header).toMatchObject({ rcode: Packet.RCODE.NOERROR, ra: 0, aa: 1 });
    expect(zoneAnswer.answers).toHaveLength(1);
    expect(answer(query('web.service.local', 'A'), answerer, '10.1.2.3').header).toMatchObject({ ra: 1, aa: 1 });
  });

  it('localnets is loopback and the networks of this host\'s interfaces; any is everyone', () => {
    const interfaces = {
      lo: [{ address: '127.0.0.1', cidr: '127.0.0.1/8' }, { address: '::1', cidr: '::1/128' }],
      eth0: [{ address: '192.0.2.2', cidr: '192.0.2.2/24' }, { address: 'fd00::2', cidr: 'fd00::2/64' }],
    } as never;
    const cidrs = expandClientList(parseClientList('localnets', '--allow-recursion'), interfaces);
    expect(cidrs).toEqual(['127.0.0.0/8', '::1/128', '192.0.2.0/24', 'fd00::/64']);
    const local = addressMatcher(cidrs);
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '192.0.2.77', 'fd00::99']) expect(local(address), address).toBe(true);
    for (const address of ['198.51.100.1', '192.0.3.1', 'fd01::1', '2001:db8::1']) expect(local(address), address).toBe(false);
    const everyone = addressMatcher(expandClientList([ANY_ADDRESS], interfaces));
    expect(everyone('198.51.100.1') && everyone('2001:db8::1')).toBe(true);
    expect(parseClientList('', '--allow-recursion')).toEqual([]);
    expect(parseClientList(`10.0.0.0/8, ${LOCAL_NETWORKS}`, '--allow-recursion')).toEqual([LOCAL_NETWORKS, '10.0.0.0/8']);
    expect(() => parseClientList('localnet', '--allow-recursion')).toThrow(/--allow-recursion: .*localnets or any/);
  });
});
