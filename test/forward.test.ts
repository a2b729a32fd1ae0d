// Forwarding, caching and reverse lookups against real upstreams on loopback: dnsmasq, and a
// scripted server for what dnsmasq will not do (truncate, stall, lie, answer late on cue).
// Every Signpost here is given its upstreams explicitly: none forwards to the machine's resolv.conf.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignpostConfig } from '../src/config/flags.ts';
import { decode, Packet, query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { startDnsmasq, startScriptedUpstream, type Dnsmasq, type Script, type ScriptedUpstream } from './helpers/upstream.ts';

const DNSMASQ_RECORDS = [
  '--host-record=a.example.test,192.0.2.10',
  '--host-record=b.example.test,192.0.2.11,2001:db8::11',
  '--txt-record=t.example.test,hello world',
  '--mx-host=example.test,mail.example.test,10',
  '--ptr-record=9.2.0.192.in-addr.arpa,nine.example.test',
];

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function signpostWith(config: Partial<SignpostConfig>): Promise<TestSignpost> {
  const signpost = await startTestSignpost(config);
  cleanups.push(() => signpost.close());
  return signpost;
}

async function dnsmasq(): Promise<Dnsmasq> {
  const server = await startDnsmasq(DNSMASQ_RECORDS);
  cleanups.push(() => server.stop());
  return server;
}

async function scripted(script: Script): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(script);
  cleanups.push(() => upstream.close());
  return upstream;
}

async function ask(signpost: TestSignpost, name: string, type: keyof typeof Packet.TYPE, options: Parameters<typeof query>[2] = {}) {
  const reply = await signpost.udp(query(name, type, options), 5000);
  expect(reply).not.toBeNull();
  return decode(reply!);
}

