// Encrypted and authenticated links: the HTTP listener over TLS (with and without client
// certificates), and etcd over TLS with a client certificate. Certificates are made here with
// openssl; requests are real curl with --cacert (and --cert/--key); etcd is the real one started with
// --cert-file, --key-file, --trusted-ca-file and --client-cert-auth.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, makeCa, type Ca, type Issued } from './helpers/certs.ts';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { runCli, spawnSignpost } from './helpers/process.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { eventually } from './helpers/wait.ts';
import { startSignpost } from '../src/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'signpost-tls-'));
let ca: Ca;
let otherCa: Ca;
let server: Issued;
let client: Issued;
let strangerClient: Issued;

beforeAll(() => {
  ca = makeCa(dir, 'test-ca');
  otherCa = makeCa(dir, 'other-ca');
  // serverAuth and clientAuth: etcd also dials itself with its own certificate (its gRPC gateway).
  server = issue(dir, ca, 'server', { san: 'IP:127.0.0.1,DNS:localhost', usage: 'serverAuth,clientAuth' });
  client = issue(dir, ca, 'client', { usage: 'clientAuth' });
  strangerClient = issue(dir, otherCa, 'stranger', { usage: 'clientAuth' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a real program to completion (never throws on its exit status). */
async function run(file: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}

/** curl, quiet but for errors, with a deadline; `-w` appends the status on a line of its own. */
const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);

function statusOf(result: Run): number {
  return Number(result.stdout.slice(result.stdout.lastIndexOf('\n') + 1));
}

function bodyOf(result: Run): string {
  return result.stdout.slice(0, result.stdout.lastIndexOf('\n'));
}

const REGISTRATION = ['-X', 'PUT', '-H', 'content-type: application/json', '-d', '{"address": "10.0.0.1", "port": 8080, "ttl": 30}'];

describe('HTTPS with --tls-cert and --tls-key', () => {
  let signpost: TestSignpost;
  let base: string;

  beforeAll(async () => {
    signpost = await startTestSignpost({ ...NO_OVERLOAD_GUARD, tlsCert: server.cert, tlsKey: server.key });
    base = `https://127.0.0.1:${signpost.http.port}`;
  });
  afterAll(() => signpost?.close());

  it('registers over HTTPS (curl --cacert), and DNS then answers with it; the Consul API and the console are on it too', async () => {
    const registered = await curl('--cacert', ca.cert, ...REGISTRATION, `${base}/v1/services/web/instances/web-1`);
    expect(registered.stderr).toBe('');
    expect(statusOf(registered)).toBe(200);
    expect(JSON.parse(bodyOf(registered))).toMatchObject({ service: 'web', id: 'web-1', address: '10.0.0.1', status: 'passing' });
    expect(await signpost.resolver().resolve4('web.service.local')).toEqual(['10.0.0.1']);

    const consul = await curl('--cacert', ca.cert, `${base}/v1/catalog/service/web`);
    expect(statusOf(consul)).toBe(200);
    expect(JSON.parse(bodyOf(consul))).toMatchObject([{ ServiceID: 'web-1', ServiceAddress: '10.0.0.1', ServicePort: 8080 }]);
    const console = await curl('--cacert', ca.cert, `${base}/ui/`);
    expect(statusOf(console)).toBe(200);
    expect(bodyOf(console)).toContain('<html');
  });

  it('a client that does not trust the CA refuses the server (curl without --cacert)', async () => {
    const untrusted = await curl(`${base}/healthz`);
    expect(untrusted.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    expect(untrusted.stderr).toMatch(/unable to get local issuer certificate|self.signed/);
  });

  it('plain HTTP to the TLS port gets a 400 saying to use https://, and the server goes on serving HTTPS', async () => {
    const plain = await curl(`http://127.0.0.1:${signpost.http.port}/v1/services`);
    expect(plain.code).toBe(0);
    expect(statusOf(plain)).toBe(400);
    expect(JSON.parse(bodyOf(plain))).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'this port speaks HTTPS (TLS) only: send the request to https:// instead of http://',
    });
    // A write with a body that is still arriving gets the same answer, not a reset.
    const body = JSON.stringify({ address: '10.0.0.9', port: 1, meta: { pad: 'x'.repeat(200) } });
    const write = await curl('-X', 'PUT', '-H', 'content-type: application/json', '-d', body, `http://127.0.0.1:${signpost.http.port}/v1/services/web/instances/web-9`);
    expect(statusOf(write)).toBe(400);
    expect(write.stderr).toBe('');
    // Bytes that are neither HTTP nor TLS: the handshake fails, the connection closes.
    const garbage = net.connect(signpost.http.port, '127.0.0.1');
    garbage.on('error', () => {});
    garbage.end(Buffer.from([0x00, 0x01, 0x02, 0x03, 0xff, 0xfe]));
    await once(garbage, 'close');

    const after = await curl('--cacert', ca.cert, `${base}/v1/services/web`);
    expect(statusOf(after)).toBe(200);
    expect(JSON.parse(bodyOf(after)).instances.map((instance: { id: string }) => instance.id)).toEqual(['web-1']);
  });

  it('the CLI verbs and signpost/client reach it with NODE_EXTRA_CA_CERTS, and say what is wrong without it', async () => {
    const env = { SIGNPOST_URL: base, SIGNPOST_DNS: '', SIGNPOST_TOKEN: '' };
    const trusted = await runCli(['ls', 'web'], { ...env, NODE_EXTRA_CA_CERTS: ca.cert });
    expect(trusted.stderr).toBe('');
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toMatch(/^web-1\s+10\.0\.0\.1:8080\s/m);
    const untrusted = await runCli(['ls', 'web'], env);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr.trim().split('\n')).toHaveLength(1);
    expect(untrusted.stderr).toMatch(/^signpost: .*(certificate|issuer)/i);
  });
});

describe('client certificates with --tls-client-ca', () => {
  let signpost: TestSignpost;
  let base: string;

  beforeAll(async () => {
    signpost = await startTestSignpost({ ...NO_OVERLOAD_GUARD, tlsCert: server.cert, tlsKey: server.key, tlsClientCa: ca.cert });
    base = `https://127.0.0.1:${signpost.http.port}`;
  });
  afterAll(() => signpost?.close());

  it('a client certificate signed by the CA is let in; none, or one from another CA, is refused in the handshake', async () => {
    const admitted = await curl('--cacert', ca.cert, '--cert', client.cert, '--key', client.key, ...REGISTRATION, `${base}/v1/services/api/instances/api-1`);
    expect(admitted.stderr).toBe('');
    expect(statusOf(admitted)).toBe(200);
    expect(await signpost.resolver().resolve4('api.service.local')).toEqual(['10.0.0.1']);

    // No certificate: OpenSSL ends the handshake with an alert, which curl reads (TLS 1.3: on its
    // first read, 56; TLS 1.2: in the handshake, 35).
    const none = await curl('--cacert', ca.cert, ...REGISTRATION, `${base}/v1/services/api/instances/api-2`);
    expect(none.code).toBe(56);
    expect(none.stderr).toMatch(/alert certificate required/);
    const noneOnTls12 = await curl('--cacert', ca.cert, '--tls-max', '1.2', ...REGISTRATION, `${base}/v1/services/api/instances/api-2`);
    expect(noneOnTls12.code).toBe(35);
    expect(noneOnTls12.stderr).toMatch(/alert handshake failure/);
    // A certificate from another CA: Node checks the chain as the handshake completes and closes the
    // connection without an alert, before reading a byte of the request: curl sees an empty reply
    // (52), a reset (56), or on TLS 1.2 a handshake cut short (35), and no HTTP status.
    for (const maxVersion of ['1.3', '1.2']) {
      const stranger = await curl('--cacert', ca.cert, '--tls-max', maxVersion, '--cert', strangerClient.cert, '--key', strangerClient.key, ...REGISTRATION, `${base}/v1/services/api/instances/api-3`);
      expect([35, 52, 56], stranger.stderr).toContain(stranger.code);
      expect(stranger.stderr).toMatch(/Empty reply from server|Connection reset by peer|SSL_ERROR_SYSCALL/);
      expect(statusOf(stranger)).toBe(0);
    }
    const listed = await curl('--cacert', ca.cert, '--cert', client.cert, '--key', client.key, `${base}/v1/services/api`);
    expect(JSON.parse(bodyOf(listed)).instances.map((instance: { id: string }) => instance.id)).toEqual(['api-1']);
  });
});

describe('renewing the certificate without a restart (SIGHUP)', () => {
  /** The subject of the certificate a fresh connection is served, as curl shows it. */
  async function servedSubject(port: number): Promise<string> {
    const shown = await curl('-v', '--cacert', ca.cert, `https://127.0.0.1:${port}/healthz`);
    expect(statusOf(shown)).toBe(200);
    return /subject: (.*)$/m.exec(shown.stderr)?.[1] ?? '';
  }

  it('new connections get the renewed certificate; a bad one is refused and the previous one stays', async () => {
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(server.cert, live.cert);
    copyFileSync(server.key, live.key);
    const signpost = await startTestSignpost({ ...NO_OVERLOAD_GUARD, tlsCert: live.cert, tlsKey: live.key });
    try {
      expect(await servedSubject(signpost.http.port)).toBe('CN=server');
      const renewed = issue(dir, ca, 'renewed', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
      copyFileSync(renewed.cert, live.cert);
      copyFileSync(renewed.key, live.key);
      expect(signpost.reloadCertificates()).toBe(true);
      expect(await servedSubject(signpost.http.port)).toBe('CN=renewed');
      // Half-way through a renewal: the new certificate beside the old key. Refused, the renewed pair serves on.
      copyFileSync(server.cert, live.cert);
      expect(signpost.reloadCertificates()).toBe(false);
      expect(await servedSubject(signpost.http.port)).toBe('CN=renewed');
    } finally {
      await signpost.close();
    }
  });
});

describe('SIGHUP to signpost serve with --tls-cert', () => {
  it('reloads the certificates (and says nothing of a token file it does not have)', async () => {
    const child = await spawnSignpost(['--store', 'memory', '--no-recursion', '--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--tls-cert', server.cert, '--tls-key', server.key]);
    try {
      process.kill(child.child.pid!, 'SIGHUP');
      await eventually(() => (child.output.some((line) => line.includes('"certificates reloaded"')) ? true : undefined), 10_000, 'the reload log line');
      expect(child.output.filter((line) => line.includes('reload asked for'))).toEqual([]);
    } finally {
      await child.stop();
    }
  });
});

describe('a certificate that cannot serve stops start-up: one line naming the flag, exit 1', () => {
  /** startSignpost with the configuration ARGS give on the command line, which must fail: its message, as the command line prints it. */
  async function rejection(args: string[]): Promise<string> {
    const config: Record<string, string> = {};
    for (let i = 0; i < args.length; i += 2) config[args[i].slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase())] = args[i + 1];
    const error = await startSignpost({ dns: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', ...config }).then(
      async (signpost) => {
        await signpost.close();
        throw new Error('it started');
      },
      (error: unknown) => error as Error,
    );
    return `signpost: cannot start: ${error.message}`;
  }

  /** `signpost serve ARGS` that must fail: its one line. */
  async function failure(args: string[]): Promise<string> {
    const { code, stdout, stderr } = await runCli(['serve', '--store', 'memory', '--no-recursion', '--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', ...args]);
    expect(code).toBe(1);
    expect(`${stdout}${stderr}`).not.toMatch(/\n\s+at /);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  }

  it('expired, another certificate\'s key, unreadable, not a certificate, not for a server, not a CA, flags that need each other', async () => {
    const expired = issue(dir, ca, 'expired', { san: 'IP:127.0.0.1', usage: 'serverAuth', days: -1 });
    const missing = join(dir, 'missing.crt');
    const locked = join(dir, 'locked.key');
    writeFileSync(locked, 'secret');
    chmodSync(locked, 0o000);
    // root reads any file: then the point is made by a directory instead.
    const unreadable = process.getuid?.() === 0 ? dir : locked;
    // Each case is a process of its own; they run side by side.
    const cases: Array<[string[], string | RegExp]> = [
      [
        ['--tls-cert', expired.cert, '--tls-key', expired.key],
        new RegExp(`^signpost: cannot start: --tls-cert ${expired.cert}: the certificate CN=expired expired on \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; renew it$`),
      ],
      [
        ['--tls-cert', server.cert, '--tls-key', client.key],
        `signpost: cannot start: --tls-key ${client.key}: not the private key of the certificate in --tls-cert ${server.cert} (CN=server)`,
      ],
      [['--tls-cert', missing, '--tls-key', server.key], `signpost: cannot start: --tls-cert ${missing}: cannot read it: no such file or directory (ENOENT)`],
      [
        ['--tls-cert', server.cert, '--tls-key', unreadable],
        new RegExp(`^signpost: cannot start: --tls-key ${unreadable}: cannot read it: (permission denied \\(EACCES\\)|illegal operation on a directory \\(EISDIR\\))$`),
      ],
      [
        ['--tls-cert', server.key, '--tls-key', server.key],
        `signpost: cannot start: --tls-cert ${server.key}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)`,
      ],
      [
        ['--tls-cert', server.cert, '--tls-key', server.cert],
        `signpost: cannot start: --tls-key ${server.cert}: no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----)`,
      ],
      [
        ['--tls-cert', client.cert, '--tls-key', client.key],
        `signpost: cannot start: --tls-cert ${client.cert}: the certificate CN=client may not be used for serverAuth (its extendedKeyUsage does not list it)`,
      ],
      [
        ['--tls-cert', server.cert, '--tls-key', server.key, '--tls-client-ca', client.cert],
        `signpost: cannot start: --tls-client-ca ${client.cert}: the certificate CN=client is not a CA certificate (basicConstraints CA:TRUE); give the CA that signs the certificates`,
      ],
      [['--tls-key', server.key], 'signpost: cannot start: --tls-key needs --tls-cert (the certificate of that key)'],
      [['--tls-cert', server.cert], 'signpost: cannot start: --tls-cert needs --tls-key (the private key of the certificate)'],
      [['--etcd-ca', ca.cert], 'signpost: cannot start: --etcd-ca is for an etcd store, and --store is memory'],
      [['--etcd-ca', ca.cert, '--store', 'etcd://127.0.0.1:2379', '--etcd-cert', client.cert], 'signpost: cannot start: --etcd-cert needs --etcd-key (the private key of the certificate)'],
      [
        ['--store', 'etcd://127.0.0.1:2379', '--etcd-cert', server.cert, '--etcd-key', client.key],
        `signpost: cannot start: --etcd-key ${client.key}: not the private key of the certificate in --etcd-cert ${server.cert} (CN=server)`,
      ],
    ];
    // Three through the command line (one line, exit 1), the rest through startSignpost, which
    // rejects with what the command line prints after `signpost: cannot start: `.
    const lines = await Promise.all(cases.map(([args], i) => (i < 3 ? failure(args) : rejection(args))));
    cases.forEach(([, expected], i) => {
      if (typeof expected === 'string') expect(lines[i]).toBe(expected);
      else expect(lines[i]).toMatch(expected);
    });
  }, 60_000);
});

describe('etcd over TLS with a client certificate (--etcd-ca, --etcd-cert, --etcd-key)', () => {
  let etcd: EtcdCluster;
  const nodes: TestSignpost[] = [];
  const prefix = `/signpost-tls-${process.pid}/`;

  beforeAll(async () => {
    etcd = await startEtcd(1, { tls: { ca: ca.cert, cert: server.cert, key: server.key, client } });
  }, 30_000);
  afterAll(async () => {
    for (const node of nodes) await node.close();
    await etcd?.close();
  });

  it('registers through a TLS etcd, and a second node sees it', async () => {
    const tls = { etcdCa: ca.cert, etcdCert: client.cert, etcdKey: client.key };
    const store = etcd.storeUrl as `etcd://${string}`;
    const a = await startTestSignpost({ ...NO_OVERLOAD_GUARD, store, etcdPrefix: prefix, ...tls, tlsCert: server.cert, tlsKey: server.key });
    nodes.push(a);
    const b = await startTestSignpost({ ...NO_OVERLOAD_GUARD, store, etcdPrefix: prefix, ...tls });
    nodes.push(b);
    const registered = await curl('--cacert', ca.cert, ...REGISTRATION, `https://127.0.0.1:${a.http.port}/v1/services/db/instances/db-1`);
    expect(statusOf(registered)).toBe(200);
    await eventually(async () => ((await b.resolver().resolve4('db.service.local').catch(() => [])).length > 0 ? true : undefined), 10_000, 'db on node B');
    expect(await b.resolver().resolve4('db.service.local')).toEqual(['10.0.0.1']);
    const seen = await fetch(`${b.url}/v1/services/db/instances/db-1`);
    expect(await seen.json()).toMatchObject({ id: 'db-1', status: 'passing' });
  });

  /** `signpost serve` against the TLS etcd with `args` that must fail: its one line. */
  async function refused(args: string[]): Promise<string> {
    const { code, stderr } = await runCli(['serve', '--store', etcd.storeUrl, '--no-recursion', '--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', ...args]);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  }

  it('without a client certificate, with one from another CA, not trusting etcd\'s, or without TLS: start-up fails with one line', async () => {
    const at = `etcd at ${etcd.members[0].endpoint}`;
    const refusedCertificate =
      `signpost: cannot start: ${at} refused this node's TLS client certificate (ssl/tls alert bad certificate, SSL alert number 42): ` +
      "give --etcd-cert and --etcd-key, a certificate signed by the CA of the members' --trusted-ca-file";
    const [none, stranger, untrusted, plain] = await Promise.all([
      refused(['--etcd-ca', ca.cert]),
      refused(['--etcd-ca', ca.cert, '--etcd-cert', strangerClient.cert, '--etcd-key', strangerClient.key]),
      refused(['--etcd-ca', otherCa.cert, '--etcd-cert', client.cert, '--etcd-key', client.key]),
      refused([]),
    ]);
    expect(none).toBe(refusedCertificate);
    expect(stranger).toBe(refusedCertificate);
    expect(untrusted).toBe(
      `signpost: cannot start: ${at}: its TLS certificate is not trusted (unable to verify the first certificate): ` +
        "give --etcd-ca the CA that signed the members' certificates (which must name the host in --store)",
    );
    // And TLS to a member that serves plain gRPC.
    const plainEtcd = await startEtcd(1);
    try {
      const { code, stderr } = await runCli(['serve', '--store', plainEtcd.storeUrl, '--no-recursion', '--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--etcd-ca', ca.cert]);
      expect(code).toBe(1);
      // How the hang-up reaches the client (a close before the handshake ended, or a reset) depends
      // on timing; either way the line says TLS is the problem and what to change.
      const [line, ...rest] = stderr.split('\n');
      expect(rest).toEqual(['']);
      expect(line).toMatch(
        new RegExp(
          `^signpost: cannot start: etcd at ${plainEtcd.members[0].endpoint.replace(/\./g, '\\.')} does not speak TLS ` +
            '\\((Client network socket disconnected before secure TLS connection was established|read ECONNRESET)\\): ' +
            'leave out --etcd-ca, --etcd-cert and --etcd-key, or give its members https:// client URLs$',
        ),
      );
    } finally {
      await plainEtcd.close();
    }
    expect(plain).toMatch(new RegExp(`^signpost: cannot start: cannot reach ${at} \\(.+\\): start it, .*; if they serve TLS \\(https:// client URLs\\), give --etcd-ca \\(and --etcd-cert, --etcd-key\\)$`));
  }, 60_000);
});
