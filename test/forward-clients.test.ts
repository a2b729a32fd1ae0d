// Who may use forwarding (--allow-recursion), over real sockets from two loopback addresses, with
// dnsmasq as the upstream: a client outside the list gets REFUSED (and no RA) for names outside
// the zone over UDP and TCP, and nothing of its reaches the upstream; the zone answers everyone.
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decode, Packet, query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { startDnsmasq, type Dnsmasq } from './helpers/upstream.ts';

const ALLOWED = '127.0.0.2';
const OTHER = '127.0.0.1';
let upstream: Dnsmasq;
let signpost: TestSignpost;

beforeAll(async () => {
  upstream = await startDnsmasq(['--host-record=a.example.test,192.0.2.10', '--host-record=b.example.test,192.0.2.11']);
  signpost = await startTestSignpost({ recursors: [upstream.address], allowRecursion: [`${ALLOWED}/32`] });
  expect((await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 8080 })).status).toBe(200);
});

afterAll(async () => {
  await signpost?.close();
  await upstream?.stop();
});

/** A query sent over UDP from `source`. */
async function udpFrom(source: string, message: Buffer) {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, source);
  await once(socket, 'listening');
  socket.send(message, signpost.dns.port, '127.0.0.1');
  const [reply] = (await once(socket, 'message')) as [Buffer];
  socket.close();
  return decode(reply);
}

/** A query sent over TCP from `source`. */
async function tcpFrom(source: string, message: Buffer) {
  const socket = net.connect({ port: signpost.dns.port, host: '127.0.0.1', localAddress: source });
  const framed = Buffer.alloc(2 + message.length);
  framed.writeUInt16BE(message.length);
  message.copy(framed, 2);
  socket.write(framed);
  let received = Buffer.alloc(0);
  while (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
  }
  socket.destroy();
  return decode(received.subarray(2, 2 + received.readUInt16BE(0)));
}

it('forwards for an allowed client, with RA, and our OPT echoes its DO bit', async () => {
  const reply = await udpFrom(ALLOWED, query('a.example.test', 'A', { edns: 1232, dnssecOk: true }));
  expect(reply.header).toMatchObject({ rcode: Packet.RCODE.NOERROR, ra: 1 });
  expect(reply.answers.map((record) => record.address)).toEqual(['192.0.2.10']);
  expect(reply.additionals.find((record) => record.type === Packet.TYPE.EDNS)).toMatchObject({ doFlag: true });
  // From the cache now, without DO.
  const cached = await udpFrom(ALLOWED, query('a.example.test', 'A', { edns: 1232 }));
  expect(cached.additionals.find((record) => record.type === Packet.TYPE.EDNS)).toMatchObject({ doFlag: false });
});

it('refuses names outside the zone to other clients, over UDP and TCP, without asking upstream', async () => {
  for (const reply of [await udpFrom(OTHER, query('b.example.test', 'A')), await tcpFrom(OTHER, query('b.example.test', 'A'))]) {
    expect(reply.header).toMatchObject({ rcode: Packet.RCODE.REFUSED, ra: 0 });
    expect(reply.answers).toEqual([]);
  }
  // Not even from the cache: a.example.test was fetched for the allowed client above.
  expect((await udpFrom(OTHER, query('a.example.test', 'A'))).header.rcode).toBe(Packet.RCODE.REFUSED);
  expect(await upstream.queried()).not.toContain('A b.example.test');
});

it('answers the zone for every client', async () => {
  for (const reply of [await udpFrom(OTHER, query('web.service.local', 'A')), await tcpFrom(OTHER, query('web.service.local', 'A'))]) {
    expect(reply.header).toMatchObject({ rcode: Packet.RCODE.NOERROR, aa: 1, ra: 0 });
    expect(reply.answers.map((record) => record.address)).toEqual(['10.0.0.1']);
  }
});
