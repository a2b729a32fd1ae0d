// The forwarder's pure parts: reading upstream replies, the cache's lifetimes and TTL arithmetic
// (with a clock the test controls), resolv.conf, and the forwarding flags.
import { describe, expect, it } from 'vitest';
import { parseDuration, parseRecursor } from '../src/config/parse.ts';
import { Answerer, FORWARD, type Recursion } from '../src/dns/answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from '../src/dns/answer/writer.ts';
import type { Question } from '../src/dns/wire/question.ts';
import { AnswerCache, toCachedAnswer, writeCachedReply } from '../src/dns/forward/cache.ts';
import { buildUpstreamQuery, isReplyTo, readReply } from '../src/dns/forward/message.ts';
import { nameserversOf } from '../src/dns/forward/resolvconf.ts';
import { encodeName } from '../src/dns/wire/names.ts';
import { Zone } from '../src/dns/zone/zone.ts';
import { Registry } from '../src/registry/registry.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { decode, Packet, query } from './helpers/signpost.ts';

const NAME = 'www.example.test';
const QUESTION = Buffer.concat([encodeName(NAME), Buffer.from([0, 1, 0, 1])]);
const QUESTION_END = 12 + QUESTION.length;

/** A reply from "upstream", encoded by dns2. */
function upstreamReply(options: { rcode?: number; answers?: object[]; authorities?: object[]; additionals?: object[]; id?: number } = {}): Buffer {
  const packet = new Packet();
  packet.header.id = options.id ?? 7;
  packet.header.qr = 1;
  packet.header.rcode = options.rcode ?? 0;
  packet.questions.push({ name: NAME, type: Packet.TYPE.A, class: Packet.CLASS.IN } as never);
  const fill = (record: object) => ({ name: NAME, class: Packet.CLASS.IN, ttl: 300, ...record }) as never;
  for (const record of options.answers ?? []) packet.answers.push(fill(record));
  for (const record of options.authorities ?? []) packet.authorities.push(fill(record));
  for (const record of options.additionals ?? []) packet.additionals.push(record as never);
  return packet.toBuffer();
}

const SOA = { type: Packet.TYPE.SOA, name: 'example.test', ttl: 900, primary: 'ns.example.test', admin: 'a.example.test', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 30 };

/** The question facts the answer logic would hand over for a client's query of NAME. */
function clientQuestion(edns: boolean, maxBytes = 1232): Question {
  return { nameEnd: QUESTION_END - 4, questionEnd: QUESTION_END, qtype: Packet.TYPE.A, edns, dnssecOk: false, maxBytes };
}

describe('answers with forwarding on', () => {
  const registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
  const zone = new Zone(registry, { domain: 'local', ttl: 5 });
  const out = Buffer.alloc(RESPONSE_BUFFER_BYTES);
  const asked: Question[] = [];
  const emptyCache: Recursion = {
    allows: (client) => client === '127.0.0.1',
    fromCache(_query, question) {
      asked.push({ ...question });
      return 0;
    },
  };
  const forwarding = new Answerer(zone, emptyCache);
  const authoritativeOnly = new Answerer(zone);

  it('returns FORWARD for a name outside the zone, with the facts the forwarder needs', () => {
    expect(forwarding.answer(query(NAME, 'A', { edns: 4096 }), 'udp', out, '127.0.0.1')).toBe(FORWARD);
    const expected = { nameEnd: QUESTION_END - 4, questionEnd: QUESTION_END, qtype: Packet.TYPE.A, edns: true, dnssecOk: false, maxBytes: 1232 };
    expect(asked.at(-1)).toEqual(expected);
    expect(forwarding.forwarded).toEqual(expected);
    expect(forwarding.answer(query(NAME, 'A'), 'tcp', out, '127.0.0.1')).toBe(FORWARD);
    expect(asked.at(-1)).toMatchObject({ edns: false, maxBytes: 65535 });
  });

  it('refuses a query without RD, and sets RA on every answer, zone answers included', () => {
    const refused = decode(out.subarray(0, forwarding.answer(query(NAME, 'A', { rd: false }), 'udp', out, '127.0.0.1')));
    expect(refused.header).toMatchObject({ rcode: Packet.RCODE.REFUSED, ra: 1, aa: 0 });
    const zoneAnswer = decode(out.subarray(0, forwarding.answer(query('local', 'SOA'), 'udp', out, '127.0.0.1')));
    expect(zoneAnswer.header).toMatchObject({ rcode: Packet.RCODE.NOERROR, ra: 1, aa: 1 });
    const withoutForwarding = decode(out.subarray(0, authoritativeOnly.answer(query('local', 'SOA'), 'udp', out, '127.0.0.1')));
    expect(withoutForwarding.header.ra).toBe(0);
  });
});

