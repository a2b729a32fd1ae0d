// Upstream resolvers the forwarding tests start themselves, on loopback: a real dnsmasq, and a
// scripted server whose every reply the test decides. Tests never forward anywhere else.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import dns2 from 'dns2';
import type { HostPort } from '../../src/config/parse.ts';
import { query, sendUdp } from './signpost.ts';

const { Packet } = dns2;
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;

export interface Dnsmasq {
  address: HostPort;
  pid: number;
  /** What reached dnsmasq, as `TYPE name` in order, from its `--log-queries` log. */
  queried(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts dnsmasq on a free loopback port, answering only from `records` (dnsmasq flags such as
 * `--host-record=...`) for names under `example.test`, which it answers NXDOMAIN for otherwise.
 * Resolves once it answers a query.
 */
export async function startDnsmasq(records: string[]): Promise<Dnsmasq> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    const child = spawn(
      '/usr/sbin/dnsmasq',
      [
        '--no-daemon',
        `--port=${port}`,
        `--listen-address=${HOST}`,
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--conf-file=/dev/null',
        '--local=/example.test/',
        // dnsmasq gives its own records TTL 0 unless told; the cache tests need cacheable answers.
        '--local-ttl=300',
        '--log-queries',
        '--log-facility=-',
        ...records,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stdout!.on('data', (chunk) => (log += chunk));
    child.stderr!.on('data', (chunk) => (log += chunk));
    const exited = once(child, 'exit');
    const ready = await Promise.race([untilAnswers(port), exited.then(() => false)]);
    if (ready) {
      return {
        address: { host: HOST, port },
        pid: child.pid!,
        async queried() {
          // dnsmasq logs queries in the order it takes them: once a marker query shows, every earlier one has.
          const marker = `marker-${Math.random().toString(36).slice(2)}.example.test`;
          await sendUdp(port, query(marker, 'A'), 2000);
          const deadline = Date.now() + READY_TIMEOUT_MS;
          while (!log.includes(marker) && Date.now() < deadline) await once(child.stderr!, 'data');
          return [...log.matchAll(/query\[(\w+)\] (\S+) from/g)].map((match) => `${match[1]} ${match[2]}`).filter((question) => !question.includes(marker));
        },
        stop: () => stopChild(child),
      };
    }
    await stopChild(child);
    // Another process may have taken the port between our probe and dnsmasq's bind.
    if (attempt === 5 || !/Address (already )?in use/i.test(log)) throw new Error(`dnsmasq did not start:\n${log}`);
  }
}

/** Polls with real queries until something answers on `port`, for at most READY_TIMEOUT_MS. */
async function untilAnswers(port: number): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await sendUdp(port, query('ready.example.test', 'A'), 100)) return true;
  }
  return false;
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** A question as the scripted upstream sees it. */
export interface UpstreamQuestion {
  id: number;
  name: string;
  type: number;
  transport: 'udp' | 'tcp';
  /** The raw query. */
  message: Buffer;
}

/** What a script returns: reply messages to send (in order), or none to stay silent. */
export type Script = (question: UpstreamQuestion, reply: ReplyBuilder) => Buffer[] | Promise<Buffer[]>;

export interface ScriptedUpstream {
  address: HostPort;
  /** Every question received, in order. */
  questions: UpstreamQuestion[];
  /** Resolves when `count` questions have arrived. */
  received(count: number): Promise<void>;
  /** Sends raw bytes to whoever asked `question` over UDP, from a different socket (a spoofer). */
  spoof(question: UpstreamQuestion, message: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Builds replies to one question with dns2 (an independent encoder). */
export class ReplyBuilder {
  readonly #question: UpstreamQuestion;

  constructor(question: UpstreamQuestion) {
    this.#question = question;
  }

  /** A reply with `answers` (dns2 resource fields; name, class and ttl default to the question's and 300). */
  build(options: { rcode?: number; tc?: boolean; id?: number; name?: string; answers?: object[]; authorities?: object[] } = {}): Buffer {
    const packet = new Packet();
    packet.header.id = options.id ?? this.#question.id;
    packet.header.qr = 1;
    packet.header.rd = 1;
    packet.header.ra = 1;
    packet.header.tc = options.tc ? 1 : 0;
    packet.header.rcode = options.rcode ?? Packet.RCODE.NOERROR;
    const name = options.name ?? this.#question.name;
    packet.questions.push({ name, type: this.#question.type, class: Packet.CLASS.IN } as never);
    const fill = (record: object) => ({ name, class: Packet.CLASS.IN, ttl: 300, ...record }) as never;
    for (const record of options.answers ?? []) packet.answers.push(fill(record));
    for (const record of options.authorities ?? []) packet.authorities.push(fill(record));
    return packet.toBuffer();
  }
}

/** UDP and TCP on one free loopback port, each question answered by `script`. */
export async function startScriptedUpstream(script: Script): Promise<ScriptedUpstream> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenScripted(script);
    } catch (error) {
      // UDP took a free port whose TCP twin was taken: pick another.
      if (attempt === 5 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
}

async function listenScripted(script: Script): Promise<ScriptedUpstream> {
  const questions: UpstreamQuestion[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const record = (question: UpstreamQuestion) => {
    questions.push(question);
    for (const waiter of waiters.filter((waiter) => questions.length >= waiter.count)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  const peers = new Map<UpstreamQuestion, dgram.RemoteInfo>();

  const udp = dgram.createSocket('udp4');
  udp.on('message', async (message, peer) => {
    const question = readQuestion(message, 'udp');
    peers.set(question, peer);
    record(question);
    for (const reply of await script(question, new ReplyBuilder(question))) udp.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, HOST, resolve));
  const port = udp.address().port;

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', async (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        const question = readQuestion(message, 'tcp');
        record(question);
        for (const reply of await script(question, new ReplyBuilder(question))) {
          socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', (error) => {
      udp.close();
      reject(error);
    });
    tcp.listen(port, HOST, resolve);
  });

  return {
    address: { host: HOST, port },
    questions,
    received: (count) =>
      questions.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    async spoof(question, message) {
      const peer = peers.get(question)!;
      const spoofer = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => spoofer.send(message, peer.port, peer.address, () => resolve()));
      spoofer.close();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
    },
  };
}

function readQuestion(message: Buffer, transport: 'udp' | 'tcp'): UpstreamQuestion {
  const decoded = Packet.parse(message);
  return { id: decoded.header.id, name: decoded.questions[0].name, type: decoded.questions[0].type, transport, message };
}
