// The real DNS server on an ephemeral loopback port, asked by Node's resolver, by dig and by raw sockets.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, Packet, query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;

beforeAll(async () => {
  signpost = await startTestSignpost();
  const registrations: Array<[string, string, Record<string, unknown>]> = [
    ['web', 'web-1', { address: '10.0.0.1', port: 8080, weight: 70, tags: ['canary'], meta: { version: '1.4.2', region: 'eu' } }],
    ['web', 'web-2', { address: '10.0.0.2', port: 8081, weight: 20 }],
    ['web', 'web-3', { address: 'fd00::3', port: 8082, weight: 10, tags: ['canary'] }],
  ];
  for (const [service, id, body] of registrations) {
    expect((await signpost.register(service, id, body)).status).toBe(200);
  }
  for (let i = 0; i < 120; i++) {
    const response = await signpost.register('fleet', `node-${i}`, { address: `10.7.${i >> 8}.${i & 255}`, port: 7000 + i });
    expect(response.status).toBe(200);
  }
});

afterAll(() => signpost?.close());

describe("Node's resolver", () => {
  it('resolveSrv, resolve4, resolve6 and resolveTxt on every name form', async () => {
    const resolver = signpost.resolver();
    const srv = await resolver.resolveSrv('_web._tcp.service.local');
    expect(srv.map((record) => `${record.name}:${record.port}`).sort()).toEqual([
      'web-1.web.instance.local:8080',
      'web-2.web.instance.local:8081',
      'web-3.web.instance.local:8082',
    ]);
    expect((await resolver.resolveSrv('web.service.local')).length).toBe(3);
    expect((await resolver.resolve4('web.service.local')).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(await resolver.resolve6('web.service.local')).toEqual(['fd00::3']);
    expect((await resolver.resolveSrv('canary.web.service.local')).map((record) => record.port).sort()).toEqual([8080, 8082]);
    expect((await resolver.resolveSrv('_web._canary.service.local')).map((record) => record.port).sort()).toEqual([8080, 8082]);
    expect(await resolver.resolve4('canary.web.service.local')).toEqual(['10.0.0.1']);
    expect(await resolver.resolve4('web-1.web.instance.local')).toEqual(['10.0.0.1']);
    expect(await resolver.resolve6('web-3.web.instance.local')).toEqual(['fd00::3']);
    expect((await resolver.resolveTxt('web-1.web.instance.local')).map((chunks) => chunks.join('')).sort()).toEqual([
      'region=eu',
      'version=1.4.2',
    ]);
  });

  it('the SRV weights are the registered ones', async () => {
    const srv = await signpost.resolver().resolveSrv('_web._tcp.service.local');
    expect(Object.fromEntries(srv.map((record) => [record.name, record.weight]))).toEqual({
      'web-1.web.instance.local': 70,
      'web-2.web.instance.local': 20,
      'web-3.web.instance.local': 10,
    });
  });

  it('ENOTFOUND for unknown names, ENODATA for missing types', async () => {
    const resolver = signpost.resolver();
    await expect(resolver.resolve4('missing.service.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveTxt('web.service.local')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver.resolve6('web-1.web.instance.local')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('orders answers by weight over thousands of real queries', async () => {
    const resolver = signpost.resolver();
    const first: Record<string, number> = {};
    const rounds = 3000;
    for (let batch = 0; batch < rounds / 100; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => resolver.resolveSrv('_web._tcp.service.local')));
      for (const srv of answers) first[srv[0].name] = (first[srv[0].name] ?? 0) + 1;
    }
    // Expected shares 0.7 / 0.2 / 0.1; the standard error at 3,000 draws is under 0.009.
    expect(Math.abs(first['web-1.web.instance.local'] / rounds - 0.7)).toBeLessThan(0.04);
    expect(Math.abs(first['web-2.web.instance.local'] / rounds - 0.2)).toBeLessThan(0.04);
    expect(Math.abs(first['web-3.web.instance.local'] / rounds - 0.1)).toBeLessThan(0.04);
  });
});

describe('dig', () => {
  it('sees AA, NOERROR and the TTL on answers', async () => {
    const output = await signpost.dig('web.service.local', 'A');
    expect(output).toMatch(/status: NOERROR/);
    expect(output).toMatch(/flags: qr aa rd;/);
    expect(output).toMatch(/web\.service\.local\.\s+5\s+IN\s+A\s+10\.0\.0\.[12]/);
  });

  it('NXDOMAIN and NODATA both carry the SOA', async () => {
    const nx = await signpost.dig('nothing.service.local', 'SRV');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/AUTHORITY SECTION:\s*\nlocal\.\s+5\s+IN\s+SOA\s+ns\.local\. hostmaster\.local\./);
    const noData = await signpost.dig('web.service.local', 'MX');
    expect(noData).toMatch(/status: NOERROR/);
    expect(noData).toMatch(/ANSWER: 0, AUTHORITY: 1/);
  });

  it('REFUSED outside the zone', async () => {
    expect(await signpost.dig('example.com', 'A')).toMatch(/status: REFUSED/);
  });

  it('truncates a large UDP answer with TC and gets all of it over TCP', async () => {
    const udp = await signpost.dig('fleet.service.local', 'SRV', '+ignore', '+bufsize=1232');
    expect(udp).toMatch(/flags: qr aa tc rd;/);
    expect(udp).toMatch(/udp: 1232/);
    const tcp = await signpost.dig('fleet.service.local', 'SRV', '+tcp');
    // 120 glue records plus dig's own OPT record.
    expect(tcp).toMatch(/ANSWER: 120, AUTHORITY: 0, ADDITIONAL: 121/);
    expect(tcp).not.toMatch(/ tc /);
    // Without +ignore, dig retries over TCP by itself on TC: the user sees everything.
    expect(await signpost.dig('fleet.service.local', 'SRV')).toMatch(/ANSWER: 120/);
  });

  it('BADVERS for EDNS version 1', async () => {
    expect(await signpost.dig('web.service.local', 'A', '+edns=1', '+noednsnegotiation')).toMatch(/status: BADVERS/);
  });
});

