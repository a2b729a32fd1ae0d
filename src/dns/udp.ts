// Buffer from its module: the global `Buffer` is a getter in Node 24, a call per use on the query path.
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { DNS_LIMITS } from '../config/limits.ts';
import { Answerer, FORWARD } from './answer/answer.ts';
import { RESPONSE_BUFFER_BYTES } from './answer/writer.ts';
import { ANSWER_TIME_SAMPLE_MASK, type DnsCounters } from './counters.ts';
import type { Forwarder } from './forward/forwarder.ts';
import { DROP, SLIP, slipped, type ResponseRateLimiter } from './rrl.ts';
import { rcodeOf } from './wire/constants.ts';
import type { Zone } from './zone/zone.ts';

/**
 * Binds a UDP socket answering from `zone`, and through `forwarder` (when there is one) for names
 * outside it. Each reply is copied out of the shared response buffer, because `send` may still
 * hold its buffer after returning. Forwarded replies go back through this socket to the address
 * and port the query came from, and nowhere else. With `rrl`, every reply (zone, cached or
 * forwarded) passes the response-rate limit first: dropped, sent, or sent truncated (slip).
 * Every reply sent is counted by its rcode in `counters`, and one in ANSWER_TIME.sampleEvery is timed.
 */
export async function listenUdp(
  host: string,
  port: number,
  zone: Zone,
  forwarder: Forwarder | null,
  log: Logger,
  { rrl = null, counters }: { rrl?: ResponseRateLimiter | null; counters: DnsCounters },
): Promise<dgram.Socket> {
  const limiter = rrl?.enabled ? rrl : null;
  const replies = counters.udpReplies;
  /** Counts queries modulo the sampling interval: the query that brings it back to 0 is timed. */
  let tick = 0;
  /** While a sampled query is handled, when it arrived (a forwarded one is timed when its reply goes out); -1 otherwise. */
  let sampledAt = -1;
  const family = isIPv6(host) ? 6 : 4;
  const socket = dgram.createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    recvBufferSize: DNS_LIMITS.udpReceiveBufferBytes,
    // Replies go to numeric addresses; answering the lookup at once skips a DNS resolution step
    // (and a process.nextTick) per send.
    lookup: (address, _options, callback) => callback(null, address, family),
  });
  const answerer = new Answerer(zone, forwarder);
  const out = Buffer.allocUnsafe(RESPONSE_BUFFER_BYTES);
  let open = true;
  socket.on('close', () => (open = false));
  /** Answers one query; true when a reply from the zone was sent. */
  const handle = (message: Buffer, peer: dgram.RemoteInfo): boolean => {
    let length: number;
    try {
      length = answerer.answer(message, 'udp', out, peer.address);
    } catch (error) {
      log.error({ err: error, peer: peer.address }, 'dns: failed to answer a UDP query');
      return false;
    }
    if (length === FORWARD) {
      const started = sampledAt;
      void forwarder!.forward(message, { ...answerer.forwarded }, peer.address).then((reply) => {
        if (!reply || !open) return;
        if (limiter !== null) {
          const verdict = limiter.check(peer.address, reply, reply.length);
          if (verdict === DROP) return;
          if (verdict === SLIP) reply = reply.subarray(0, slipped(reply, reply.length));
        }
        replies[rcodeOf(reply)]++;
        socket.send(reply, peer.port, peer.address);
        if (started >= 0) counters.forwardedAnswerTime.record((performance.now() - started) * 1000);
      });
      return false;
    }
    if (length === 0) {
      counters.udpIgnored++;
      return false;
    }
    if (limiter !== null) {
      const verdict = limiter.check(peer.address, out, length);
      if (verdict === DROP) return false;
      if (verdict === SLIP) length = slipped(out, length);
    }
    replies[rcodeOf(out)]++;
    const reply = Buffer.allocUnsafe(length);
    out.copy(reply, 0, 0, length);
    socket.send(reply, peer.port, peer.address);
    return true;
  };
  // The timing stays out of `handle`, so the path of the 63 queries in 64 that are not timed is
  // exactly the untimed one, plus a counter.
  socket.on('message', (message, peer) => {
    tick = (tick + 1) & ANSWER_TIME_SAMPLE_MASK;
    if (tick !== 0) {
      handle(message, peer);
      return;
    }
    sampledAt = performance.now();
    if (handle(message, peer)) counters.zoneAnswerTime.record((performance.now() - sampledAt) * 1000);
    sampledAt = -1;
  });
  // A failure to bind rejects (the caller says what to change); errors after that are logged.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (error) => log.warn({ err: error }, 'dns: UDP socket error'));
  return socket;
}
