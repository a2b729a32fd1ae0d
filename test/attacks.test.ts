// Attacks on a real server: hostile packets, idle and slow TCP clients, floods, HTTP abuse.
// Several loopback source addresses (127.x.y.z, all local on Linux) stand for distinct clients.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp } from '../src/http/app.ts';
import { Registry } from '../src/registry/registry.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { WatchHub } from '../src/watch/hub.ts';
import { eventually } from './helpers/wait.ts';
import { decode, query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const WEB = { address: '10.0.0.1', port: 8080 };

/** A message of `size` bytes whose question name is a chain of compression pointers, each to the next, the last back to the first. */
function pointerChain(size: number): Buffer {
  const message = Buffer.alloc(size);
  message.writeUInt16BE(0xbeef, 0);
  message.writeUInt16BE(0x0100, 2);
  message.writeUInt16BE(1, 4);
  message.writeUInt16BE(0xffff, 6);
  message.writeUInt16BE(0xffff, 8);
  message.writeUInt16BE(0xffff, 10);
  for (let at = 12; at + 1 < size; at += 2) {
    const next = at + 2 + 1 < size && at + 2 <= 0x3fff ? at + 2 : 12;
    message.writeUInt16BE(0xc000 | next, at);
  }
  return message;
}

function framed(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the server closes `socket` (the test's timeout bounds the wait). */
function closed(socket: net.Socket): Promise<void> {
  socket.on('error', () => {});
  if (socket.destroyed || socket.readyState === 'closed') return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The DNS messages a TCP connection receives, unframed, and a way to await the nth. */
function replies(socket: net.Socket): { received: Buffer[]; count(n: number): Promise<Buffer[]> } {
  const received: Buffer[] = [];
  const waiting: Array<{ n: number; resolve: (all: Buffer[]) => void }> = [];
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      received.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
      pending = pending.subarray(2 + pending.readUInt16BE(0));
    }
    for (const waiter of [...waiting]) if (received.length >= waiter.n) waiter.resolve(received.slice(0, waiter.n));
  });
  return {
    received,
    count: (n) => (received.length >= n ? Promise.resolve(received.slice(0, n)) : new Promise((resolve) => waiting.push({ n, resolve }))),
  };
}

/** Asks one query on a held connection: its answer, or null when the server closed the connection instead. */
async function askOn(socket: net.Socket): Promise<Buffer | null> {
  const reply = replies(socket);
  socket.write(framed(query('web.service.local', 'A')));
  return Promise.race([reply.count(1).then(([first]) => first), closed(socket).then(() => null)]);
}

/** Sends `count` copies of `message` over UDP from `localAddress`; returns the socket's replies as they come. */
async function udpFrom(localAddress: string, port: number, message: Buffer, count: number): Promise<{ socket: dgram.Socket; replies: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, localAddress, resolve));
  const received: Buffer[] = [];
  socket.on('message', (reply) => received.push(reply));
  for (let i = 0; i < count; i++) socket.send(message, port, '127.0.0.1');
  return { socket, replies: received };
}

/** The server's own count of UDP replies sent and of replies its rate limit dropped, from /metrics. */
async function udpCounts(signpost: TestSignpost): Promise<{ sent: number; dropped: number; slipped: number }> {
  const text = await (await fetch(`${signpost.url}/metrics`)).text();
  const sum = (pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line)).reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
  return {
    sent: sum(/^signpost_dns_replies_total\{transport="udp"/),
    dropped: sum(/^signpost_dns_rrl_dropped_total /),
    slipped: sum(/^signpost_dns_rrl_slipped_total /),
  };
}