describe('hostile packets against the running server', () => {
  it('survives garbage, pointer loops and huge counts, then answers a normal query', async () => {
    const good = query('web.service.local', 'A');
    const hostile = [
      Buffer.alloc(3),
      Buffer.from('ffffffffffffffffffffffff', 'hex'),
      Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]),
      Buffer.concat([good.subarray(0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(60000, 0xc0)]),
      Buffer.concat([good, Buffer.alloc(500, 0x41)]),
    ];
    for (const message of hostile) await signpost.udp(message, 200);
    const reply = await signpost.udp(good);
    expect(reply).not.toBeNull();
    expect(decode(reply!).answers.length).toBe(2);
    expect((await signpost.resolver().resolve4('web.service.local')).length).toBe(2);
  });

  it('never answers a response packet (reflection)', async () => {
    const response = query('web.service.local', 'A');
    response[2] |= 0x80;
    expect(await signpost.udp(response, 300)).toBeNull();
  });
});

describe('TCP', () => {
  it('answers several pipelined queries on one connection, in order', async () => {
    const socket = net.connect(signpost.dns.port, '127.0.0.1');
    const names = ['web.service.local', 'fleet.service.local', 'missing.service.local'];
    const framed = names.map((name, i) => {
      const message = query(name, 'A', { id: 100 + i });
      return Buffer.concat([Buffer.from([message.length >> 8, message.length & 255]), message]);
    });
    // One write holding all three, the last split across two writes.
    const all = Buffer.concat(framed);
    socket.write(all.subarray(0, all.length - 5));
    setImmediate(() => socket.write(all.subarray(all.length - 5)));
    const replies = await new Promise<Buffer[]>((resolve, reject) => {
      let buffer = Buffer.alloc(0);
      const messages: Buffer[] = [];
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
          messages.push(buffer.subarray(2, 2 + buffer.readUInt16BE(0)));
          buffer = buffer.subarray(2 + buffer.readUInt16BE(0));
        }
        if (messages.length === names.length) resolve(messages);
      });
      socket.on('error', reject);
    });
    socket.destroy();
    const decoded = replies.map((reply) => decode(reply));
    expect(decoded.map((reply) => reply.header.id)).toEqual([100, 101, 102]);
    expect(decoded[0].answers).toHaveLength(2);
    expect(decoded[1].answers).toHaveLength(120);
    expect(decoded[2].header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('hangs up on a client that never finishes its message, and keeps serving others', async () => {
    const slow = net.connect(signpost.dns.port, '127.0.0.1');
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(Buffer.from([0x00, 0x40, 0x12]));
    const closed = new Promise((resolve) => slow.once('close', resolve));
    expect(decode(await signpost.tcp(query('web.service.local', 'SRV'))).answers).toHaveLength(3);
    await closed;
  });
});
