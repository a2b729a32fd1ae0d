// Buffer from its module: the global `Buffer` is a getter in Node 24, a call per use on the query path.
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Answerer, FORWARD } from './answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from './answer/writer.ts';
import { ANSWER_TIME_SAMPLE_MASK, type DnsCounters } from './counters.ts';
import type { Forwarder } from './forward/forwarder.ts';
import { rcodeOf } from './wire/constants.ts';
import type { Zone } from './zone/zone.ts';

/**
 * DNS over TCP (RFC 7766): 2-byte length framing, many queries per connection (answered in
 * order, synchronously), an idle timeout between messages, and a deadline for finishing a
 * message once it started arriving, so a client trickling bytes cannot hold a connection.
 * When the client stops reading, reading from it stops too (backpressure).
 * Forwarded questions are answered when the upstream answers, so their replies may overtake
 * those of queries sent before them on the connection, which RFC 7766 §6.2.1.1 allows.
 */
export async function listenTcp(
  host: string,
  port: number,
  zone: Zone,
  forwarder: Forwarder | null,
  log: Logger,
  counters: DnsCounters,
  limits: TcpLimits,
): Promise<TcpListener> {
  const answerer = new Answerer(zone, forwarder);
  const out = Buffer.allocUnsafe(RESPONSE_BUFFER_BYTES);
  /** Queries of every connection counted modulo the answer-time sampling interval (see ANSWER_TIME). */
  const sampling = { tick: 0 };
  const connections = new Set<net.Socket>();
  /** Open connections per client address; an address is forgotten when its last one closes. */
  const perClient = new Map<string, number>();
  let refusedLogged = 0;
  const server = net.createServer({ noDelay: true }, (socket) => {
    const client = socket.remoteAddress ?? '';
    const open = perClient.get(client) ?? 0;
    if (open >= limits.maxPerClient) {
      // Over its share: hang up at once, before reading anything.
      socket.destroy();
      counters.tcpRefused++;
      const now = Date.now();
      if (now - refusedLogged > 10_000) {
        refusedLogged = now;
        log.warn({ client, open, max: limits.maxPerClient }, 'dns: TCP connection refused: too many from one client (logged at most every 10 s)');
      }
      return;
    }
    perClient.set(client, open + 1);
    connections.add(socket);
    socket.on('close', () => {
      connections.delete(socket);
      const left = (perClient.get(client) ?? 1) - 1;
      if (left <= 0) perClient.delete(client);
      else perClient.set(client, left);
    });
    serveConnection(socket, client, answerer, forwarder, out, log, counters, limits, sampling);
  });
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.warn({ err: error }, 'dns: TCP server error'));
  return {
    get connections() {
      return connections.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      }),
  };
}

/** Bounds on DNS over TCP; see SignpostConfig's dnsTcp* fields. */
export interface TcpLimits {
  maxConnections: number;
  maxPerClient: number;
  /** Forwarded questions one connection may have waiting before reading from it pauses. */
  maxInFlight: number;
  idleTimeoutMs: number;
  messageTimeoutMs: number;
}

export interface TcpListener {
  /** Connections open now. */
  readonly connections: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

function serveConnection(
  socket: net.Socket,
  client: string,
  answerer: Answerer,
  forwarder: Forwarder | null,
  out: Buffer,
  log: Logger,
  counters: DnsCounters,
  limits: TcpLimits,
  sampling: { tick: number },
): void {
  let pending: Buffer = Buffer.alloc(0);
  let deadline: NodeJS.Timeout | undefined;
  /** Forwarded questions waiting for their upstream. */
  let inFlight = 0;
  /** The client is not reading its replies: stop reading its queries until it does. */
  let blocked = false;
  const resumeIfAble = () => {
    if (!blocked && inFlight < limits.maxInFlight && socket.isPaused() && !socket.destroyed) {
      socket.resume();
      // Messages already buffered while paused are answered now.
      if (pending.length >= 2) onData(Buffer.alloc(0));
    }
  };
  socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clearTimeout(deadline));
  socket.on('drain', () => {
    blocked = false;
    resumeIfAble();
  });
  const send = (message: Buffer, length: number) => {
    counters.tcpReplies[rcodeOf(message)]++;
    const reply = Buffer.allocUnsafe(2 + length);
    reply.writeUInt16BE(length, 0);
    message.copy(reply, 2, 0, length);
    if (!socket.write(reply)) {
      blocked = true;
      socket.pause();
    }
  };
  const onData = (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : chunk.length === 0 ? pending : Buffer.concat([pending, chunk]);
    let completed = false;
    while (pending.length >= 2) {
      if (blocked || inFlight >= limits.maxInFlight) {
        // Backpressure or too many questions upstream: keep the rest until there is room.
        socket.pause();
        break;
      }
      const size = pending.readUInt16BE(0);
      if (pending.length < 2 + size) break;
      const message = pending.subarray(2, 2 + size);
      completed = true;
      pending = pending.subarray(2 + size);
      sampling.tick = (sampling.tick + 1) & ANSWER_TIME_SAMPLE_MASK;
      const started = sampling.tick === 0 ? performance.now() : -1;
      let length: number;
      try {
        length = answerer.answer(message, 'tcp', out, client);
      } catch (error) {
        log.error({ err: error, peer: client }, 'dns: failed to answer a TCP query');
        length = 0;
      }
      if (length === FORWARD) {
        inFlight++;
        // The message is a view of a buffer that later reads may reuse: the forwarder keeps a copy.
        void forwarder!.forward(Buffer.from(message), { ...answerer.forwarded }, client).then((reply) => {
          inFlight--;
          if (socket.destroyed) return;
          if (reply) {
            send(reply, reply.length);
            if (started >= 0) counters.forwardedAnswerTime.record((performance.now() - started) * 1000);
          }
          resumeIfAble();
        });
        continue;
      }
      if (length === 0) {
        // Nothing sensible to say (a response, or garbage too short to be a query): hang up.
        socket.destroy();
        counters.tcpHungUp++;
        return;
      }
      send(out, length);
      if (started >= 0) counters.zoneAnswerTime.record((performance.now() - started) * 1000);
    }
    // A message that started arriving must be complete (and one waiting its turn dealt with) within
    // the deadline. More bytes of the same message do not restart it: only a completed message
    // does, so a client trickling a byte at a time is cut off.
    if (pending.length === 0) {
      clearTimeout(deadline);
      deadline = undefined;
    } else if (deadline === undefined || completed) {
      clearTimeout(deadline);
      deadline = setTimeout(() => socket.destroy(), limits.messageTimeoutMs);
    }
  };
  socket.on('data', onData);
}
