// The machine's own resolver (glibc, through getent) pointed at Signpost, as a user would set it up.
//
// In a private mount namespace (`unshare -m`, as root), /etc/resolv.conf is bind-mounted with a
// file naming Signpost on 127.53.0.x:53 (port 53: resolv.conf has no port), next to an
// nsswitch.conf of `hosts: files dns` and a hosts file with only localhost, so neither nss-mdns,
// systemd-resolved's nss-resolve, nscd nor the machine's /etc/hosts can answer instead of DNS.
// Names outside the zone go to a dnsmasq this test starts on loopback, never to the machine's
// real nameservers. glibc's getaddrinfo (`getent ahosts`) sends A and AAAA in parallel from one
// socket unless resolv.conf says `single-request`; both ways are run.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { startDnsmasq, type Dnsmasq } from './helpers/upstream.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'signpost-resolver-'));
const files = {
  hosts: path.join(dir, 'hosts'),
  nsswitch: path.join(dir, 'nsswitch.conf'),
  empty: path.join(dir, 'empty'),
};

/** Why this machine cannot run the test, or null when it can. */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root, for unshare -m and port 53';
  for (const tool of ['/usr/bin/unshare', '/usr/bin/getent']) if (!existsSync(tool)) return `${tool} is missing`;
  writeFileSync(files.hosts, '127.0.0.1 localhost\n::1 localhost\n');
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${files.hosts} /etc/hosts`], { encoding: 'utf8' });
  if (probe.status !== 0) return `unshare -m with a bind mount is not possible here: ${(probe.stderr || probe.error?.message || '').trim()}`;
  return null;
}

const skipReason = unavailable();
if (skipReason) console.warn(`system resolver test skipped: ${skipReason}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skipReason !== null)(`the system resolver (getent) pointed at Signpost${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  let upstream: Dnsmasq;
  let signpost: TestSignpost;

  beforeAll(async () => {
    upstream = await startDnsmasq(['--host-record=www.example.test,192.0.2.20', '--host-record=b.example.test,192.0.2.11,2001:db8::11']);
    signpost = await listenOnPort53();
    for (const [service, id, address] of [
      ['web', 'web-1', '10.53.0.1'],
      ['db', 'db-1', '10.53.0.2'],
      ['db', 'db-2', 'fd00::53'],
    ]) {
      expect((await signpost.register(service, id, { address, port: 8080 })).status).toBe(200);
    }
    writeFileSync(files.nsswitch, 'hosts: files dns\n');
    // An empty file to hide nscd's socket behind, should the machine run nscd.
    writeFileSync(files.empty, '');
  });

  afterAll(async () => {
    await signpost?.close();
    await upstream?.stop();
  });

  /** Starts Signpost on the first free 127.53.0.x:53, forwarding to the test's dnsmasq only. */
  async function listenOnPort53(): Promise<TestSignpost> {
    for (let host = 1; ; host++) {
      try {
        return await startTestSignpost({ dns: { host: `127.53.0.${host}`, port: 53 }, recursors: [upstream.address] });
      } catch (error) {
        if (host === 20 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
  }

  /** `getent DATABASE KEY` in a mount namespace whose resolv.conf says `resolvConf`. Resolves with stdout, or '' if not found. */
  async function getent(resolvConf: string, database: string, key: string): Promise<string> {
    const resolv = path.join(dir, `resolv-${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(resolv, resolvConf);
    const script = [
      `mount --bind ${resolv} /etc/resolv.conf`,
      `mount --bind ${files.nsswitch} /etc/nsswitch.conf`,
      `mount --bind ${files.hosts} /etc/hosts`,
      `if [ -e /var/run/nscd/socket ]; then mount --bind ${files.empty} /var/run/nscd/socket; fi`,
      'exec getent "$0" "$1"',
    ].join(' && ');
    try {
      const { stdout } = await execFileAsync('unshare', ['-m', 'sh', '-c', script, database, key], { timeout: 10_000 });
      return stdout;
    } catch (error) {
      // getent exits 2 for "not found"; anything else is a failure of the test's own setup.
      if ((error as { code?: number }).code === 2) return '';
      throw error;
    }
  }

  // attempts:1: a query Signpost dropped would fail the lookup instead of being retried.
  const resolvConf = (options: string) => `nameserver ${signpost.dns.host}\noptions timeout:3 attempts:1 ${options}\n`;

  it('getent hosts finds a registered service, a name outside the zone, and an instance by its address', async () => {
    const conf = resolvConf('');
    expect(await getent(conf, 'hosts', 'web.service.local')).toMatch(/^10\.53\.0\.1\s+web\.service\.local$/m);
    expect(await getent(conf, 'hosts', 'www.example.test')).toMatch(/^192\.0\.2\.20\s+www\.example\.test$/m);
    expect(await getent(conf, 'hosts', '10.53.0.1')).toMatch(/^10\.53\.0\.1\s+web-1\.web\.instance\.local$/m);
    expect(await getent(conf, 'hosts', 'fd00::53')).toMatch(/^fd00::53\s+db-2\.db\.instance\.local$/m);
    expect(await getent(conf, 'hosts', 'missing.service.local')).toBe('');
  });

  for (const options of ['', 'single-request']) {
    it(`getent ahosts gets A and AAAA together${options ? ` with ${options}` : ' (sent in parallel on one socket)'}`, async () => {
      const conf = resolvConf(options);
      const addresses = (output: string) => [...new Set(output.split('\n').filter(Boolean).map((line) => line.split(/\s+/)[0]))].sort();
      expect(addresses(await getent(conf, 'ahosts', 'db.service.local'))).toEqual(['10.53.0.2', 'fd00::53']);
      expect(addresses(await getent(conf, 'ahosts', 'b.example.test'))).toEqual(['192.0.2.11', '2001:db8::11']);
    });
  }
});
