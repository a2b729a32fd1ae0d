// The DNS answer logic as a pure function: query bytes in, response bytes out, no sockets.
// Every response is decoded with dns2, an independent implementation of the wire format.
import { beforeEach, describe, expect, it } from 'vitest';
import { Answerer } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES, type Transport } from '../src/dns/answer/writer.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
import type { Registration } from '../src/registry/types.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { decode, Packet, query } from './helpers/signpost.ts';

const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);
let registry: Registry;
let zone: Zone;

function ask(message: Buffer, transport: Transport = 'udp'): Buffer | null {
  const length = new Answerer(zone).answer(message, transport, out, '127.0.0.1');
  return length === 0 ? null : Buffer.from(out.subarray(0, length));
}

function askName(name: string, type: keyof typeof Packet.TYPE, options: Parameters<typeof query>[2] = {}, transport: Transport = 'udp') {
  const reply = ask(query(name, type, options), transport);
  expect(reply).not.toBeNull();
  return decode(reply!);
}

function registration(service: string, id: string, fields: Partial<Registration> = {}): Registration {
  return { service, id, address: '10.0.0.1', port: 8080, weight: 100, priority: 0, ttl: 3600, tags: [], meta: {}, ...fields };
}

beforeEach(async () => {
  await registry?.close();
  registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
  zone = new Zone(registry, { domain: 'local', ttl: 5, nameServerAddress: '127.0.0.1' });
  await registry.register(registration('web', 'a', { address: '10.0.0.1', port: 8001, tags: ['blue'], meta: { env: 'prod', zone: 'eu-1' } }));
  await registry.register(registration('web', 'b', { address: '10.0.0.2', port: 8002, tags: ['green'] }));
  await registry.register(registration('web', 'c', { address: 'fd00::3', port: 8003, tags: ['blue'] }));
});

