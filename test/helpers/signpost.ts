// Starts a real Signpost on ephemeral loopback ports and gives tests real clients for it.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import type { SignpostConfig } from '../../src/config/flags.ts';
import type { RegistryEvent } from '../../src/registry/types.ts';
import { startSignpost, type Signpost, type StartOptions } from '../../src/server.ts';

const execFileAsync = promisify(execFile);
export const { Packet } = dns2;

export interface TestSignpost extends Signpost {
  url: string;
  /** A fresh Node resolver pointed at this server (one per call: no state carried between checks). */
  resolver(): Resolver;
  register(service: string, id: string, body: Record<string, unknown>): Promise<Response>;
  /** Runs `dig` against this server and returns its stdout. */
  dig(...args: string[]): Promise<string>;
  /** Sends raw bytes over UDP; resolves with the reply, or null if none came within `timeoutMs`. */
  udp(message: Buffer, timeoutMs?: number): Promise<Buffer | null>;
  /** Sends one DNS message over TCP (framed) and resolves with the reply. */
  tcp(message: Buffer): Promise<Buffer>;
  /** Resolves with the next registry event matching `predicate`. */
  nextEvent(predicate: (event: RegistryEvent) => boolean): Promise<RegistryEvent>;
}

/**
 * For tests of something other than overload: an in-process server shares the event loop with the
 * test and its clients, and on a loaded machine the overload guard (503 while the loop lags over
 * --http-max-event-loop-delay) would refuse requests the test means to make.
 */
export const NO_OVERLOAD_GUARD = { httpMaxEventLoopDelay: 0 } as const;

export async function startTestSignpost(config: Partial<SignpostConfig> = {}, options: StartOptions = {}): Promise<TestSignpost> {
  const signpost = await startSignpost(
    {
      dns: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      logLevel: 'silent',
      ...config,
    },
    options,
  );
  const dnsServer = `127.0.0.1:${signpost.dns.port}`;
  const url = `http://127.0.0.1:${signpost.http.port}`;
  return {
    ...signpost,
    url,
    resolver() {
      const resolver = new Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([dnsServer]);
      return resolver;
    },
    register(service, id, body) {
      return fetch(`${url}/v1/services/${service}/instances/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    },
    async dig(...args) {
      const { stdout } = await execFileAsync('dig', ['@127.0.0.1', '-p', String(signpost.dns.port), '+time=2', '+tries=1', ...args]);
      return stdout;
    },
    udp: (message, timeoutMs = 2000) => sendUdp(signpost.dns.port, message, timeoutMs),
    tcp: (message) => sendTcp(signpost.dns.port, message),
    nextEvent(predicate) {
      return new Promise((resolve) => {
        const off = signpost.registry.onEvent((event) => {
          if (!predicate(event)) return;
          off();
          resolve(event);
        });
      });
    },
  };
}

/**
 * A DNS query built with dns2, as bytes. `dnssecOk` sets the DO bit of the OPT record (with `edns`);
 * `authorities` go in the authority section (an IXFR carries the client's SOA there).
 */
export function query(
  name: string,
  type: keyof typeof Packet.TYPE | number,
  options: { id?: number; edns?: number | false; dnssecOk?: boolean; rd?: boolean; qclass?: number; authorities?: object[] } = {},
): Buffer {
  const packet = new Packet();
  packet.header.id = options.id ?? 0x1234;
  packet.header.rd = options.rd === false ? 0 : 1;
  // dns2's types demand a toBuffer on questions; its encoder does not use it.
  const qtype = typeof type === 'number' ? type : Packet.TYPE[type];
  packet.questions.push({ name, type: qtype, class: options.qclass ?? Packet.CLASS.IN } as (typeof packet.questions)[number]);
  for (const record of options.authorities ?? []) packet.authorities.push(record as never);
  if (options.edns !== undefined && options.edns !== false) {
    packet.additionals.push(Packet.Resource.EDNS([]) as never);
    const opt = packet.additionals[0] as unknown as { class: number; ttl: number };
    opt.class = options.edns;
    // TTL of an OPT record: extended rcode, version, then the flags, whose top bit is DO (RFC 3225).
    if (options.dnssecOk) opt.ttl = 0x8000;
  }
  return packet.toBuffer();
}

export function decode(message: Buffer) {
  return Packet.parse(message);
}

export function sendUdp(port: number, message: Buffer, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, timeoutMs);
    socket.once('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

export function sendTcp(port: number, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.destroy();
        resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('connection closed before a full reply')));
    const framed = Buffer.alloc(2 + message.length);
    framed.writeUInt16BE(message.length, 0);
    message.copy(framed, 2);
    socket.write(framed);
  });
}