describe('hostile DNS packets', () => {
  let signpost: TestSignpost;
  beforeAll(async () => {
    signpost = await startTestSignpost();
    await signpost.register('web', 'web-1', WEB);
  });
  afterAll(() => signpost?.close());

  it('64 KiB compression-pointer chains (and loops) are refused without being followed, and normal queries are answered meanwhile', async () => {
    const chain = pointerChain(65535);
    const udpChain = pointerChain(65507);
    // A burst of chains over TCP on one connection, and over UDP, then normal queries at once.
    const attacker = net.connect(signpost.dns.port, '127.0.0.1');
    attacker.on('error', () => {});
    const refusals = replies(attacker);
    attacker.write(Buffer.concat(Array.from({ length: 20 }, () => framed(chain))));
    const udp = dgram.createSocket('udp4');
    for (let i = 0; i < 20; i++) udp.send(udpChain, signpost.dns.port, '127.0.0.1');
    const [tcpReply, udpReply, answered] = await Promise.all([
      signpost.tcp(query('web.service.local', 'A')),
      signpost.udp(query('web.service.local', 'A')),
      refusals.count(20),
    ]);
    udp.close();
    attacker.destroy();
    expect(decode(tcpReply).answers.map((answer) => answer.address)).toEqual(['10.0.0.1']);
    expect(decode(udpReply!).answers.map((answer) => answer.address)).toEqual(['10.0.0.1']);
    // Every chain got a bare FORMERR header: nothing was built from following it.
    for (const refusal of answered) expect([refusal.length, refusal[3] & 0x0f]).toEqual([12, 1]);
  });

  it('a pointer chain gets FORMERR, not an answer built from following it', async () => {
    const reply = await signpost.tcp(pointerChain(4096));
    expect(reply.length).toBe(12);
    expect(reply[3] & 0x0f).toBe(1);
  });
});

describe('TCP clients that hold connections', () => {
  let signpost: TestSignpost;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    signpost = await startTestSignpost({ dnsTcpIdleTimeout: 2000, dnsTcpMessageTimeout: 500 });
    await signpost.register('web', 'web-1', WEB);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await signpost?.close();
  });

  it('500 idle connections do not stop new clients, and are closed when idle', async () => {
    // From ten addresses, fifty each: under the per-client cap, so all 500 are held.
    const held: net.Socket[] = [];
    for (let a = 1; a <= 10; a++) held.push(...(await Promise.all(Array.from({ length: 50 }, () => connectFrom(`127.0.1.${a}`, signpost.dns.port)))));
    sockets.push(...held);
    const tcp = await signpost.tcp(query('web.service.local', 'A'));
    expect(decode(tcp).answers.map((answer) => answer.address)).toEqual(['10.0.0.1']);
    expect(decode((await signpost.udp(query('web.service.local', 'A')))!).answers).toHaveLength(1);
    // Every held connection is still served...
    const answers = await Promise.all(held.map(askOn));
    expect(answers.every((answer) => answer !== null && decode(answer).answers.length === 1)).toBe(true);
    // ...and none is held for long: the idle timeout (2 s here) closes each one.
    await Promise.all(held.map(closed));
  });

  it('one address gets at most --dns-tcp-max-per-client connections', async () => {
    const mine = await Promise.all(Array.from({ length: 80 }, () => connectFrom('127.0.2.1', signpost.dns.port)));
    sockets.push(...mine);
    // Each either answers (held) or is closed at once (over the cap).
    const answers = await Promise.all(mine.map(askOn));
    expect(answers.filter((answer) => answer === null).length).toBe(80 - 64);
    // Another address is still served.
    const other = await connectFrom('127.0.2.2', signpost.dns.port);
    sockets.push(other);
    expect(await askOn(other)).not.toBeNull();
    for (const socket of mine) socket.destroy();
  });

  it('a slowloris client (one byte at a time) is cut off at the message deadline, before it finishes', async () => {
    const slow = await connectFrom('127.0.3.1', signpost.dns.port);
    sockets.push(slow);
    const reply = replies(slow);
    const message = framed(query('web.service.local', 'A'));
    // A byte every 100 ms: the message would take about 4 s, each byte well within the idle
    // timeout (2 s), so only the message deadline (0.5 s) can end it early.
    let sent = 0;
    const trickle = setInterval(() => {
      if (!slow.destroyed && sent < message.length) slow.write(message.subarray(sent, ++sent));
    }, 100);
    await closed(slow);
    clearInterval(trickle);
    expect(sent).toBeLessThan(message.length);
    expect(reply.received).toEqual([]);
  });
});

