// The DNS side at scale, on the running server with real clients (dig, Node's resolver): PTR
// answers follow registrations, replacements, deregistrations and expiries (the reverse index is
// kept up to date service by service, not rebuilt), and a service of 10,000 instances answers a
// UDP question truncated and a TCP one with as many instances as 64 KiB holds, heavier first; a
// large service changed one instance at a time over HTTP answers as a server started afresh.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registrationOf } from '../src/registry/types.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;

afterEach(() => signpost.close());

const reverse = (address: string) => signpost.resolver().reverse(address).then((names) => names.sort());

describe('PTR answers after changes', () => {
  beforeEach(async () => {
    signpost = await startTestSignpost({ gracePeriod: 60 });
  });

  it('follow registrations, address changes, deregistrations and expiries', async () => {
    // Listening first: on a loaded machine the lease may lapse before the checks below are done.
    const lapsed = signpost.nextEvent((event) => event.type === 'health' && event.instance.id === 'web-1');
    await signpost.register('web', 'web-1', { address: '10.7.0.1', port: 80, ttl: 1 });
    await signpost.register('api', 'api-1', { address: '10.7.0.1', port: 81, ttl: 3600 });
    await signpost.register('web', 'web-2', { address: '10.7.0.2', port: 80, ttl: 3600 });
    expect(await signpost.dig('-x', '10.7.0.2', '+short')).toBe('web-2.web.instance.local.\n');

    // The lease of web-1 lapses: it leaves the PTR answer it shared, at once.
    await lapsed;
    expect(await reverse('10.7.0.1')).toEqual(['api-1.api.instance.local']);

    // A replacement at another address moves its PTR record.
    await signpost.register('api', 'api-1', { address: 'fd00::9', port: 81, ttl: 3600 });
    expect(await reverse('fd00::9')).toEqual(['api-1.api.instance.local']);
    expect(await signpost.dig('-x', '10.7.0.1')).toMatch(/status: REFUSED/);

    // A heartbeat brings web-1 back; deregistering web-2 takes its name away.
    expect((await fetch(`${signpost.url}/v1/services/web/instances/web-1/heartbeat`, { method: 'PUT' })).status).toBe(200);
    expect(await reverse('10.7.0.1')).toEqual(['web-1.web.instance.local']);
    expect((await fetch(`${signpost.url}/v1/services/web/instances/web-2`, { method: 'DELETE' })).status).toBe(204);
    // Not ours any more, and no forwarding here: REFUSED, as for any reverse name Signpost does not hold.
    expect(await signpost.dig('-x', '10.7.0.2')).toMatch(/status: REFUSED/);
    await expect(reverse('10.7.0.2')).rejects.toThrow();
  });

  it('leave out instances in maintenance and keep those of other services at the same address', async () => {
    await signpost.register('web', 'a', { address: '10.8.0.1', port: 80 });
    await signpost.register('db', 'b', { address: '10.8.0.1', port: 5432 });
    expect(await reverse('10.8.0.1')).toEqual(['a.web.instance.local', 'b.db.instance.local']);
    const maintenance = await fetch(`${signpost.url}/v1/services/web/instances/a/maintenance`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'patching' }),
    });
    expect(maintenance.status).toBe(200);
    expect(await reverse('10.8.0.1')).toEqual(['b.db.instance.local']);
  });
});

