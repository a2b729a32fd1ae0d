// Fuzzing the real server (a child process, so a crash shows): 100,000+ random and mutated DNS
// packets over UDP and TCP, generated with fast-check: random bytes, valid queries with bit
// flips, truncations, count fields set to 0xFFFF and spliced pointers, compression loops, and
// pointer chains up to 64 KiB. Then the server must still be running, answer a normal query
// correctly and quickly, have logged no error, and its memory must have stayed bounded.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSignpost, type SignpostProcess } from './helpers/process.ts';
import { decode, query, sendTcp } from './helpers/signpost.ts';

const PACKETS = Number(process.env.FUZZ_PACKETS ?? 120_000);
/** Share of the packets sent over TCP instead of UDP. */
const TCP_SHARE = 0.15;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
/** The UDP payload limit over IPv4. */
const MAX_UDP = 65_507;

const VALID: Buffer[] = [
  query('web.service.local', 'A'),
  query('web.service.local', 'SRV', { edns: 1232 }),
  query('_web._tcp.service.local', 'SRV'),
  query('web-1.web.instance.local', 'TXT', { edns: 4096 }),
  query('canary.web.service.local', 'AAAA'),
  query('local', 'SOA'),
  query('local', 'NS', { edns: 512 }),
  query('1.0.0.10.in-addr.arpa', 'PTR'),
  query('example.com', 'A'),
  query('missing.service.local', 'ANY', { edns: 1232 }),
];

const header = (id: number, counts: [number, number, number, number], flags = 0x0100): Buffer => {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt16BE(id, 0);
  bytes.writeUInt16BE(flags, 2);
  counts.forEach((count, i) => bytes.writeUInt16BE(count, 4 + 2 * i));
  return bytes;
};

/** A chain of compression pointers filling `size` bytes after the header, each to the next; the last loops back. */
function pointerChain(size: number, loopTo: number): Buffer {
  const bytes = Buffer.alloc(size);
  header(0xc0de, [1, 0xffff, 0xffff, 0xffff]).copy(bytes);
  for (let at = 12; at + 1 < size; at += 2) {
    const next = at + 4 <= size && at + 2 <= 0x3fff ? at + 2 : loopTo;
    bytes.writeUInt16BE(0xc000 | next, at);
  }
  return bytes;
}

const randomBytes = fc.uint8Array({ minLength: 0, maxLength: 700 }).map((bytes) => Buffer.from(bytes));

/** A valid query, mutated: bit flips, a truncation, counts set to 0xFFFF, a pointer spliced in, bytes appended. */
const mutated = fc
  .record({
    base: fc.constantFrom(...VALID),
    flips: fc.array(fc.nat(), { maxLength: 8 }),
    truncateAt: fc.option(fc.nat(), { nil: undefined }),
    maxCounts: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    pointer: fc.option(fc.record({ at: fc.nat(), to: fc.nat({ max: 0x3fff }) }), { nil: undefined }),
    tail: fc.uint8Array({ maxLength: 64 }),
    qr: fc.boolean(),
  })
  .map(({ base, flips, truncateAt, maxCounts, pointer, tail, qr }) => {
    let bytes = Buffer.concat([base, Buffer.from(tail)]);
    for (const flip of flips) bytes[(flip >> 3) % bytes.length] ^= 1 << (flip & 7);
    for (const field of maxCounts) bytes.writeUInt16BE(0xffff, 4 + 2 * field);
    if (pointer) bytes.writeUInt16BE(0xc000 | pointer.to, 12 + (pointer.at % (bytes.length - 13)));
    if (qr) bytes[2] |= 0x80;
    if (truncateAt !== undefined) bytes = bytes.subarray(0, truncateAt % (bytes.length + 1));
    return bytes;
  });

/** Compression loops: a name pointing at itself, two names pointing at each other, labels then a pointer back. */
const loops = fc
  .record({ id: fc.nat({ max: 0xffff }), kind: fc.integer({ min: 0, max: 2 }), labels: fc.array(fc.stringMatching(/^[a-z]{1,10}$/), { maxLength: 5 }) })
  .map(({ id, kind, labels }) => {
    const name = Buffer.concat(labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])));
    const self = kind === 0 ? 12 : kind === 1 ? 14 : 12;
    const pointer = Buffer.from([0xc0 | (self >> 8), self & 0xff]);
    const body = kind === 1 ? Buffer.from([0xc0, 14, 0xc0, 12]) : Buffer.concat([name, pointer]);
    return Buffer.concat([header(id, [1, 0, 0, 0]), body, Buffer.from([0, 1, 0, 1])]);
  });

/** Long pointer chains, up to 64 KiB (the UDP limit for UDP, the TCP message limit for TCP). */
const chains = fc.record({ size: fc.integer({ min: 14, max: 65_535 }), loopTo: fc.integer({ min: 12, max: 64 }) }).map(({ size, loopTo }) => pointerChain(size, loopTo & ~1));

/** The mix: mostly mutated queries and random bytes, some loops, a few long chains. */
const packets = fc.oneof(
  { arbitrary: mutated, weight: 60 },
  { arbitrary: randomBytes, weight: 30 },
  { arbitrary: loops, weight: 9 },
  { arbitrary: chains, weight: 1 },
);

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

let server: SignpostProcess;

