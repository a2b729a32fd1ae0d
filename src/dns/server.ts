import type dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { HostPort } from '../config/parse.ts';
import { DnsCounters } from './counters.ts';
import type { Forwarder } from './forward/forwarder.ts';
import type { ResponseRateLimiter } from './rrl.ts';
import { listenTcp, type TcpLimits, type TcpListener } from './tcp.ts';
import { listenUdp } from './udp.ts';
import type { Zone } from './zone/zone.ts';

export interface DnsServer {
  /** The bound address; the port is the real one when 0 was asked for. */
  address: HostPort;
  /** What the listeners did since start (replies by rcode, packets ignored, connections refused). */
  counters: DnsCounters;
  /** TCP connections open now. */
  readonly tcpConnections: number;
  close(): Promise<void>;
}

/**
 * UDP and TCP on the same address. With port 0, UDP picks the port and TCP takes the same one.
 * With a `forwarder`, names outside the zone are forwarded; closing the server closes it too.
 */
export interface DnsServerOptions {
  /** Response-rate limit of UDP answers; none: unlimited. */
  rrl?: ResponseRateLimiter | null;
  tcp: TcpLimits;
}

export async function startDnsServer(given: HostPort, zone: Zone, forwarder: Forwarder | null, log: Logger, options: DnsServerOptions): Promise<DnsServer> {
  // A host name (`localhost`) is resolved once: the sockets bind, and reply from, one address.
  const listen = isIP(given.host) ? given : { host: (await lookup(given.host)).address, port: given.port };
  const attempts = listen.port === 0 ? 5 : 1;
  const counters = new DnsCounters();
  for (let attempt = 1; ; attempt++) {
    const udp = await listenUdp(listen.host, listen.port, zone, forwarder, log, { rrl: options.rrl, counters });
    const port = udp.address().port;
    try {
      const tcp = await listenTcp(listen.host, port, zone, forwarder, log, counters, options.tcp);
      return {
        address: { host: listen.host, port },
        counters,
        get tcpConnections() {
          return tcp.connections;
        },
        close: () => {
          forwarder?.close();
          return closeBoth(udp, tcp);
        },
      };
    } catch (error) {
      udp.close();
      // With an ephemeral port, TCP's twin may already be taken: pick another.
      if (attempt >= attempts || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
}

async function closeBoth(udp: dgram.Socket, tcp: TcpListener): Promise<void> {
  await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), tcp.close()]);
}
