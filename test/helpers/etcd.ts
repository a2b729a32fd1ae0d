// Runs real etcd members (Debian's etcd-server) on loopback ports in a temp directory; stops them by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';

export const ETCD = '/usr/bin/etcd';

/** A port that was free a moment ago (bound to port 0 on 127.0.0.1, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  /** `127.0.0.1:PORT` of its client listener. */
  endpoint: string;
  child: ChildProcess | undefined;
  output: string[];
  /** Stops it by PID (SIGKILL by default: a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same data directory and ports; resolves once it serves. */
  start(): Promise<void>;
}

/**
 * Members that serve clients over TLS only, with `--client-cert-auth` (a client certificate signed by
 * `ca` required); peers still talk plain HTTP. `client`: the certificate and key this helper's own
 * clients (waiting for a leader) use. Paths of PEM files.
 */
export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
  client: { cert: string; key: string };
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** `etcd://HOST:PORT,...`: the `--store` value for Signpost. */
  storeUrl: string;
  /** The member that currently leads (asked of the members themselves). */
  leader(): Promise<EtcdMember>;
  /** Stops every member and removes the data directories. */
  close(): Promise<void>;
}

/** Starts a cluster of `size` members and resolves once it serves (a leader is elected); over TLS with `options.tls`. */
export async function startEtcd(size = 1, options: { tls?: EtcdTlsFiles } = {}): Promise<EtcdCluster> {
  const { tls } = options;
  const clientScheme = tls ? 'https' : 'http';
  const connect = clientOptions(tls);
  const root = mkdtempSync(join(tmpdir(), 'signpost-etcd-'));
  const ports = await Promise.all(Array.from({ length: size * 2 }, freePort));
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[i * 2 + 1]}`).join(',');
  const token = `signpost-test-${process.pid}-${Date.now()}`;
  const members: EtcdMember[] = names.map((name, i) => {
    const clientPort = ports[i * 2];
    const peerPort = ports[i * 2 + 1];
    const member: EtcdMember = {
      name,
      clientPort,
      peerPort,
      endpoint: `127.0.0.1:${clientPort}`,
      child: undefined,
      output: [],
      async stop(signal = 'SIGKILL') {
        const child = member.child;
        member.child = undefined;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        process.kill(child.pid!, signal);
        await exited;
      },
      async start() {
        const args = [
          '--name', name,
          '--data-dir', join(root, name),
          '--listen-client-urls', `${clientScheme}://127.0.0.1:${clientPort}`,
          '--advertise-client-urls', `${clientScheme}://127.0.0.1:${clientPort}`,
          ...(tls ? ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth'] : []),
          '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
          '--initial-cluster', initialCluster,
          '--initial-cluster-token', token,
          '--initial-cluster-state', 'new',
          // Fast elections on loopback, so a killed leader is replaced within about a second.
          '--heartbeat-interval', '50',
          '--election-timeout', '500',
          '--log-level', 'warn',
          '--logger', 'zap',
        ];
        const child = spawn(ETCD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        member.child = child;
        const remember = (chunk: Buffer) => {
          member.output.push(chunk.toString());
          if (member.output.length > 50) member.output.shift();
        };
        child.stdout!.on('data', remember);
        child.stderr!.on('data', remember);
      },
    };
    return member;
  });
  await Promise.all(members.map((member) => member.start()));
  const cluster: EtcdCluster = {
    members,
    storeUrl: `etcd://${members.map((member) => member.endpoint).join(',')}`,
    async leader() {
      for (const member of members) {
        if (!member.child) continue;
        const client = new Etcd3({ ...connect, hosts: `${clientScheme}://${member.endpoint}` });
        try {
          const status = await client.maintenance.status();
          if (status.leader === status.header.member_id) return member;
        } catch {
          // not answering: ask the next one
        } finally {
          client.close();
        }
      }
      throw new Error('no etcd member says it leads');
    },
    async close() {
      await Promise.all(members.map((member) => member.stop('SIGKILL')));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((member) => waitServing(member, undefined, tls)));
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** Resolves once `member` answers a linearizable read (so a leader exists); fails after 20 s. */
export async function waitServing(member: EtcdMember, timeoutMs = 20_000, tls?: EtcdTlsFiles): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const client = new Etcd3({ ...clientOptions(tls), hosts: `${tls ? 'https' : 'http'}://${member.endpoint}`, dialTimeout: 500 });
  try {
    for (;;) {
      try {
        await client.get('/probe').exists();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`etcd ${member.name} not serving after ${timeoutMs} ms: ${(error as Error).message}\n${member.output.join('')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.close();
  }
}

/** The helper's own etcd clients: the client certificate of `tls`, or plain gRPC. */
function clientOptions(tls: EtcdTlsFiles | undefined) {
  if (!tls) return {};
  return { credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.client.cert), privateKey: readFileSync(tls.client.key) } };
}