beforeAll(async () => {
  // Nothing exempt from the response-rate limit: the fuzz goes through it too.
  server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', 'memory', '--no-recursion', '--rate-limit-exempt', '']);
  const response = await fetch(`${server.url}/v1/services/web/instances/web-1`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: '10.0.0.1', port: 8080, tags: ['canary'], meta: { v: '1' } }),
  });
  expect(response.status).toBe(200);
});

afterAll(async () => {
  await server?.stop();
});

describe('fuzzing the DNS listeners', () => {
  it(`survives ${PACKETS.toLocaleString('en')} random and mutated packets over UDP and TCP`, { timeout: 120_000 }, async () => {
    const pid = server.child.pid!;
    const rssBefore = rssKiB(pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssKiB(pid))), 200);
    const started = performance.now();

    // UDP from a few sockets; replies are read and thrown away (so the client's buffer never fills).
    const udpSockets = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = dgram.createSocket('udp4');
        await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
        socket.on('message', () => {});
        socket.on('error', () => {});
        return socket;
      }),
    );
    // TCP in bounded batches on fresh connections: the server hangs up on garbage, which ends a batch.
    let tcpBatch: Buffer[] = [];
    let tcpSent = 0;
    const tcpConnections: Array<Promise<void>> = [];
    const flushTcp = () => {
      const batch = tcpBatch;
      tcpBatch = [];
      tcpConnections.push(
        new Promise<void>((resolve) => {
          const socket = net.connect(server.dnsPort, '127.0.0.1');
          socket.on('error', () => {});
          socket.on('data', () => {});
          socket.on('close', () => resolve());
          socket.setTimeout(2000, () => socket.destroy());
          socket.once('connect', () => {
            // Mostly framed correctly; sometimes the frame lies about the length.
            socket.end(Buffer.concat(batch));
          });
        }),
      );
    };

    const batchSize = 2000;
    let sent = 0;
    let udpSent = 0;
    for (let batchStart = 0; batchStart < PACKETS; batchStart += batchSize) {
      const count = Math.min(batchSize, PACKETS - batchStart);
      const batch = fc.sample(fc.tuple(packets, fc.noBias(fc.integer({ min: 0, max: 99 })), fc.integer({ min: -3, max: 3 })), {
        numRuns: count,
        seed: SEED + batchStart,
      });
      for (const [packet, transport, frameError] of batch) {
        if (transport < TCP_SHARE * 100) {
          const frame = Buffer.alloc(2);
          const lie = frameError === 3 ? Math.max(0, packet.length - 1) : packet.length;
          frame.writeUInt16BE(Math.min(0xffff, lie), 0);
          tcpBatch.push(frame, packet.subarray(0, 0xffff));
          tcpSent++;
          if (tcpBatch.length >= 200) flushTcp();
        } else {
          udpSockets[udpSent++ % udpSockets.length].send(packet.subarray(0, MAX_UDP), server.dnsPort, '127.0.0.1');
        }
        sent++;
      }
      // Bound what is outstanding: let the sockets drain, and keep at most 8 TCP batches open.
      await tick();
      while (tcpConnections.length > 8) await tcpConnections.shift();
    }
    if (tcpBatch.length > 0) flushTcp();
    await Promise.all(tcpConnections);
    const sendingMs = performance.now() - started;

    // The server is alive and answers a normal query correctly over UDP (from an address the fuzz did
    // not use, so not rate-limited; asked again if the kernel dropped it behind the backlog) and TCP.
    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.9.9', resolve));
    const answered = new Promise<Buffer>((resolve) => probe.once('message', resolve));
    const asking = setInterval(() => probe.send(query('web.service.local', 'A', { id: 4242 }), server.dnsPort, '127.0.0.1'), 500);
    probe.send(query('web.service.local', 'A', { id: 4242 }), server.dnsPort, '127.0.0.1');
    const reply = await answered;
    clearInterval(asking);
    probe.close();
    const packet = decode(reply);
    expect(packet.header.id).toBe(4242);
    expect(packet.answers.map((answer) => answer.address)).toEqual(['10.0.0.1']);
    const tcpReply = await sendTcp(server.dnsPort, query('_web._tcp.service.local', 'SRV'));
    expect(decode(tcpReply).answers.map((answer) => answer.port)).toEqual([8080]);
    // And the HTTP API is fine too.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    clearInterval(sampler);
    for (const socket of udpSockets) socket.close();
    const rssAfter = rssKiB(pid);
    rssMax = Math.max(rssMax, rssAfter);
    console.log(
      `fuzz: ${sent} packets (${sent - tcpSent} UDP, ${tcpSent} TCP) in ${(sendingMs / 1000).toFixed(1)} s; ` +
        `RSS ${(rssBefore / 1024).toFixed(0)} → max ${(rssMax / 1024).toFixed(0)} → ${(rssAfter / 1024).toFixed(0)} MiB; seed ${SEED}`,
    );
    expect(sent).toBeGreaterThanOrEqual(PACKETS);
    // Memory stays bounded: the rate limiter's buckets and socket buffers are capped.
    expect(rssMax - rssBefore).toBeLessThan(150 * 1024);
    // Nothing threw inside the answer path: such failures are logged at error level (50).
    const errors = server.output.filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toEqual([]);
  });
});
