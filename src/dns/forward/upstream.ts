// One question to one upstream resolver, as real resolvers ask it against off-path spoofing: a
// fresh random ID and a fresh UDP socket per try, connect()ed to the upstream, so the kernel picks
// a random ephemeral source port and drops datagrams from any other address or port. Replies are
// then checked for our ID and our exact question. A truncated reply is asked again over TCP.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net, { isIPv6 } from 'node:net';
import type { HostPort } from '../../config/parse.ts';
import { buildUpstreamQuery, isReplyTo, isTruncated } from './message.ts';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
}

/**
 * Asks `upstream` for `question` (wire name, QTYPE, QCLASS), waiting up to `timeoutMs` for the
 * UDP reply and as long again for a TCP retry. Resolves with a reply that `isReplyTo` accepted;
 * rejects on timeout, on a socket error (an ICMP port-unreachable comes back as ECONNREFUSED, so a
 * stopped upstream fails at once), or when `signal` aborts.
 */
export async function exchange(upstream: HostPort, question: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const reply = await exchangeUdp(upstream, question, timeoutMs, signal);
  return isTruncated(reply) ? exchangeTcp(upstream, question, timeoutMs, signal) : reply;
}

function exchangeUdp(upstream: HostPort, question: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const id = randomInt(0x10000);
  const query = buildUpstreamQuery(id, question);
  return settleOnce<Buffer>(timeoutMs, signal, (resolve, reject, onSettle) => {
    const socket = dgram.createSocket({
      type: isIPv6(upstream.host) ? 'udp6' : 'udp4',
      lookup: (address, _options, callback) => callback(null, address, isIPv6(address) ? 6 : 4),
    });
    let open = true;
    onSettle(() => {
      open = false;
      socket.close();
    });
    socket.on('error', reject);
    socket.on('message', (reply, from) => {
      // The kernel already filters by source on a connected socket; this says so in the code too.
      const remote = socket.remoteAddress();
      if (from.address !== remote.address || from.port !== remote.port) return;
      // Someone else's reply or a forgery: ignore it and keep waiting for ours.
      if (isReplyTo(reply, id, question)) resolve(reply);
    });
    socket.connect(upstream.port, upstream.host, () => {
      if (open) socket.send(query);
    });
  });
}

function exchangeTcp(upstream: HostPort, question: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const id = randomInt(0x10000);
  const query = buildUpstreamQuery(id, question);
  return settleOnce<Buffer>(timeoutMs, signal, (resolve, reject, onSettle) => {
    const socket = net.connect({ host: upstream.host, port: upstream.port, noDelay: true });
    onSettle(() => socket.destroy());
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('close', () => reject(new UpstreamError('connection closed before a whole reply')));
    socket.on('data', (chunk) => {
      // A 2-byte length bounds the message; nothing past one message is read.
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const reply = received.subarray(2, 2 + received.readUInt16BE(0));
      if (isReplyTo(reply, id, question)) resolve(reply);
      else reject(new UpstreamError('TCP reply does not match the query'));
    });
    const framed = Buffer.allocUnsafe(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    socket.write(framed);
  });
}

/**
 * A promise settled by the first of: `start`'s resolve or reject, the timeout, the abort. Cleanup
 * registered with `onSettle` (closing the socket) runs exactly once, whichever it was.
 */
function settleOnce<T>(
  timeoutMs: number,
  signal: AbortSignal,
  start: (resolve: (value: T) => void, reject: (error: unknown) => void, onSettle: (cleanup: () => void) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const cleanups: Array<() => void> = [];
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      for (const cleanup of cleanups) cleanup();
      finish();
    };
    const onAbort = () => settle(() => reject(signal.reason));
    const timer = setTimeout(() => settle(() => reject(new UpstreamError(`no reply within ${timeoutMs} ms`))), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      start(
        (value) => settle(() => resolve(value)),
        (error) => settle(() => reject(error)),
        (cleanup) => cleanups.push(cleanup),
      );
    } catch (error) {
      settle(() => reject(error));
    }
  });
}
