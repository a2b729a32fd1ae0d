// When instances leave DNS, seen from a client, in a process of its own (so that the benchmark's
// own work never delays its reading of answers): asks for the A records of SERVICES (comma-separated
// names) one after another, over one TCP connection (every address fits), for SECONDS s, and prints
// as JSON, per address seen, the last answer that held it and the first one after that which did not
// (when each was asked and received, epoch ms), the answers counted, and the median time between two
// answers for the same service (how finely a departure is placed), and every answer's [asked, ms taken].
// Run by bench/scale.ts: node bench/scale-storm-probe.ts PORT SECONDS SERVICES
import { Buffer } from 'node:buffer';
import net from 'node:net';

const [port, seconds, services] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4].split(',')];
const TYPE_A = 1;
const epochMs = () => performance.timeOrigin + performance.now();

function query(id: number, name: string): Buffer {
  const labels = `${name}.service.local`.split('.').flatMap((label) => [Buffer.from([label.length]), Buffer.from(label)]);
  const message = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, TYPE_A, 0, 1])]);
  return Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);
}

/** The addresses of the A records in the answer section of `message`. */
function addresses(message: Buffer): string[] {
  let at = 12;
  const skipName = () => {
    for (;;) {
      const length = message[at];
      if (length === 0) return void (at += 1);
      if ((length & 0xc0) === 0xc0) return void (at += 2);
      at += length + 1;
    }
  };
  skipName();
  at += 4;
  const found: string[] = [];
  for (let n = message.readUInt16BE(6); n > 0; n--) {
    skipName();
    const type = message.readUInt16BE(at);
    const length = message.readUInt16BE(at + 8);
    if (type === TYPE_A && length === 4) found.push(`${message[at + 10]}.${message[at + 11]}.${message[at + 12]}.${message[at + 13]}`);
    at += 10 + length;
  }
  return found;
}

interface Seen {
  lastHeld: [number, number];
  firstWithout: [number, number] | null;
}

const seen = new Map<string, Seen>();
const lastAnswerOf = new Map<string, number>();
const gaps: number[] = [];
let answers = 0;
const timings: Array<[number, number]> = [];
const socket = net.connect(port, '127.0.0.1');
await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
let pending = Buffer.alloc(0);
let waiting: ((message: Buffer) => void) | null = null;
socket.on('data', (chunk: Buffer) => {
  pending = Buffer.concat([pending, chunk]);
  if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
    const length = pending.readUInt16BE(0);
    const message = pending.subarray(2, 2 + length);
    pending = pending.subarray(2 + length);
    waiting?.(message);
  }
});
const until = Date.now() + seconds * 1000;
for (let n = 0; Date.now() < until; n++) {
  const service = services[n % services.length];
  const asked = epochMs();
  const message = await new Promise<Buffer>((resolve) => {
    waiting = resolve;
    socket.write(query(n & 0xffff, service));
  });
  const received = epochMs();
  answers++;
  timings.push([Math.round(asked), Math.round((received - asked) * 100) / 100]);
  const previous = lastAnswerOf.get(service);
  if (previous !== undefined) gaps.push(received - previous);
  lastAnswerOf.set(service, received);
  const held = new Set(addresses(message));
  for (const address of held) {
    const key = `${service}/${address}`;
    seen.set(key, { lastHeld: [asked, received], firstWithout: null });
  }
  for (const [key, entry] of seen) {
    if (entry.firstWithout === null && key.startsWith(`${service}/`) && !held.has(key.slice(service.length + 1))) entry.firstWithout = [asked, received];
  }
}
socket.destroy();
gaps.sort((a, b) => a - b);
console.log(JSON.stringify({ answers, gapP50: gaps[Math.floor(gaps.length / 2)] ?? null, timings, seen: Object.fromEntries(seen) }));