describe('upstream replies', () => {
  it('match only our ID and question, in any letter case', () => {
    const reply = upstreamReply();
    expect(isReplyTo(reply, 7, QUESTION)).toBe(true);
    expect(isReplyTo(reply, 8, QUESTION)).toBe(false);
    const shouted = Buffer.from(reply);
    shouted.write('WWW', 13, 'latin1');
    expect(isReplyTo(shouted, 7, QUESTION)).toBe(true);
    const otherType = Buffer.from(reply);
    otherType[QUESTION_END - 3] = 28;
    expect(isReplyTo(otherType, 7, QUESTION)).toBe(false);
    // QTYPE and QCLASS match exactly: type 65 (HTTPS) is the byte of an "A" and must not be case-folded.
    const https = Buffer.concat([encodeName('www.example.test'), Buffer.from([0, 65, 0, 1])]);
    const httpsReply = Buffer.from(buildUpstreamQuery(7, https));
    httpsReply[2] |= 0x80;
    expect(isReplyTo(httpsReply, 7, https)).toBe(true);
    // Our own query is not a reply to itself (QR is clear).
    expect(isReplyTo(buildUpstreamQuery(7, QUESTION), 7, QUESTION)).toBe(false);
  });

  it('are read for TTL offsets, the SOA minimum, and without the OPT record and what follows it', () => {
    const reply = upstreamReply({
      rcode: Packet.RCODE.NXDOMAIN,
      authorities: [SOA],
      additionals: [Packet.Resource.EDNS([]), { name: 'x.example.test', type: Packet.TYPE.A, class: 1, ttl: 5, address: '192.0.2.1' }],
    });
    const read = readReply(reply, QUESTION_END)!;
    expect(read).toMatchObject({ rcode: Packet.RCODE.NXDOMAIN, answers: 0, authorities: 1, additionals: 0, ttls: [900], negativeTtl: 30 });
    expect(read.records.readUInt32BE(read.ttlOffsets[0])).toBe(900);
    expect(readReply(reply.subarray(0, reply.length - 40), QUESTION_END)).toBeNull();
  });
});