describe('UDP floods (response-rate limiting)', () => {
  let signpost: TestSignpost;
  beforeAll(async () => {
    // Nothing exempt: loopback addresses stand for clients on the network here.
    signpost = await startTestSignpost({ dnsRateLimit: 20, dnsRateLimitSlip: 2, rateLimitExempt: [] });
    await signpost.register('web', 'web-1', WEB);
  });
  afterAll(() => signpost?.close());

  it('a flood from one address is limited (dropped, every 2nd slipped as TC) while another address is answered', async () => {
    const message = query('web.service.local', 'A');
    const before = await udpCounts(signpost);
    const flood = await udpFrom('127.0.4.4', signpost.dns.port, message, 400);
    const bystander = await udpFrom('127.0.5.5', signpost.dns.port, message, 10);
    // The server has dealt with all 410 queries once its counts say so; then every reply it sent is on its way.
    const after = await expect
      .poll(async () => udpCounts(signpost), { timeout: 10_000, interval: 20 })
      .toSatisfy((counts: { sent: number; dropped: number }) => counts.sent + counts.dropped - before.sent - before.dropped === 410)
      .then(() => udpCounts(signpost));
    const sent = after.sent - before.sent;
    await expect.poll(() => flood.replies.length + bystander.replies.length, { timeout: 5_000, interval: 10 }).toBe(sent);
    flood.socket.close();
    bystander.socket.close();
    const full = flood.replies.filter((reply) => !(reply[2] & 0x02));
    const truncated = flood.replies.filter((reply) => reply[2] & 0x02);
    // 20 a second in bursts of 20: at least the burst is answered in full, far from all 400 (tokens
    // refill while the flood is sent); of the rest, every 2nd refusal is slipped as TC, the others dropped.
    expect(full.length).toBeGreaterThanOrEqual(20);
    expect(full.length).toBeLessThan(200);
    // Within a run of refusals every 2nd is slipped; a token granted (they refill while the flood
    // is sent) starts a new run, which can add one more drop than slips: at most one per full answer.
    const slippedCount = after.slipped - before.slipped;
    const droppedCount = after.dropped - before.dropped;
    expect(truncated.length).toBe(slippedCount);
    expect(droppedCount - slippedCount).toBeGreaterThanOrEqual(0);
    expect(droppedCount - slippedCount).toBeLessThanOrEqual(full.length + 1);
    expect(slippedCount).toBeGreaterThan(0);
    for (const reply of truncated) {
      const packet = decode(reply);
      expect(packet.answers).toHaveLength(0);
      expect(packet.questions[0].name).toBe('web.service.local');
      expect(reply.length).toBeLessThanOrEqual(message.length);
    }
    expect(bystander.replies).toHaveLength(10);
    expect(bystander.replies.every((reply) => decode(reply).answers.length === 1)).toBe(true);
  });

  it('TCP is never limited: the flooded address still gets full answers there', async () => {
    const socket = await connectFrom('127.0.4.4', signpost.dns.port);
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
    });
    socket.write(Buffer.concat(Array.from({ length: 100 }, () => framed(query('web.service.local', 'A')))));
    await expect.poll(() => replies.length, { timeout: 3000 }).toBe(100);
    socket.destroy();
    expect(replies.every((reply) => decode(reply).answers.length === 1)).toBe(true);
  });
});

