// The benchmark's baseline: the least a Node UDP DNS server can do per query. It parses nothing
// and answers every datagram with the same precomputed response, with the query's ID copied in.
// Signpost's throughput is measured against this, so the ratio shows what Signpost's own work
// (parsing, lookup, ordering, assembly) costs on top of Node's UDP receive and send path.
//
// Run: node bench/baseline-server.ts [PORT]. Binds 127.0.0.1 (port 0, the default, picks a free
// one) and prints one JSON line {"msg":"baseline ready","dns":"127.0.0.1:PORT"}.
// Buffer from its module, as Signpost's listeners do: the global `Buffer` is a getter in Node 24.
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import { DNS_LIMITS } from '../src/config/limits.ts';

const HOST = '127.0.0.1';

// `svc1.service.local. IN A`, answered with 7 A records (10.0.0.1-7, TTL 5): 148 bytes, about the
// average size of Signpost's answers to the benchmark's query mix (85-byte A answers, 210-216-byte
// SRV answers with glue, ~100-byte NXDOMAINs), so that both servers move the same bytes and the
// comparison is of the work done per query. dnsperf matches responses by ID only, so the question
// need not match the query.
const ANSWERS = 7;
const question = Buffer.from([4, ...Buffer.from('svc1'), 7, ...Buffer.from('service'), 5, ...Buffer.from('local'), 0, 0, 1, 0, 1]);
const answers = Array.from({ length: ANSWERS }, (_, i) => Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, i + 1]));
// ID (overwritten per query), flags QR AA RD, QDCOUNT 1, ANCOUNT, NSCOUNT 0, ARCOUNT 0.
const header = Buffer.from([0, 0, 0x85, 0x00, 0, 1, 0, ANSWERS, 0, 0, 0, 0]);
const response = Buffer.concat([header, question, ...answers]);

const socket = dgram.createSocket({
  type: 'udp4',
  // The same receive buffer Signpost asks for, so both lose (or keep) bursts alike.
  recvBufferSize: DNS_LIMITS.udpReceiveBufferBytes,
  // Numeric peers only: skip the per-send DNS lookup step, as Signpost does.
  lookup: (address, _options, callback) => callback(null, address, 4),
});

socket.on('message', (query, peer) => {
  if (query.length < 2) return;
  // A fresh copy per reply, as Signpost makes: `send` may still hold its buffer after returning,
  // so rewriting one shared buffer's ID could send a later query's ID for an earlier query.
  const reply = Buffer.allocUnsafe(response.length);
  response.copy(reply);
  reply[0] = query[0];
  reply[1] = query[1];
  socket.send(reply, peer.port, peer.address);
});

socket.bind(Number(process.argv[2] ?? 0), HOST, () => {
  console.log(JSON.stringify({ msg: 'baseline ready', dns: `${HOST}:${socket.address().port}` }));
});

const stop = () => socket.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
