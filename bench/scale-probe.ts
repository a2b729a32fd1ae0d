// A latency probe, in a process of its own (so that the benchmark's own work never delays its
// reading of answers): asks NAME (type A) over UDP every INTERVAL ms for SECONDS s and prints the
// answer times as JSON: count, p50, p99, max (ms). An answer not back within 2 s counts as 2,000 ms.
// Run by bench/scale.ts: node bench/scale-probe.ts PORT NAME INTERVAL SECONDS
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';

const [port, name, intervalMs, seconds] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const socket = dgram.createSocket('udp4');
const sent = new Map<number, number>();
const latencies: number[] = [];
socket.on('message', (message) => {
  const at = sent.get(message.readUInt16BE(0));
  if (at === undefined) return;
  sent.delete(message.readUInt16BE(0));
  latencies.push(performance.now() - at);
});
const labels = name.split('.').flatMap((label) => [Buffer.from([label.length]), Buffer.from(label)]);
const question = Buffer.concat([Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
let id = 0;
const timer = setInterval(() => {
  const now = performance.now();
  for (const [key, at] of sent) if (now - at > 2000) (sent.delete(key), latencies.push(2000));
  id = (id + 1) & 0xffff;
  question.writeUInt16BE(id, 0);
  sent.set(id, now);
  socket.send(question, port, '127.0.0.1');
}, intervalMs);
await sleep(seconds * 1000);
clearInterval(timer);
await sleep(300);
socket.close();
const sorted = latencies.sort((a, b) => a - b);
const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
console.log(JSON.stringify({ count: sorted.length, p50: at(50), p99: at(99), max: sorted.at(-1) }));