describe('cached answers', () => {
  it('live as long as their shortest TTL, capped, and hand out TTLs lowered by the time held', () => {
    const reply = upstreamReply({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.1', ttl: 120 }, { type: Packet.TYPE.A, address: '192.0.2.2', ttl: 90 }] });
    const answer = toCachedAnswer(readReply(reply, QUESTION_END)!, 1_000, 100);
    expect(answer.expiresAt).toBe(1_000 + 90_000);
    expect([...answer.ttls]).toEqual([100, 90]);

    const client = query('WWW.example.TEST', 'A', { id: 0x4242, edns: 4096 });
    const out = Buffer.alloc(2048);
    const length = writeCachedReply(client, clientQuestion(true), answer, 1_000 + 30_500, out);
    const decoded = decode(out.subarray(0, length));
    expect(decoded.header).toMatchObject({ id: 0x4242, qr: 1, aa: 0, ra: 1, rd: 1, rcode: 0 });
    expect(decoded.questions[0].name).toBe('WWW.example.TEST');
    expect(decoded.answers.map((record) => [record.address, record.ttl])).toEqual([
      ['192.0.2.1', 70],
      ['192.0.2.2', 60],
    ]);
    expect(decoded.additionals).toHaveLength(1);

    const cache = new AnswerCache(10);
    cache.set('k', answer);
    expect(cache.get('k', 1_000 + 89_999)).toBe(answer);
    expect(cache.get('k', 1_000 + 90_000)).toBeUndefined();
  });

  it('keep negative answers by the SOA (RFC 2308), and not without one', () => {
    const withSoa = toCachedAnswer(readReply(upstreamReply({ rcode: Packet.RCODE.NXDOMAIN, authorities: [SOA] }), QUESTION_END)!, 0, 3600);
    expect(withSoa.expiresAt).toBe(30_000);
    const bare = toCachedAnswer(readReply(upstreamReply({ rcode: Packet.RCODE.NXDOMAIN }), QUESTION_END)!, 0, 3600);
    expect(bare.expiresAt).toBe(0);
    const cache = new AnswerCache(10);
    cache.set('bare', bare);
    expect(cache.size).toBe(0);
  });

  it('are sent truncated, with the question and OPT but no records, when too big for the client', () => {
    const answers = Array.from({ length: 40 }, (_, i) => ({ type: Packet.TYPE.A, address: `192.0.2.${i}` }));
    const answer = toCachedAnswer(readReply(upstreamReply({ answers }), QUESTION_END)!, 0, 3600);
    const out = Buffer.alloc(2048);
    const client = query(NAME, 'A', { edns: 512 });
    const decoded = decode(out.subarray(0, writeCachedReply(client, clientQuestion(true, 512), answer, 0, out)));
    expect(decoded.header).toMatchObject({ tc: 1, qdcount: 1, ancount: 0, arcount: 1 });
    expect(decoded.questions[0].name).toBe(NAME);
  });
});

describe('resolv.conf', () => {
  const self = { host: '127.0.0.53', port: 53 };

  it('yields its nameservers on port 53, in order, less Signpost itself', () => {
    const text = [
      '# generated',
      'search example.test',
      'nameserver 10.0.0.2 # office',
      'nameserver 127.0.0.53',
      'nameserver fe80::1%eth0',
      'nameserver',
      'nameserver not-an-address',
      'options edns0',
      '  nameserver 2001:db8::53',
    ].join('\n');
    expect(nameserversOf(text, self)).toEqual([
      { host: '10.0.0.2', port: 53 },
      { host: 'fe80::1%eth0', port: 53 },
      { host: '2001:db8::53', port: 53 },
    ]);
    // Signpost on another port is not the resolv.conf nameserver at that address.
    expect(nameserversOf('nameserver 127.0.0.53', { host: '127.0.0.53', port: 8600 })).toHaveLength(1);
    // A wildcard listener on 53 is every local address.
    expect(nameserversOf('nameserver 127.0.0.1\nnameserver 10.9.9.9', { host: '0.0.0.0', port: 53 })).toEqual([{ host: '10.9.9.9', port: 53 }]);
  });
});

describe('forwarding flags', () => {
  it('parse recursors with and without ports', () => {
    expect(parseRecursor('10.0.0.2')).toEqual({ host: '10.0.0.2', port: 53 });
    expect(parseRecursor('10.0.0.2:5353')).toEqual({ host: '10.0.0.2', port: 5353 });
    expect(parseRecursor('::1')).toEqual({ host: '::1', port: 53 });
    expect(parseRecursor('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(() => parseRecursor('resolver.example.test')).toThrow(/--recursor/);
    expect(() => parseRecursor('10.0.0.2:0')).toThrow(/out of range/);
  });

  it('parse durations in seconds or milliseconds', () => {
    expect(parseDuration('2s', '--forward-timeout')).toBe(2000);
    expect(parseDuration('500ms', '--forward-timeout')).toBe(500);
    expect(parseDuration('1.5', '--forward-timeout')).toBe(1500);
    expect(() => parseDuration('soon', '--forward-budget')).toThrow(/--forward-budget/);
  });
});
