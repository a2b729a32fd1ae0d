// `signpost serve` at start-up, as a user meets it: what it says about forwarding and about
// `.local`, and, when it cannot start, one line naming what is wrong and the flag that fixes it
// (exit 1, no stack trace). The default ports are Consul's; with them taken, the message says so:
// that case runs in a private network namespace (`unshare -n`, as root), where 8500 and 8600 are
// free whatever runs on this machine.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../src/config/limits.ts';
import pino from 'pino';
import type { SignpostConfig } from '../src/config/flags.ts';
import { startSignpost } from '../src/server.ts';
import { runCli } from './helpers/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'signpost-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const EPHEMERAL = ['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0'];

/** Runs `signpost serve ARGS` that must fail; returns its one line of complaint. */
async function failure(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli(['serve', '--store', 'memory', '--no-recursion', ...args]);
  expect(code).toBe(1);
  // One line, on stderr, and no stack trace anywhere (the JSON log included).
  expect(`${stdout}${stderr}`).not.toMatch(/\n\s+at /);
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^signpost: cannot start: /);
  return lines[0];
}

/** Holds `port` on 127.0.0.1, UDP or TCP, until released. */
async function hold(kind: 'udp' | 'tcp'): Promise<{ port: number; release(): void }> {
  if (kind === 'udp') {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return { port: socket.address().port, release: () => socket.close() };
  }
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, release: () => server.close() };
}

