import net from 'node:net';
import type { Logger } from 'pino';
import { DNS_LIMITS } from '../config.ts';
import { answerQuery, FORWARD, forwardedQuestion, RESPONSE_BUFFER_BYTES } from './answer.ts';
import type { Forwarder } from './forward/forwarder.ts';
import type { Zone } from './zone.ts';

/**
 * DNS over TCP (RFC 7766): 2-byte length framing, many queries per connection (answered in
 * order, synchronously), an idle timeout between messages, and a deadline for finishing a
 * message once it started arriving, so a client trickling bytes cannot hold a connection.
 * When the client stops reading, reading from it stops too (backpressure).
 * Forwarded questions are answered when the upstream answers, so their replies may overtake
 * those of queries sent before them on the connection, which RFC 7766 §6.2.1.1 allows.
 */
export async function listenTcp(host: string, port: number, zone: Zone, forwarder: Forwarder | null, log: Logger): Promise<TcpListener> {
  const out = Buffer.allocUnsafe(RESPONSE_BUFFER_BYTES);
  const connections = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket, zone, forwarder, out, log);
  });
  server.maxConnections = DNS_LIMITS.tcpMaxConnections;
  server.on('error', (error) => log.warn({ err: error }, 'dns: TCP server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      }),
  };
}

export interface TcpListener {
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

function serveConnection(socket: net.Socket, zone: Zone, forwarder: Forwarder | null, out: Buffer, log: Logger): void {
  let pending: Buffer = Buffer.alloc(0);
  let deadline: NodeJS.Timeout | undefined;
  socket.setTimeout(DNS_LIMITS.tcpIdleTimeoutMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clearTimeout(deadline));
  socket.on('drain', () => socket.resume());
  const send = (message: Buffer, length: number) => {
    const reply = Buffer.allocUnsafe(2 + length);
    reply.writeUInt16BE(length, 0);
    message.copy(reply, 2, 0, length);
    if (!socket.write(reply)) socket.pause();
  };
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const size = pending.readUInt16BE(0);
      if (pending.length < 2 + size) break;
      const message = pending.subarray(2, 2 + size);
      pending = pending.subarray(2 + size);
      let length: number;
      try {
        length = answerQuery(message, zone, 'tcp', out, forwarder);
      } catch (error) {
        log.error({ err: error, peer: socket.remoteAddress }, 'dns: failed to answer a TCP query');
        length = 0;
      }
      if (length === FORWARD) {
        void forwarder!.forward(message, { ...forwardedQuestion }, socket.remoteAddress ?? '').then((reply) => {
          if (reply && !socket.destroyed) send(reply, reply.length);
        });
        continue;
      }
      if (length === 0) {
        // Nothing sensible to say (a response, or garbage too short to be a query): hang up.
        socket.destroy();
        return;
      }
      send(out, length);
    }
    clearTimeout(deadline);
    deadline = pending.length > 0 ? setTimeout(() => socket.destroy(), DNS_LIMITS.tcpMessageDeadlineMs) : undefined;
  });
}