describe('HTTP abuse', () => {
  let signpost: TestSignpost;
  beforeAll(async () => {
    signpost = await startTestSignpost({ httpWriteRateLimit: 5, rateLimitExempt: [], httpRequestTimeout: 1000 });
  });
  afterAll(() => signpost?.close());

  function request(localAddress: string, method: string, route: string, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port: signpost.http.port,
          localAddress,
          method,
          path: route,
          agent: false,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  it('writes from one address are rate-limited (429, Retry-After); its reads and other addresses are not', async () => {
    const statuses: number[] = [];
    let retryAfter: string | string[] | undefined;
    for (let i = 0; i < 12; i++) {
      const response = await request('127.0.6.6', 'PUT', `/v1/services/web/instances/w${i}`, WEB);
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers['retry-after'];
    }
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(10);
    expect(statuses).toContain(429);
    expect(retryAfter).toBeDefined();
    expect((await request('127.0.6.6', 'GET', '/v1/services/web')).status).toBe(200);
    expect((await request('127.0.7.7', 'PUT', '/v1/services/web/instances/other', WEB)).status).toBe(200);
  });

  it('bodies over the limit get 413', async () => {
    const response = await request('127.0.8.8', 'PUT', '/v1/services/web/instances/big', { ...WEB, meta: { big: 'x'.repeat(70_000) } });
    expect(response.status).toBe(413);
  });

  it('a client sending its headers slowly is cut off by the request timeout', async () => {
    const socket = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(signpost.http.port, '127.0.0.1', () => resolve(s));
    });
    socket.write('PUT /v1/services/web/instances/slow HTTP/1.1\r\nHost: x\r\n');
    // Headers that never end: only the request timeout (1 s here) can close the connection.
    const trickle = setInterval(() => !socket.destroyed && socket.write('X-A: b\r\n'), 100);
    let answered = '';
    socket.on('data', (chunk) => (answered += chunk.toString()));
    await closed(socket);
    clearInterval(trickle);
    expect(answered).not.toMatch(/^HTTP\/1\.1 2/);
  });
});

describe('overload guard at start-up', () => {
  it('does not shed the first requests because start-up blocked the event loop', async () => {
    const registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
    const watches = new WatchHub(registry, { maxWatches: 16, historySize: 100, body: (event) => () => event.type });
    const app = buildHttpApp({ registry, watches, logger: pino({ level: 'silent' }), isDnsUp: () => true, limits: { httpMaxEventLoopDelay: 50 } });
    try {
      await app.ready();
      // Start-up work holding the loop for many of the guard's 50 ms samples, as opening a store can.
      const until = performance.now() + 400;
      while (performance.now() < until);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as net.AddressInfo;
      expect((await fetch(`http://127.0.0.1:${port}/v1/services`)).status).toBe(200);
    } finally {
      await app.close();
      await registry.close();
    }
  });
});

describe('overload', () => {
  let signpost: TestSignpost;
  beforeAll(async () => {
    signpost = await startTestSignpost({ httpMaxEventLoopDelay: 50 });
    // A busy machine can make the guard shed even this first write: retry until it is in.
    await eventually(async () => ((await signpost.register('web', 'web-1', WEB)).status === 200 ? true : undefined), 10_000, 'the registration to be taken');
  });
  afterAll(() => signpost?.close());

  it('HTTP answers 503 with Retry-After while the event loop lags; /healthz and DNS keep answering', async () => {
    // Block the event loop (the server shares this process) until the guard has sampled the lag.
    let busy: Response;
    let health: Response;
    let dns: Buffer | null;
    for (let round = 0; ; round++) {
      const until = performance.now() + 300;
      while (performance.now() < until);
      [busy, health, dns] = await Promise.all([fetch(`${signpost.url}/v1/services`), fetch(`${signpost.url}/healthz`), signpost.udp(query('web.service.local', 'A'))]);
      if (busy.status === 503 || round === 20) break;
    }
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBeTruthy();
    expect(health.status).toBe(200);
    expect(decode(dns!).answers).toHaveLength(1);
    // Once the loop is calm again, HTTP recovers.
    await expect.poll(async () => (await fetch(`${signpost.url}/v1/services`)).status, { timeout: 5000, interval: 200 }).toBe(200);
  });
});