/** What `startSignpost` (the library; the CLI prints it after `signpost: cannot start: `) rejects with. */
async function rejection(config: Partial<SignpostConfig>): Promise<string> {
  const error = await startSignpost({ dns: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', ...config }).then(
    async (signpost) => {
      await signpost.close();
      throw new Error('it started');
    },
    (error: unknown) => error as Error,
  );
  return error.message;
}

describe('cannot start: one line that says what to change', () => {
  it.concurrent('from the command line: one line on stderr, exit 1, no stack trace', async () => {
    const taken = await hold('udp');
    try {
      expect(await failure(['--dns', `127.0.0.1:${taken.port}`, '--http', '127.0.0.1:0'])).toBe(
        `signpost: cannot start: DNS address 127.0.0.1:${taken.port} is already in use; choose another with --dns HOST:PORT`,
      );
    } finally {
      taken.release();
    }
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(await failure([...EPHEMERAL, '--store', 'sqlite', '--data-dir', join(file, 'data')])).toBe(
      `signpost: cannot start: ${join(file, 'data')}: not a directory (a file is in the way)`,
    );
  });

  it('a DNS port taken only over TCP, an HTTP port in use: the address and the flag', async () => {
    const tcp = await hold('tcp');
    try {
      expect(await rejection({ dns: { host: '127.0.0.1', port: tcp.port } })).toBe(
        `DNS address 127.0.0.1:${tcp.port} is already in use; choose another with --dns HOST:PORT`,
      );
      expect(await rejection({ http: { host: '127.0.0.1', port: tcp.port } })).toBe(
        `HTTP address 127.0.0.1:${tcp.port} is already in use; choose another with --http HOST:PORT`,
      );
    } finally {
      tcp.release();
    }
  });

  it('an address this machine does not have, or a host name that does not resolve', async () => {
    expect(await rejection({ dns: { host: '192.0.2.1', port: 5300 } })).toBe(
      'DNS address 192.0.2.1:5300: no network interface of this machine has the address 192.0.2.1; choose another with --dns HOST:PORT',
    );
    expect(await rejection({ http: { host: 'nowhere.invalid', port: 8500 } })).toBe(
      'HTTP address nowhere.invalid:8500: the host name nowhere.invalid does not resolve; choose another with --http HOST:PORT',
    );
  });

  it('a token file that cannot be read', async () => {
    expect(await rejection({ tokenFile: join(dir, 'missing') })).toBe(`--token-file ${join(dir, 'missing')}: cannot read it: no such file or directory (ENOENT)`);
    expect(await rejection({ tokenFile: dir })).toBe(`--token-file ${dir}: cannot read it: illegal operation on a directory (EISDIR)`);
  });

  it('an etcd that cannot be reached', async () => {
    const closed = await hold('tcp');
    closed.release();
    expect(await rejection({ store: `etcd://127.0.0.1:${closed.port}` })).toBe(
      `cannot reach etcd at 127.0.0.1:${closed.port} (connect ECONNREFUSED 127.0.0.1:${closed.port}): ` +
        'start it, or point --store etcd://HOST:PORT[,HOST:PORT…] at its members',
    );
  });
});

/** Why the default ports cannot be tried here, or null: a private network namespace needs root. */
function noNamespace(): string | null {
  if (process.getuid?.() !== 0) return 'needs root, for unshare -n';
  const probe = spawnSync('unshare', ['-n', 'true'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `unshare -n is not possible here: ${(probe.stderr || probe.error?.message || '').trim()}`;
}
const namespaceSkip = noNamespace();

describe.skipIf(namespaceSkip !== null)(`the default ports taken (Consul's)${namespaceSkip ? ` — skipped: ${namespaceSkip}` : ''}`, () => {
  /** Starts `signpost serve` with default ports in a fresh network namespace where `holder` (an expression: a socket or server that emits 'listening') holds one. */
  async function withDefaults(holder: string): Promise<string> {
    const script = [
      'ip link set lo up',
      // The holder says through a FIFO when its port is bound: Signpost starts only then.
      'ready=$(mktemp -u) && mkfifo "$ready"',
      `${process.execPath} -e "(${holder}).once('listening', () => require('fs').writeFileSync('$ready', 'bound')); setTimeout(() => {}, 20000)" & read bound < "$ready"`,
      'rm -f "$ready"',
      `${process.execPath} ${NODE_FLAGS.join(' ')} ${CLI} serve --store memory --no-recursion 2>&1`,
      'echo "exit $?"',
      'kill $!',
    ].join('; ');
    const child = spawn('unshare', ['-n', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    await once(child, 'exit');
    return output;
  }

  it.concurrent('8600 taken: says Consul uses it, and how to move with --dns', async () => {
    const output = await withDefaults("require('dgram').createSocket('udp4').bind(8600, '127.0.0.1')");
    expect(output).toContain(
      "signpost: cannot start: DNS address 127.0.0.1:8600 is already in use (port 8600 is Consul's DNS interface's: is it running on this machine?); choose another with --dns HOST:PORT",
    );
    expect(output).toContain('exit 1');
  });

  it.concurrent('8500 taken: says Consul uses it, and how to move with --http', async () => {
    const output = await withDefaults("require('net').createServer().listen(8500, '127.0.0.1')");
    expect(output).toContain(
      "signpost: cannot start: HTTP address 127.0.0.1:8500 is already in use (port 8500 is Consul's HTTP API's: is it running on this machine?); choose another with --http HOST:PORT",
    );
    expect(output).toContain('exit 1');
  });
});

describe('start-up log', () => {
  /** The messages Signpost logs while starting with `config`. */
  async function startupMessages(config: Partial<SignpostConfig>): Promise<string[]> {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) });
    const signpost = await startSignpost({ dns: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, ...config }, { logger });
    await signpost.close();
    return lines;
  }

  it('says where forwarding goes and for whom, and what .local means', async () => {
    const messages = await startupMessages({ recursors: [{ host: '127.0.0.1', port: 9 }], allowRecursion: ['10.0.0.0/8', '127.0.0.1/32'] });
    expect(messages).toContain('forwarding names outside local to 127.0.0.1:9 for clients in 10.0.0.0/8, 127.0.0.1/32 (--allow-recursion); other clients get REFUSED for them');
    expect(messages).toContainEqual(expect.stringMatching(/^\.local is also multicast DNS \(RFC 6762\).*--domain internal \(or --domain consul\)$/));
  });

  it('says forwarding is off, and nothing about mDNS for another domain', async () => {
    const messages = await startupMessages({ recursors: 'off', domain: 'internal' });
    expect(messages).toContain('forwarding off: names outside internal get REFUSED');
    expect(messages.some((message) => message.includes('multicast'))).toBe(false);
  });
});