describe('a service of 10,000 instances', () => {
  const INSTANCES = 10_000;

  beforeEach(async () => {
    signpost = await startTestSignpost();
    // Half weigh 1000, half weigh 1: registered through the registry itself, as the HTTP route
    // does (10,000 HTTP requests would only slow the test down; HTTP registration is tested elsewhere).
    const writes = [];
    for (let k = 0; k < INSTANCES; k++) {
      writes.push(
        signpost.registry.register({
          service: 'big',
          id: `${k % 2 === 0 ? 'heavy' : 'light'}-${k}`,
          address: `10.9.${k >> 8}.${k & 0xff}`,
          port: 8080,
          weight: k % 2 === 0 ? 1000 : 1,
          priority: 0,
          ttl: 3600,
          tags: [],
          meta: {},
        }),
      );
    }
    await Promise.all(writes);
    await signpost.register('small', 's-1', { address: '10.10.0.1', port: 80 });
  });

  const answers = (output: string) => output.split('\n').filter((line) => /\sIN\s+SRV\s/.test(line) && !line.startsWith(';'));
  const size = (output: string) => Number(/MSG SIZE\s+rcvd: (\d+)/.exec(output)![1]);

  it('answers UDP truncated (TC), within the size the client can take', async () => {
    const classic = await signpost.dig('+notcp', '+noedns', '+ignore', 'big.service.local', 'SRV');
    expect(classic).toMatch(/flags:[^;]*\btc\b/);
    expect(size(classic)).toBeLessThanOrEqual(512);
    expect(answers(classic).length).toBeGreaterThan(0);
    const edns = await signpost.dig('+notcp', '+bufsize=1232', '+ignore', 'big.service.local', 'SRV');
    expect(edns).toMatch(/flags:[^;]*\btc\b/);
    expect(size(edns)).toBeLessThanOrEqual(1232);
    expect(answers(edns).length).toBeGreaterThan(answers(classic).length);
    const a = await signpost.dig('+notcp', '+noedns', '+ignore', 'big.service.local', 'A');
    expect(a).toMatch(/flags:[^;]*\btc\b/);
    expect(size(a)).toBeLessThanOrEqual(512);
  });

  it('answers TCP with as many instances as 64 KiB holds, each with its glue, heavier ones first', async () => {
    const output = await signpost.dig('+tcp', 'big.service.local', 'SRV');
    const records = answers(output);
    expect(size(output)).toBeLessThanOrEqual(65_535);
    // About 65 bytes an instance (SRV and glue), counted at about 95 (see the README): several
    // hundred fit, far from all 10,000.
    expect(records.length).toBeGreaterThan(500);
    expect(records.length).toBeLessThan(INSTANCES);
    expect(output).toMatch(/flags:[^;]*\btc\b/);
    const targets = records.map((line) => line.trim().split(/\s+/).at(-1)!);
    expect(new Set(targets).size).toBe(targets.length);
    const glue = new Set(output.split('\n').filter((line) => /\sIN\s+A\s/.test(line)).map((line) => line.split(/\s+/)[0]));
    for (const target of targets) expect(glue.has(target)).toBe(true);
    // Weights 1000 against 1: the weighted draw keeps the heavy half, nearly to the last record.
    const light = targets.filter((target) => target.startsWith('light-')).length;
    expect(light / targets.length).toBeLessThan(0.05);
  });

  it("is resolved by Node's resolver, which retries over TCP after the truncated UDP answer", async () => {
    const records = await signpost.resolver().resolveSrv('big.service.local');
    expect(records.length).toBeGreaterThan(500);
    expect(new Set(records.map((record) => record.name)).size).toBe(records.length);
    for (const record of records) expect(record.name).toMatch(/^(heavy|light)-\d+\.big\.instance\.local$/);
    // Other names answer as before.
    expect(await signpost.resolver().resolve4('small.service.local')).toEqual(['10.10.0.1']);
  });

  it('answers right after one of its instances changes', async () => {
    await signpost.register('big', 'light-1', { address: '10.11.0.1', port: 9999, weight: 65535 });
    const records = await signpost.resolver().resolveSrv('big.service.local');
    expect(records.some((record) => record.name === 'light-1.big.instance.local' && record.port === 9999)).toBe(true);
    await fetch(`${signpost.url}/v1/services/big/instances/light-1`, { method: 'DELETE' });
    const after = await signpost.resolver().resolveSrv('big.service.local');
    expect(after.some((record) => record.name === 'light-1.big.instance.local')).toBe(false);
  });
});

