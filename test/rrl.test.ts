// The DNS response-rate limit as a pure function: no sockets, time passed in.
import { describe, expect, it } from 'vitest';
import { addressMatcher } from '../src/lib/addresses.ts';
import { ALLOW, DROP, ResponseRateLimiter, SLIP, prefixOf, responseIdentity, slipped } from '../src/dns/rrl.ts';
import { decode, query } from './helpers/signpost.ts';

/** A response: the query with QR set and the given rcode (its records do not matter to the limiter). */
function response(name: string, type: 'A' | 'SRV' = 'A', rcode = 0): Buffer {
  const bytes = query(name, type, { edns: 1232 });
  bytes[2] |= 0x80;
  bytes[3] = (bytes[3] & 0xf0) | rcode;
  return bytes;
}

describe('response-rate limiting', () => {
  it('lets perSecond identical responses through per prefix, then drops, slipping every Nth as TC', () => {
    const rrl = new ResponseRateLimiter({ perSecond: 10, slip: 2 });
    const web = response('web.service.local');
    const verdicts = Array.from({ length: 30 }, () => rrl.check('192.0.2.7', web, web.length, 1000));
    expect(verdicts.slice(0, 10).every((v) => v === ALLOW)).toBe(true);
    expect(verdicts.slice(10)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 1 ? SLIP : DROP)));
    // Same /24, same answer: same bucket. Another /24: its own.
    expect(rrl.check('192.0.2.200', web, web.length, 1000)).not.toBe(ALLOW);
    expect(rrl.check('192.0.3.7', web, web.length, 1000)).toBe(ALLOW);
    // A different answer to the same prefix has its own bucket.
    const other = response('api.service.local');
    expect(rrl.check('192.0.2.7', other, other.length, 1000)).toBe(ALLOW);
    // Tokens come back with time: 100 ms buys one at 10/s.
    expect(rrl.check('192.0.2.7', web, web.length, 1100)).toBe(ALLOW);
    expect(rrl.check('192.0.2.7', web, web.length, 1100)).not.toBe(ALLOW);
    expect(rrl.dropped + rrl.slipped).toBeGreaterThan(20);
  });

  it('counts letter case as the same question, and every NXDOMAIN to a prefix as one response', () => {
    expect(responseIdentity(response('WEB.service.local'), 40)).toBe(responseIdentity(response('web.SERVICE.local'), 40));
    expect(responseIdentity(response('web.service.local', 'A'), 40)).not.toBe(responseIdentity(response('web.service.local', 'SRV'), 40));
    const a = response('random1.service.local', 'A', 3);
    const b = response('other-random.service.local', 'SRV', 3);
    expect(responseIdentity(a, a.length)).toBe(responseIdentity(b, b.length));
  });

  it('prefixes: /24 for IPv4 (and mapped IPv4), /56 for IPv6', () => {
    expect(prefixOf('192.0.2.7')).toBe(prefixOf('192.0.2.250'));
    expect(prefixOf('::ffff:192.0.2.7')).toBe(prefixOf('192.0.2.1'));
    expect(prefixOf('192.0.2.7')).not.toBe(prefixOf('192.0.3.7'));
    expect(prefixOf('2001:db8:aa:bb11::1')).toBe(prefixOf('2001:db8:aa:bbff:1:2:3:4'));
    expect(prefixOf('2001:db8:aa:bb11::1')).not.toBe(prefixOf('2001:db8:aa:cc11::1'));
    expect(prefixOf('2001:db8:aa:bb11::1')).not.toBe(prefixOf('2001:db8:ab:bb11::1'));
    expect(prefixOf('::1')).toBe(prefixOf('::2'));
    expect(prefixOf('::1')).not.toBe(prefixOf('0.0.0.1'));
  });

  it('exempt clients and perSecond 0 are never limited', () => {
    const exempt = new ResponseRateLimiter({ perSecond: 1, slip: 2, exempt: addressMatcher(['127.0.0.0/8', '::1/128']) });
    const web = response('web.service.local');
    for (let i = 0; i < 100; i++) expect(exempt.check('127.0.0.1', web, web.length, 0)).toBe(ALLOW);
    expect(exempt.check('::1', web, web.length, 0)).toBe(ALLOW);
    expect(exempt.check('10.0.0.1', web, web.length, 0)).toBe(ALLOW);
    expect(exempt.check('10.0.0.1', web, web.length, 0)).not.toBe(ALLOW);
    const off = new ResponseRateLimiter({ perSecond: 0, slip: 2 });
    for (let i = 0; i < 100; i++) expect(off.check('10.0.0.1', web, web.length, 0)).toBe(ALLOW);
  });

  it('holds a bounded number of buckets whatever the flood', () => {
    const rrl = new ResponseRateLimiter({ perSecond: 5, slip: 2, maxEntries: 1000 });
    const bytes = response('web.service.local');
    for (let i = 0; i < 50_000; i++) rrl.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, bytes, bytes.length, i);
    for (let i = 0; i < 50_000; i++) rrl.check(`10.${(i >> 8) & 255}.${i & 255}.1`, bytes, bytes.length, i);
    expect(rrl.entries).toBeLessThanOrEqual(1000);
  });

  it('a slipped reply is the header with TC and the question, no records', () => {
    const full = response('web.service.local', 'SRV');
    const length = slipped(full, full.length);
    const packet = decode(full.subarray(0, length));
    expect(packet.header.tc).toBe(1);
    expect(packet.header.qr).toBe(1);
    expect(packet.questions[0].name).toBe('web.service.local');
    expect(packet.answers.length + packet.authorities.length + packet.additionals.length).toBe(0);
  });
});