describe('service names', () => {
  it('answers SRV for every healthy instance with targets and glue', () => {
    const reply = askName('web.service.local', 'SRV');
    expect(reply.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(reply.header.aa).toBe(1);
    const srv = reply.answers.map((record) => [record.target, record.port, record.ttl]).sort();
    expect(srv).toEqual([
      ['a.web.instance.local', 8001, 5],
      ['b.web.instance.local', 8002, 5],
      ['c.web.instance.local', 8003, 5],
    ]);
    const glue = Object.fromEntries(reply.additionals.map((record) => [record.name, record.address]));
    expect(glue).toEqual({ 'a.web.instance.local': '10.0.0.1', 'b.web.instance.local': '10.0.0.2', 'c.web.instance.local': 'fd00::3' });
  });

  it('answers A and AAAA from the instances of that family', () => {
    expect(askName('web.service.local', 'A').answers.map((record) => record.address).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(askName('web.service.local', 'AAAA').answers.map((record) => record.address)).toEqual(['fd00::3']);
  });

  it('filters by tag in both name forms', () => {
    expect(askName('blue.web.service.local', 'SRV').answers.map((record) => record.target).sort()).toEqual([
      'a.web.instance.local',
      'c.web.instance.local',
    ]);
    expect(askName('_web._green.service.local', 'SRV').answers.map((record) => record.target)).toEqual(['b.web.instance.local']);
    expect(askName('green.web.service.local', 'A').answers.map((record) => record.address)).toEqual(['10.0.0.2']);
  });

  it('answers RFC 2782 names with SRV only', () => {
    expect(askName('_web._tcp.service.local', 'SRV').answers).toHaveLength(3);
    expect(askName('_web._udp.service.local', 'SRV').answers).toHaveLength(3);
    const a = askName('_web._tcp.service.local', 'A');
    expect(a.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(a.answers).toHaveLength(0);
    expect(a.authorities[0].type).toBe(Packet.TYPE.SOA);
  });

  it('serves A/AAAA from the best priority tier only, SRV from all tiers in priority order', async () => {
    await registry.register(registration('db', 'primary', { address: '10.1.0.1', priority: 0 }));
    await registry.register(registration('db', 'replica', { address: '10.1.0.2', priority: 10 }));
    await registry.register(registration('db', 'v6backup', { address: 'fd00::9', priority: 5 }));
    expect(askName('db.service.local', 'A').answers.map((record) => record.address)).toEqual(['10.1.0.1']);
    expect(askName('db.service.local', 'AAAA').answers.map((record) => record.address)).toEqual(['fd00::9']);
    for (let i = 0; i < 20; i++) {
      expect(askName('db.service.local', 'SRV').answers.map((record) => record.priority)).toEqual([0, 5, 10]);
    }
  });
});

describe('instance names', () => {
  it('answers the address and the meta as RFC 1464 TXT strings', () => {
    expect(askName('a.web.instance.local', 'A').answers.map((record) => record.address)).toEqual(['10.0.0.1']);
    expect(askName('c.web.instance.local', 'AAAA').answers.map((record) => record.address)).toEqual(['fd00::3']);
    const txt = askName('a.web.instance.local', 'TXT').answers.map((record) => record.data);
    expect(txt.sort()).toEqual([['env=prod'], ['zone=eu-1']]);
  });

  it('gives NODATA for a type the instance lacks and NXDOMAIN for an unknown id', () => {
    const noData = askName('a.web.instance.local', 'AAAA');
    expect(noData.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(noData.answers).toHaveLength(0);
    expect(noData.authorities).toHaveLength(1);
    expect(askName('b.web.instance.local', 'TXT').answers).toHaveLength(0);
    expect(askName('zz.web.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });
});

describe('negative answers and the apex', () => {
  it('NXDOMAIN with the SOA (minimum = TTL) for unknown names', () => {
    for (const name of ['nope.service.local', 'red.web.service.local', '_nope._tcp.service.local', 'x.y.z.web.service.local', 'other.local']) {
      const reply = askName(name, 'A');
      expect(reply.header.rcode, name).toBe(Packet.RCODE.NXDOMAIN);
      expect(reply.header.aa).toBe(1);
      const [soa] = reply.authorities;
      expect(soa.type).toBe(Packet.TYPE.SOA);
      expect(soa.name).toBe('local');
      expect(soa.minimum).toBe(5);
    }
  });

  it('NODATA for a type a service name does not have', () => {
    const reply = askName('web.service.local', 'TXT');
    expect(reply.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(reply.answers).toHaveLength(0);
    expect(reply.authorities[0].type).toBe(Packet.TYPE.SOA);
  });

  it('NODATA for the structural names service.<domain> and instance.<domain>', () => {
    for (const name of ['service.local', 'instance.local', 'web.instance.local']) {
      const reply = askName(name, 'A');
      expect(reply.header.rcode, name).toBe(Packet.RCODE.NOERROR);
      expect(reply.answers).toHaveLength(0);
    }
  });

  it('answers SOA and NS at the apex, with the name server glue', () => {
    const soa = askName('local', 'SOA');
    expect(soa.answers[0]).toMatchObject({ type: Packet.TYPE.SOA, primary: 'ns.local', admin: 'hostmaster.local', minimum: 5 });
    const ns = askName('local', 'NS');
    expect(ns.answers[0]).toMatchObject({ type: Packet.TYPE.NS, ns: 'ns.local' });
    expect(ns.additionals[0]).toMatchObject({ name: 'ns.local', address: '127.0.0.1' });
    expect(askName('ns.local', 'A').answers[0].address).toBe('127.0.0.1');
  });

  it('changes the SOA serial when the registry changes', async () => {
    const before = askName('local', 'SOA').answers[0].serial;
    await registry.register(registration('api', 'x'));
    expect(askName('local', 'SOA').answers[0].serial).toBeGreaterThan(before!);
  });

  it('a service whose instances are all unhealthy does not exist', async () => {
    await registry.register(registration('lonely', 'only', { ttl: 1 }));
    expect(askName('lonely.service.local', 'A').answers).toHaveLength(1);
    const instance = registry.get('lonely', 'only')!;
    // Expire it through the same timer path the registry uses: wait for the health event.
    await new Promise<void>((resolve) => {
      const off = registry.onEvent((event) => {
        if (event.type === 'health' && event.instance === instance) {
          off();
          resolve();
        }
      });
    });
    expect(askName('lonely.service.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    expect(askName('only.lonely.instance.local', 'A').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('REFUSED, not authoritative, for names outside the zone', () => {
    for (const name of ['example.com', 'localhost', 'service.local.evil']) {
      const reply = askName(name, 'A');
      expect(reply.header.rcode, name).toBe(Packet.RCODE.REFUSED);
      expect(reply.header.aa).toBe(0);
    }
  });
});

describe('many services', () => {
  it('finds each of 300 services, in any letter case, and none of those deregistered', async () => {
    // Past the lookup table's first sizes (64, 128, 256 buckets): every service stays findable.
    for (let n = 0; n < 300; n++) await registry.register(registration(`svc${n}`, 'a', { address: `10.1.${n >> 8}.${n & 0xff}` }));
    for (let n = 0; n < 300; n++) {
      const name = n % 2 ? `SVC${n}.service.local` : `svc${n}.service.local`;
      expect(askName(name, 'A').answers.map((record) => record.address)).toEqual([`10.1.${n >> 8}.${n & 0xff}`]);
    }
    for (let n = 0; n < 300; n += 3) await registry.deregister(`svc${n}`, 'a');
    for (let n = 0; n < 300; n++) {
      const reply = askName(`svc${n}.service.local`, 'A');
      if (n % 3 === 0) expect(reply.header.rcode, `svc${n}`).toBe(Packet.RCODE.NXDOMAIN);
      else expect(reply.answers.map((record) => record.address), `svc${n}`).toEqual([`10.1.${n >> 8}.${n & 0xff}`]);
    }
    await registry.register(registration('svc0', 'b', { address: '10.9.9.9' }));
    expect(askName('svc0.service.local', 'A').answers.map((record) => record.address)).toEqual(['10.9.9.9']);
  });
});

describe('letter case (0x20) and IDs', () => {
  it('matches case-insensitively and echoes the question exactly as sent', () => {
    const message = query('WeB.SeRvIcE.LoCaL', 'A', { id: 0xbeef });
    const reply = ask(message)!;
    expect(reply.readUInt16BE(0)).toBe(0xbeef);
    expect(reply.subarray(12, 12 + 19).toString('latin1')).toContain('WeB');
    const decoded = decode(reply);
    expect(decoded.questions[0].name).toBe('WeB.SeRvIcE.LoCaL');
    expect(decoded.answers).toHaveLength(2);
    expect(decoded.answers[0].name).toBe('WeB.SeRvIcE.LoCaL');
  });

  it('copies RD and never sets RA', () => {
    expect(askName('web.service.local', 'A', { rd: true }).header).toMatchObject({ rd: 1, ra: 0, qr: 1 });
    expect(askName('web.service.local', 'A', { rd: false }).header).toMatchObject({ rd: 0, ra: 0 });
  });
});

describe('size limits and truncation', () => {
  beforeEach(async () => {
    for (let i = 0; i < 100; i++) {
      await registry.register(registration('big', `instance-${i}`, { address: `10.9.${i >> 8}.${i & 255}`, port: 9000 + i }));
    }
  });

  it('fits 512 bytes without EDNS and sets TC when records are dropped', () => {
    const reply = ask(query('big.service.local', 'SRV'))!;
    expect(reply.length).toBeLessThanOrEqual(512);
    const decoded = decode(reply);
    expect(decoded.header.tc).toBe(1);
    expect(decoded.answers.length).toBeGreaterThan(0);
    expect(decoded.additionals).toHaveLength(decoded.answers.length);
  });

  it('uses the client EDNS size, capped at 1232, and keeps the OPT record when truncating', () => {
    const reply = ask(query('big.service.local', 'SRV', { edns: 4096 }))!;
    expect(reply.length).toBeLessThanOrEqual(1232);
    expect(reply.length).toBeGreaterThan(900);
    const decoded = decode(reply);
    expect(decoded.header.tc).toBe(1);
    const opt = decoded.additionals.find((record) => record.type === Packet.TYPE.EDNS);
    expect(opt).toBeDefined();
    expect(opt!.class).toBe(1232);
  });

  it('answers everything over TCP', () => {
    const decoded = askName('big.service.local', 'SRV', {}, 'tcp');
    expect(decoded.header.tc).toBe(0);
    expect(decoded.answers).toHaveLength(100);
    expect(decoded.additionals).toHaveLength(100);
    expect(new Set(decoded.answers.map((record) => record.port)).size).toBe(100);
    const a = askName('big.service.local', 'A', {}, 'tcp');
    expect(a.answers).toHaveLength(100);
  });
});

describe('hostile and unusual packets', () => {
  const good = () => query('web.service.local', 'A');

  it('drops packets shorter than a header and responses (QR=1)', () => {
    expect(ask(Buffer.alloc(0))).toBeNull();
    expect(ask(Buffer.alloc(11))).toBeNull();
    const response = good();
    response[2] |= 0x80;
    expect(ask(response)).toBeNull();
  });

  it('FORMERR unless there is exactly one question and no answer/authority records', () => {
    const cases: Array<[string, (message: Buffer) => void]> = [
      ['no question', (m) => m.writeUInt16BE(0, 4)],
      ['two questions', (m) => m.writeUInt16BE(2, 4)],
      ['answer records', (m) => m.writeUInt16BE(1, 6)],
      ['authority records', (m) => m.writeUInt16BE(1, 8)],
      ['every count 0xFFFF', (m) => m.fill(0xff, 4, 12)],
    ];
    for (const [label, mutate] of cases) {
      const message = good();
      mutate(message);
      const reply = ask(message);
      expect(reply, label).not.toBeNull();
      expect(decode(reply!).header.rcode, label).toBe(Packet.RCODE.FORMERR);
      expect(reply!.readUInt16BE(0)).toBe(0x1234);
    }
  });

  it('FORMERR for a truncated question, an overlong name or a compression pointer in the question', () => {
    const full = good();
    for (let cut = 13; cut < full.length; cut++) {
      expect(decode(ask(full.subarray(0, cut))!).header.rcode, `cut at ${cut}`).toBe(Packet.RCODE.FORMERR);
    }
    const pointer = Buffer.concat([full.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(decode(ask(pointer)!).header.rcode).toBe(Packet.RCODE.FORMERR);
    const longName = Array.from({ length: 5 }, () => 'a'.repeat(63)).join('.');
    const long = Buffer.concat([full.subarray(0, 12), ...longName.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0, 0, 1, 0, 1])]);
    expect(decode(ask(long)!).header.rcode).toBe(Packet.RCODE.FORMERR);
  });

  it('NOTIMP for opcodes other than QUERY, REFUSED for classes other than IN', () => {
    for (const opcode of [1, 2, 4, 5, 15]) {
      const message = good();
      message[2] = (message[2] & 0x87) | (opcode << 3);
      const reply = decode(ask(message)!);
      expect(reply.header.rcode, `opcode ${opcode}`).toBe(Packet.RCODE.NOTIMP);
      expect(reply.header.opcode).toBe(opcode);
    }
    const chaos = good();
    chaos.writeUInt16BE(3, chaos.length - 2);
    expect(decode(ask(chaos)!).header.rcode).toBe(Packet.RCODE.REFUSED);
  });

  it('BADVERS for EDNS versions above 0, with an OPT record saying version 0', () => {
    const message = query('web.service.local', 'A', { edns: 1232 });
    // OPT TTL field: extended rcode (1 byte), version (1 byte), flags (2 bytes).
    message[message.length - 11 + 6] = 1;
    const reply = ask(message)!;
    // BADVERS is 16: 0 in the header's 4 bits, 1 in the OPT record's extended-rcode byte.
    expect(reply[3] & 0x0f).toBe(0);
    const decoded = decode(reply);
    expect(decoded.header.rcode).toBe(Packet.RCODE.BADVERS);
    const opt = decoded.additionals.find((record) => record.type === Packet.TYPE.EDNS)!;
    expect(opt.extendedRcode).toBe(1);
    expect(opt.version).toBe(0);
    expect(decoded.answers).toHaveLength(0);
  });

  it('REFUSED for zone transfers', () => {
    expect(askName('local', 'AXFR').header.rcode).toBe(Packet.RCODE.REFUSED);
  });
});

describe('answers asked again (prepared answers)', () => {
  const srvTargets = (name: string) => askName(name, 'SRV').answers.map((record) => `${record.target}:${record.port}`).sort();

  it('reflect every change to the service at once, for every name form', async () => {
    for (let i = 0; i < 3; i++) {
      expect(srvTargets('web.service.local')).toEqual(['a.web.instance.local:8001', 'b.web.instance.local:8002', 'c.web.instance.local:8003']);
      expect(srvTargets('_web._tcp.service.local')).toHaveLength(3);
      expect(srvTargets('blue.web.service.local')).toEqual(['a.web.instance.local:8001', 'c.web.instance.local:8003']);
      expect(askName('web.service.local', 'A').answers.map((record) => record.address).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    }
    await registry.register(registration('web', 'a', { address: '10.0.0.9', port: 9001, tags: ['green'] }));
    await registry.deregister('web', 'b');
    expect(srvTargets('web.service.local')).toEqual(['a.web.instance.local:9001', 'c.web.instance.local:8003']);
    expect(srvTargets('_web._tcp.service.local')).toEqual(['a.web.instance.local:9001', 'c.web.instance.local:8003']);
    expect(srvTargets('blue.web.service.local')).toEqual(['c.web.instance.local:8003']);
    expect(askName('web.service.local', 'A').answers.map((record) => record.address)).toEqual(['10.0.0.9']);
    await registry.deregister('web', 'a');
    await registry.deregister('web', 'c');
    expect(askName('web.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    expect(askName('_web._tcp.service.local', 'SRV').header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('echo the ID and letter case of each query, over UDP and TCP, with and without EDNS', () => {
    askName('web.service.local', 'SRV');
    for (const [name, edns, transport] of [
      ['WEB.service.LOCAL', false, 'udp'],
      ['wEb.SERVICE.local', 1232, 'udp'],
      ['Web.Service.Local', 4096, 'tcp'],
    ] as const) {
      const reply = decode(ask(query(name, 'SRV', { id: 0x4321, edns }), transport)!);
      expect(reply.header).toMatchObject({ id: 0x4321, qr: 1, aa: 1, tc: 0, rcode: Packet.RCODE.NOERROR });
      expect(reply.questions[0].name).toBe(name);
      expect(reply.answers.map((record) => record.name)).toEqual([name, name, name]);
      // Glue owners are pointers to the SRV targets of this very response.
      expect(reply.additionals.filter((record) => record.type !== Packet.TYPE.EDNS).map((record) => record.name).sort()).toEqual([
        'a.web.instance.local',
        'b.web.instance.local',
        'c.web.instance.local',
      ]);
      expect(reply.additionals.some((record) => record.type === Packet.TYPE.EDNS)).toBe(edns !== false);
    }
  });

  it('stay right for every service when they outgrow their space and start again', async () => {
    for (let n = 0; n < 300; n++) {
      for (const id of ['a', 'b', 'c']) await registry.register(registration(`svc${n}`, id, { address: `10.${n >> 8}.${n & 0xff}.1`, port: 9000 + n }));
    }
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 300; n++) {
        expect(srvTargets(`svc${n}.service.local`)).toEqual(['a', 'b', 'c'].map((id) => `${id}.svc${n}.instance.local:${9000 + n}`));
        expect(srvTargets(`_svc${n}._tcp.service.local`)).toHaveLength(3);
      }
      for (let n = round; n < 300; n += 7) await registry.deregister(`svc${n}`, 'b');
      for (let n = round; n < 300; n += 7) await registry.register(registration(`svc${n}`, 'b', { address: `10.${n >> 8}.${n & 0xff}.1`, port: 9000 + n }));
    }
    expect(zone.prepared.restarts).toBeGreaterThan(0);
  });
});

describe('weighted ordering', () => {
  it('puts an instance first in proportion to its weight share (SRV and A)', async () => {
    const weights = { light: 10, medium: 30, heavy: 60 };
    for (const [id, weight] of Object.entries(weights)) {
      await registry.register(registration('shop', id, { weight, address: `10.5.0.${weight}` }));
    }
    const rounds = 20_000;
    const firstSrv: Record<string, number> = {};
    const firstA: Record<string, number> = {};
    for (let i = 0; i < rounds; i++) {
      const srv = askName('shop.service.local', 'SRV').answers[0].target!.split('.')[0];
      firstSrv[srv] = (firstSrv[srv] ?? 0) + 1;
      const a = askName('shop.service.local', 'A').answers[0].address!;
      firstA[a] = (firstA[a] ?? 0) + 1;
    }
    for (const [id, weight] of Object.entries(weights)) {
      // 20,000 draws: the standard error of a share near 0.3 is ~0.003; allow 0.02.
      expect(firstSrv[id] / rounds, id).toBeCloseTo(weight / 100, 1);
      expect(Math.abs(firstSrv[id] / rounds - weight / 100), id).toBeLessThan(0.02);
      expect(Math.abs(firstA[`10.5.0.${weight}`] / rounds - weight / 100), id).toBeLessThan(0.02);
    }
  });

  it('puts weight-0 instances after weighted ones, and shares evenly when all weights are 0', async () => {
    await registry.register(registration('zero', 'w0', { weight: 0 }));
    await registry.register(registration('zero', 'w1', { weight: 1 }));
    let zeroFirst = 0;
    for (let i = 0; i < 2000; i++) {
      if (askName('zero.service.local', 'SRV').answers[0].weight === 0) zeroFirst++;
    }
    expect(zeroFirst).toBeLessThan(5);
    await registry.register(registration('allzero', 'x', { weight: 0 }));
    await registry.register(registration('allzero', 'y', { weight: 0 }));
    let xFirst = 0;
    for (let i = 0; i < 4000; i++) {
      if (askName('allzero.service.local', 'SRV').answers[0].target!.startsWith('x.')) xFirst++;
    }
    expect(Math.abs(xFirst / 4000 - 0.5)).toBeLessThan(0.04);
  });

  it('orders a large tier by weight too', async () => {
    for (let i = 0; i < 60; i++) {
      await registry.register(registration('wide', `n${i}`, { weight: i === 0 ? 6000 : 100, address: `10.6.0.${i}` }));
    }
    let heavyFirst = 0;
    for (let i = 0; i < 3000; i++) {
      if (askName('wide.service.local', 'SRV', {}, 'tcp').answers[0].target!.startsWith('n0.')) heavyFirst++;
    }
    // 6000 / (6000 + 59 * 100) ≈ 0.504
    expect(Math.abs(heavyFirst / 3000 - 0.504)).toBeLessThan(0.04);
  });
});
