// A TCP proxy on loopback in front of a real Signpost, for tests (and the client benchmark) of what a
// client does on the wire: "the connection to the server is lost" is a real loss of every connection,
// not a simulation. It reports each HTTP request line as it passes, counts bytes, can drop every
// connection (a network drop mid-stream), refuse connections for a while (a server that is down),
// and point at another server.
import { EventEmitter, once } from 'node:events';
import net from 'node:net';

export interface TestProxy {
  port: number;
  url: string;
  /** What clients sent, chunk by chunk (request heads included), as text. */
  sent: string[];
  /** Request lines seen so far (`PUT /v1/heartbeats`), in order. */
  requests: string[];
  /** Bytes clients sent through the proxy. */
  bytesIn(): number;
  /** Bytes the server sent back. */
  bytesOut(): number;
  /** Resolves with the next request line matching `pattern`. */
  nextRequest(pattern: RegExp): Promise<string>;
  /** Destroys every open connection (both sides); new ones are accepted as before. */
  drop(): void;
  /** Drops every connection and refuses new ones (ECONNREFUSED), until `restore()`. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /** Forwards new connections to another port. */
  retarget(port: number): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /^(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP\/1\.1\r$/gm;

export async function startProxy(targetPort: number): Promise<TestProxy> {
  let target = targetPort;
  let bytesIn = 0;
  let bytesOut = 0;
  const sent: string[] = [];
  const requests: string[] = [];
  const seen = new EventEmitter();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      const text = chunk.toString('latin1');
      sent.push(text);
      for (const match of text.matchAll(REQUEST_LINE)) {
        const line = `${match[1]} ${match[2]}`;
        requests.push(line);
        seen.emit('request', line);
      }
    });
    upstream.on('data', (chunk: Buffer) => (bytesOut += chunk.length));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const drop = () => {
    for (const socket of sockets) socket.destroy();
  };
  const stop = async () => {
    drop();
    if (!server.listening) return;
    const closed = once(server, 'close');
    server.close();
    await closed;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    sent,
    requests,
    bytesIn: () => bytesIn,
    bytesOut: () => bytesOut,
    nextRequest: (pattern) =>
      new Promise((resolve) => {
        const listener = (line: string) => {
          if (!pattern.test(line)) return;
          seen.off('request', listener);
          resolve(line);
        };
        seen.on('request', listener);
      }),
    drop,
    cut: stop,
    async restore() {
      if (server.listening) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    retarget(next) {
      target = next;
    },
    close: stop,
  };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
