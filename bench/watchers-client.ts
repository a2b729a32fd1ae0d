// Many watchers in one process, for `npm run bench:watchers` (bench/watchers.ts drives it over
// stdin/stdout, one JSON line per command and reply). Raw keep-alive TCP sockets with hand-written
// HTTP/1.1 requests: a full HTTP client per socket would make this process, not the server, the
// slowest part of the fan-out. Arrival times are CLOCK_MONOTONIC (process.hrtime), which every
// process on the machine shares, in ms.
//
//   node bench/watchers-client.ts MODE PORT COUNT LOCAL_ADDRESS
//   MODE: sse (GET /v1/watch), consul (GET /v1/health/service/probe?index=&wait=),
//         native (GET /v1/services/probe?index=&wait=)
//   commands: {"op":"arm","marker":M} (sse: time the first chunk holding M on each socket),
//             {"op":"hold","index":N} (blocking: send the held request on each socket),
//             {"op":"close"}
//   replies:  {"op":"ready"} once every stream is open and has its hello (blocking modes: at once,
//             their sockets open with the first hold), {"op":"armed"},
//             {"op":"sent"}, {"op":"arrivals","times":[...],"missing":K}
import net from 'node:net';
import { createInterface } from 'node:readline';

const [mode, portText, countText, localAddress] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const ROUND_TIMEOUT_MS = 30_000;
const OPEN_CONCURRENCY = 256;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const reply = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

interface Watcher {
  socket: net.Socket;
  /** The tail of what arrived (a marker may straddle two chunks). */
  tail: string;
  /** Blocking: bytes of the current response still to come (-1 until its headers are in). */
  remaining: number;
  headers: string;
  arrivedAt: number;
}

const watchers: Watcher[] = [];
let marker = '';
let round: { pending: number; times: number[]; timer: NodeJS.Timeout } | undefined;

function arrived(watcher: Watcher): void {
  if (!round || watcher.arrivedAt > 0) return;
  watcher.arrivedAt = now();
  round.times.push(watcher.arrivedAt);
  if (--round.pending === 0) finishRound();
}

function finishRound(): void {
  if (!round) return;
  clearTimeout(round.timer);
  reply({ op: 'arrivals', times: round.times, missing: round.pending });
  round = undefined;
}

function startRound(): void {
  for (const watcher of watchers) watcher.arrivedAt = 0;
  round = { pending: watchers.length, times: [], timer: setTimeout(finishRound, ROUND_TIMEOUT_MS) };
}

/** Blocking modes: counts the body bytes of a response (fastify sends content-length) so the next request can reuse the socket. */
function onBlockingData(watcher: Watcher, chunk: Buffer): void {
  arrived(watcher);
  let data = chunk.toString('latin1');
  while (data.length > 0) {
    if (watcher.remaining < 0) {
      watcher.headers += data;
      const end = watcher.headers.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(watcher.headers.slice(0, end))?.[1] ?? 0);
      data = watcher.headers.slice(end + 4);
      watcher.headers = '';
      watcher.remaining = length;
    }
    const taken = Math.min(watcher.remaining, data.length);
    watcher.remaining -= taken;
    data = data.slice(taken);
  }
}

/** Blocking modes: sockets are opened by the first `hold`, each with its request at once (an idle new connection would meet the server's headers timeout). */
function openWith(request: string): Promise<Watcher> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.setNoDelay(true);
  const watcher: Watcher = { socket, tail: '', remaining: -1, headers: '', arrivedAt: 0 };
  socket.on('error', (error) => console.error(`a ${mode} socket: ${error.message}`));
  socket.on('close', () => {
    if (!closing) console.error(`a ${mode} socket closed`);
  });
  socket.on('data', (chunk: Buffer) => onBlockingData(watcher, chunk));
  socket.write(request);
  return new Promise((resolve) => socket.once('connect', () => resolve(watcher)));
}

function open(): Promise<Watcher> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.setNoDelay(true);
    const watcher: Watcher = { socket, tail: '', remaining: -1, headers: '', arrivedAt: 0 };
    socket.once('error', reject);
    socket.on('close', () => {
      if (!closing) {
        console.error(`a ${mode} socket closed`);
        process.exitCode = 1;
      }
    });
    if (mode === 'sse') {
      socket.write('GET /v1/watch HTTP/1.1\r\nHost: bench\r\n\r\n');
      let ready = false;
      socket.on('data', (chunk: Buffer) => {
        const text = watcher.tail + chunk.toString('latin1');
        if (!ready && text.includes('event: hello')) {
          ready = true;
          resolve(watcher);
        }
        if (marker !== '' && text.includes(marker)) arrived(watcher);
        watcher.tail = text.slice(-256);
      });
    } else {
      socket.on('data', (chunk: Buffer) => onBlockingData(watcher, chunk));
      socket.once('connect', () => resolve(watcher));
    }
  });
}

let closing = false;

async function openAll(): Promise<void> {
  if (mode !== 'sse') return;
  for (let i = 0; i < count; i += OPEN_CONCURRENCY) {
    watchers.push(...(await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count - i) }, open))));
  }
}

await openAll();
reply({ op: 'ready' });

createInterface({ input: process.stdin }).on('line', async (line) => {
  const command = JSON.parse(line) as { op: string; marker?: string; index?: number };
  if (command.op === 'arm') {
    marker = command.marker!;
    startRound();
    reply({ op: 'armed' });
  } else if (command.op === 'hold') {
    const path = mode === 'consul' ? `/v1/health/service/probe?index=${command.index}&wait=120s` : `/v1/services/probe?index=${command.index}&wait=120`;
    const request = `GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`;
    const first = watchers.length === 0;
    startRound();
    // Opened a batch at a time: ten thousand connects at once overflow the server's accept queue.
    for (let i = 0; first && i < count; i += OPEN_CONCURRENCY) {
      watchers.push(...(await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count - i) }, () => openWith(request)))));
    }
    if (round) round.pending = watchers.length;
    if (!first) {
      for (const watcher of watchers) {
        watcher.remaining = -1;
        watcher.socket.write(request);
      }
    }
    reply({ op: 'sent' });
  } else if (command.op === 'close') {
    closing = true;
    for (const watcher of watchers) watcher.socket.destroy();
    process.exit(0);
  }
});