describe('forwarding to dnsmasq', () => {
  let upstream: Dnsmasq;
  let signpost: TestSignpost;

  beforeAll(async () => {
    upstream = await dnsmasq();
    signpost = await signpostWith({ recursors: [upstream.address] });
    for (const [service, id, address] of [
      ['web', 'web-1', '10.0.0.1'],
      ['api', 'api-1', '10.0.0.1'],
      ['api', 'api-2', 'fd00::3'],
    ]) {
      expect((await signpost.register(service, id, { address, port: 8080 })).status).toBe(200);
    }
  });

  it('forwards A, AAAA, MX and TXT', async () => {
    const resolver = signpost.resolver();
    expect(await resolver.resolve4('a.example.test')).toEqual(['192.0.2.10']);
    expect(await resolver.resolve6('b.example.test')).toEqual(['2001:db8::11']);
    expect((await resolver.resolveMx('example.test')).map(({ exchange, priority }) => [exchange, priority])).toEqual([['mail.example.test', 10]]);
    expect(await resolver.resolveTxt('t.example.test')).toEqual([['hello world']]);
  });

  it('forwards NXDOMAIN, with RA and without AA', async () => {
    await expect(signpost.resolver().resolve4('nope.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const output = await signpost.dig('nope.example.test', 'A');
    expect(output).toMatch(/status: NXDOMAIN/);
    expect(output).toMatch(/flags: qr rd ra;/);
  });

  it("answers with each client's ID and letter case, the second time from the cache", async () => {
    for (const [id, name] of [
      [0xbeef, 'B.ExAmPlE.TeSt'],
      [0x0102, 'b.EXAMPLE.test'],
    ] as const) {
      const message = query(name, 'A', { id, edns: 1232 });
      const reply = (await signpost.udp(message))!;
      expect(reply.readUInt16BE(0)).toBe(id);
      const questionEnd = 12 + name.length + 2 + 4;
      expect(reply.subarray(12, questionEnd)).toEqual(message.subarray(12, questionEnd));
      expect(decode(reply).answers.map((record) => record.address)).toEqual(['192.0.2.11']);
    }
    expect((await upstream.queried()).filter((question) => question === 'A b.example.test')).toHaveLength(1);
  });

  it('sets RA on zone answers too, and refuses questions outside the zone that do not ask for recursion', async () => {
    expect(await signpost.dig('web.service.local', 'A')).toMatch(/flags: qr aa rd ra;/);
    expect((await ask(signpost, 'a.example.test', 'A', { rd: false })).header.rcode).toBe(Packet.RCODE.REFUSED);
  });

  it('answers PTR for registered addresses, every instance sharing one, and forwards other reverse names', async () => {
    const resolver = signpost.resolver();
    expect((await resolver.reverse('10.0.0.1')).sort()).toEqual(['api-1.api.instance.local', 'web-1.web.instance.local']);
    expect(await resolver.reverse('fd00::3')).toEqual(['api-2.api.instance.local']);
    expect(await signpost.dig('-x', '10.0.0.1')).toMatch(/flags: qr aa rd ra;/);
    expect(await resolver.reverse('192.0.2.9')).toEqual(['nine.example.test']);
  });
});

describe('the cache when the upstream is gone', () => {
  it('keeps answering what it holds, and SERVFAILs the rest', async () => {
    const upstream = await dnsmasq();
    const signpost = await signpostWith({ recursors: [upstream.address] });
    const fastFailing = await signpostWith({ recursors: [upstream.address], forwardTimeout: 20_000, forwardBudget: 60_000 });
    expect(await signpost.resolver().resolve4('a.example.test')).toEqual(['192.0.2.10']);
    expect(await signpost.resolver().resolveTxt('t.example.test')).toEqual([['hello world']]);
    await upstream.stop();

    expect(await signpost.resolver().resolve4('a.example.test')).toEqual(['192.0.2.10']);
    expect(await signpost.resolver().resolveTxt('t.example.test')).toEqual([['hello world']]);
    // The stopped upstream's port answers with ICMP port-unreachable: SERVFAIL comes from that error,
    // not from a timer (this Signpost's per-try timeout and budget are far longer than `ask` waits).
    expect((await ask(fastFailing, 'b.example.test', 'A')).header.rcode).toBe(Packet.RCODE.SERVFAIL);
  });
});

describe('truncation', () => {
  const BIG = Array.from({ length: 40 }, (_, i) => ({ type: Packet.TYPE.TXT, data: `${i}`.padEnd(100, 'x') }));

  it('retries a truncated upstream answer over TCP, and truncates it properly for a small client', async () => {
    const upstream = await scripted((question, reply) =>
      question.transport === 'udp' ? [reply.build({ tc: true })] : [reply.build({ answers: BIG })],
    );
    const signpost = await signpostWith({ recursors: [upstream.address] });

    // dig asks over UDP, gets TC from Signpost (4 KB do not fit 1232 bytes), and asks again over TCP.
    expect(await signpost.dig('big.example.test', 'TXT')).toMatch(/ANSWER: 40,/);
    expect(upstream.questions.map((question) => question.transport)).toEqual(['udp', 'tcp']);

    // What the client saw over UDP: TC, the question, no records, and the OPT record kept.
    const withEdns = await signpost.dig('big.example.test', 'TXT', '+ignore', '+bufsize=1232');
    expect(withEdns).toMatch(/flags: qr tc rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1/);
    expect(withEdns).toMatch(/udp: 1232/);
    const classic = await signpost.dig('big.example.test', 'TXT', '+ignore', '+noedns');
    expect(classic).toMatch(/flags: qr tc rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0/);
    expect(await signpost.dig('big.example.test', 'TXT', '+tcp')).toMatch(/ANSWER: 40,/);
    // All of that came from the cache.
    expect(upstream.questions).toHaveLength(2);
  });
});

describe('coalescing', () => {
  it('sends one upstream query for a burst of identical questions, and answers each client as it asked', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const upstream = await scripted(async (_question, reply) => {
      await released;
      return [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.77' }] })];
    });
    const signpost = await signpostWith({ recursors: [upstream.address] });
    await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80 });

    const clients = 50;
    const sockets = Array.from({ length: clients }, () => dgram.createSocket('udp4'));
    const replies = sockets.map((socket) => new Promise<Buffer>((resolve) => socket.once('message', resolve)));
    await Promise.all(
      sockets.map(
        (socket, i) => new Promise<void>((resolve) => socket.send(query('burst.example.test', 'A', { id: 1000 + i }), signpost.dns.port, '127.0.0.1', () => resolve())),
      ),
    );
    // Signpost reads its socket in order: once a later zone query is answered, it has taken in all 50.
    expect((await ask(signpost, 'web.service.local', 'A')).answers).toHaveLength(1);
    await upstream.received(1);
    release();

    const answers = (await Promise.all(replies)).map((reply) => decode(reply));
    for (const socket of sockets) socket.close();
    expect(answers.map((answer) => answer.header.id)).toEqual(Array.from({ length: clients }, (_, i) => 1000 + i));
    expect(answers.every((answer) => answer.answers[0]?.address === '192.0.2.77')).toBe(true);
    expect(upstream.questions).toHaveLength(1);
  });
});