describe('a large service changed one instance at a time (its records kept live)', () => {
  it('answers as a server started afresh from the same registrations', async () => {
    signpost = await startTestSignpost();
    const SIZE = 400;
    const writes = [];
    for (let k = 0; k < SIZE; k++) {
      const registration = { service: 'big', id: `b${k}`, address: `10.12.${k >> 8}.${k & 0xff}`, port: 8000 + k, weight: 1 + (k % 50), priority: 0, ttl: 3600, tags: k % 3 ? ['most'] : [], meta: { n: String(k) } };
      writes.push(signpost.registry.register(registration));
    }
    await Promise.all(writes);
    // Built (and kept live) before the changes come, so that they go through the in-place updates.
    expect((await signpost.resolver().resolveSrv('big.service.local')).length).toBe(SIZE);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let step = 0; step < 150; step++) {
      const id = `b${Math.floor(random() * (SIZE + 20))}`;
      const roll = random();
      let response: Response;
      if (roll < 0.2) {
        response = await fetch(`${signpost.url}/v1/services/big/instances/${id}`, { method: 'DELETE' });
      } else if (roll < 0.4 && signpost.registry.get('big', id)) {
        const enabled = !signpost.registry.get('big', id)!.maintenance;
        response = await fetch(`${signpost.url}/v1/services/big/instances/${id}/maintenance`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ enabled, reason: 'test' }),
        });
      } else {
        const k = Number(id.slice(1));
        response = await signpost.register('big', id, {
          address: random() < 0.2 ? `fd00::${k.toString(16)}` : `10.13.${k >> 8}.${k & 0xff}`,
          port: 9000 + k,
          weight: Math.floor(random() * 100),
          priority: random() < 0.1 ? 1 : 0,
          ttl: 3600,
          tags: random() < 0.5 ? ['most'] : ['other'],
          meta: random() < 0.5 ? { n: String(k) } : {},
        });
      }
      expect([200, 204, 404]).toContain(response.status);
    }

    const fresh = await startTestSignpost();
    try {
      for (const instance of signpost.registry.instances('big') ?? []) await fresh.registry.register(registrationOf(instance));
      const srv = async (server: TestSignpost, name: string) =>
        (await server.resolver().resolveSrv(name)).map((record) => `${record.name} ${record.port} ${record.priority} ${record.weight}`).sort();
      // Answer and additional records as dig prints them, without their TTL.
      const records = async (server: TestSignpost, ...args: string[]) =>
        (await server.dig('+tcp', '+noall', '+answer', '+additional', ...args))
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split(/\s+/).filter((_, i) => i !== 1).join(' '))
          .sort();
      for (const name of ['big.service.local', 'most.big.service.local', 'other.big.service.local', '_big._tcp.service.local']) {
        expect(await srv(signpost, name), name).toEqual(await srv(fresh, name));
        expect(await records(signpost, name, 'SRV'), name).toEqual(await records(fresh, name, 'SRV'));
        expect(await records(signpost, name, 'A'), name).toEqual(await records(fresh, name, 'A'));
        expect(await records(signpost, name, 'AAAA'), name).toEqual(await records(fresh, name, 'AAAA'));
      }
      for (const k of [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377]) {
        expect(await records(signpost, `b${k}.big.instance.local`, 'TXT')).toEqual(await records(fresh, `b${k}.big.instance.local`, 'TXT'));
        expect(await records(signpost, `b${k}.big.instance.local`, 'ANY')).toEqual(await records(fresh, `b${k}.big.instance.local`, 'ANY'));
      }
      // UDP: truncated, and only records the full answer has.
      const full = new Set(await records(fresh, 'big.service.local', 'SRV'));
      const udp = await signpost.dig('+notcp', '+noedns', '+ignore', 'big.service.local', 'SRV');
      expect(udp).toMatch(/flags:[^;]*\btc\b/);
      for (const line of udp.split('\n').filter((line) => /\sIN\s+SRV\s/.test(line) && !line.startsWith(';'))) {
        expect(full.has(line.split(/\s+/).filter((_, i) => i !== 1).join(' '))).toBe(true);
      }
    } finally {
      await fresh.close();
    }
  });
});