describe('caching rules', () => {
  let upstream: ScriptedUpstream;
  let signpost: TestSignpost;

  beforeAll(async () => {
    upstream = await scripted((question, reply) => {
      const soa = { type: Packet.TYPE.SOA, name: 'example.test', ttl: 300, primary: 'ns.example.test', admin: 'admin.example.test', serial: 1, refresh: 3600, retry: 600, expiration: 86400, minimum: 60 };
      switch (question.name) {
        case 'gone.example.test':
          return [reply.build({ rcode: Packet.RCODE.NXDOMAIN, authorities: [soa] })];
        case 'bare.example.test':
          return [reply.build({ rcode: Packet.RCODE.NXDOMAIN })];
        case 'long.example.test':
          return [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.5', ttl: 86400 }] })];
        case 'zero.example.test':
          return [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.6', ttl: 0 }] })];
        case 'broken.example.test':
          return [reply.build({ rcode: Packet.RCODE.SERVFAIL })];
        default:
          return [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.1' }] })];
      }
    });
    signpost = await signpostWith({ recursors: [upstream.address], cacheMaxTtl: 100 });
  });

  const asked = (name: string) => upstream.questions.filter((question) => question.name === name).length;

  it('caches a negative answer by its SOA minimum (RFC 2308), and not at all without an SOA', async () => {
    for (let i = 0; i < 2; i++) {
      const gone = await ask(signpost, 'gone.example.test', 'A');
      expect(gone.header.rcode).toBe(Packet.RCODE.NXDOMAIN);
      expect(gone.authorities[0].minimum).toBe(60);
      expect((await ask(signpost, 'bare.example.test', 'A')).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    }
    expect(asked('gone.example.test')).toBe(1);
    expect(asked('bare.example.test')).toBe(2);
  });

  it('lowers TTLs to --cache-max-ttl, and does not cache TTL 0', async () => {
    expect((await ask(signpost, 'long.example.test', 'A')).answers[0].ttl).toBe(100);
    for (let i = 0; i < 2; i++) expect((await ask(signpost, 'zero.example.test', 'A')).answers[0].ttl).toBe(0);
    expect(asked('zero.example.test')).toBe(2);
  });

  it('answers SERVFAIL when the upstream cannot answer, and does not cache it', async () => {
    for (let i = 0; i < 2; i++) expect((await ask(signpost, 'broken.example.test', 'A')).header.rcode).toBe(Packet.RCODE.SERVFAIL);
    // Two tries per question (the one upstream, tried twice), and nothing kept.
    expect(asked('broken.example.test')).toBe(4);
  });

  it('limits each client to its rate of upstream questions, but not its cached answers', async () => {
    const limited = await signpostWith({ recursors: [upstream.address], forwardRateLimit: 5 });
    const names = Array.from({ length: 10 }, (_, i) => `rate${i}.example.test`);
    const rcodes = (await Promise.all(names.map((name) => ask(limited, name, 'A')))).map((reply) => reply.header.rcode);
    // A full bucket holds 5; the ten questions take a few milliseconds, refilling a few hundredths of one.
    const answered = names.filter((_, i) => rcodes[i] === Packet.RCODE.NOERROR);
    expect(answered).toHaveLength(5);
    expect(rcodes.filter((rcode) => rcode === Packet.RCODE.REFUSED)).toHaveLength(5);
    expect(upstream.questions.filter((question) => question.name.startsWith('rate'))).toHaveLength(5);
    for (let i = 0; i < 20; i++) expect((await ask(limited, answered[0], 'A')).header.rcode).toBe(Packet.RCODE.NOERROR);
  });
});

describe('untrusted upstream replies', () => {
  it('drops replies with the wrong ID, question or source, and takes the right one', async () => {
    const upstream = await scripted(async (question, reply) => {
      const forged = (address: string, options: { id?: number; name?: string } = {}) =>
        reply.build({ ...options, answers: [{ type: Packet.TYPE.A, address }] });
      await upstream.spoof(question, forged('6.6.6.6'));
      return [forged('6.6.6.7', { id: (question.id + 1) & 0xffff }), forged('6.6.6.8', { name: 'other.example.test' }), forged('192.0.2.1')];
    });
    const signpost = await signpostWith({ recursors: [upstream.address] });
    expect((await ask(signpost, 'target.example.test', 'A')).answers.map((record) => record.address)).toEqual(['192.0.2.1']);
  });

  it('fails over to the next upstream when one is silent, and starts with the one that answered', async () => {
    const silent = await scripted(() => []);
    const working = await scripted((_question, reply) => [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.2' }] })]);
    const signpost = await signpostWith({ recursors: [silent.address, working.address], forwardTimeout: 200 });
    expect((await ask(signpost, 'one.example.test', 'A')).answers[0].address).toBe('192.0.2.2');
    expect((await ask(signpost, 'two.example.test', 'A')).answers[0].address).toBe('192.0.2.2');
    expect(silent.questions.map((question) => question.name)).toEqual(['one.example.test']);
    expect(working.questions.map((question) => question.name)).toEqual(['one.example.test', 'two.example.test']);
  });

  it('answers SERVFAIL when the budget is spent', async () => {
    const silent = await scripted(() => []);
    // Each try would wait 20 s for the silent upstream; the budget (300 ms) ends the question
    // long before `ask` stops waiting.
    const signpost = await signpostWith({ recursors: [silent.address], forwardTimeout: 20_000, forwardBudget: 300 });
    expect((await ask(signpost, 'slow.example.test', 'A')).header.rcode).toBe(Packet.RCODE.SERVFAIL);
  });

  it('survives malformed and hostile replies, answering SERVFAIL', async () => {
    const hostile: Array<(question: Buffer) => Buffer> = [
      // The header and question, then counts that promise records that are not there.
      (good) => Buffer.concat([good.subarray(0, 6), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), good.subarray(12)]),
      // An answer whose owner points at itself, and whose RDLENGTH runs past the end.
      (good) => withAnswer(good, Buffer.from([0xc0 | (good.length >> 8), good.length & 0xff, 0, 1, 0, 1, 0, 0, 0, 60, 0xff, 0xff, 1, 2])),
      // An OPT record in the answer section.
      (good) => withAnswer(good, Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])),
      // 60 KB of label bytes where a record should be.
      (good) => withAnswer(good, Buffer.alloc(60_000, 0x3f)),
    ];
    let round = 0;
    const upstream = await scripted((_question, reply) => [hostile[Math.floor(round++ / 2) % hostile.length](reply.build())]);
    const signpost = await signpostWith({ recursors: [upstream.address] });
    await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80 });
    for (let i = 0; i < hostile.length; i++) {
      expect((await ask(signpost, `hostile${i}.example.test`, 'A')).header.rcode).toBe(Packet.RCODE.SERVFAIL);
    }
    expect((await ask(signpost, 'web.service.local', 'A')).answers).toHaveLength(1);
  });
});

describe('without forwarding', () => {
  it('refuses names outside the zone and unknown reverse names, and answers reverse names it knows', async () => {
    const signpost = await signpostWith({});
    await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80 });
    expect(await signpost.dig('example.test', 'A')).toMatch(/status: REFUSED/);
    expect(await signpost.dig('-x', '10.0.0.2')).toMatch(/status: REFUSED/);
    expect(await signpost.resolver().reverse('10.0.0.1')).toEqual(['web-1.web.instance.local']);
    expect(await signpost.dig('web.service.local', 'A')).toMatch(/flags: qr aa rd;/);
    const deregistered = signpost.nextEvent((event) => event.type === 'deregister');
    await fetch(`${signpost.url}/v1/services/web/instances/web-1`, { method: 'DELETE' });
    await deregistered;
    expect(await signpost.dig('-x', '10.0.0.1')).toMatch(/status: REFUSED/);
  });
});

/** `reply` (a header and question with no records) with one raw answer record appended. */
function withAnswer(reply: Buffer, record: Buffer): Buffer {
  const message = Buffer.concat([reply, record]);
  message.writeUInt16BE(1, 6);
  return message;
}
