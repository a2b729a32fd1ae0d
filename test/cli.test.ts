// `signpost serve` as users run it: flags, environment variables, `npm start --`, --help, signals.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { envName, flagName, FLAGS, type FlagKey } from '../src/config/flags.ts';
import { NODE_FLAGS } from '../src/config/limits.ts';
import { runCli, spawnSignpost, type SignpostProcess } from './helpers/process.ts';

const execFileAsync = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'signpost-cli-'));
const started: SignpostProcess[] = [];

afterAll(async () => {
  for (const process of started) await process.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const dig = async (port: number, ...args: string[]) =>
  (await execFileAsync('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args])).stdout;

it('--help lists every flag with its default and environment variable', async () => {
  const { code, stdout } = await runCli(['--help']);
  expect(code).toBe(0);
  // Help text wraps at the terminal width; compare it as one line.
  const help = stdout.replace(/\s+/g, ' ');
  for (const [key, spec] of Object.entries(FLAGS) as Array<[FlagKey, (typeof FLAGS)[FlagKey]]>) {
    const name = flagName(key);
    const env = envName(name);
    if (spec.value === undefined || spec.default === undefined) {
      expect(help, name).toMatch(new RegExp(`${name}\\b.*?env: ${env}\\)`));
      continue;
    }
    const shown = (spec.defaultText ?? spec.default).replace(/`/g, '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(help, name).toMatch(new RegExp(`${name} <[^>]+> .*?\\(default: "?${shown}"?, env: ${env}\\)`));
  }
});

it('rejects a bad flag value with a clear message and a non-zero exit', async () => {
  const bad = await runCli(['serve', '--dns', 'nonsense']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--dns.*HOST:PORT/);
  const ttl = await runCli(['serve', '--dns-ttl', '-3']);
  expect(ttl.code).not.toBe(0);
  expect(ttl.stderr).toMatch(/dns-ttl/);
});

it('--no-recursion turns forwarding off, and contradicts --recursor (flag or environment)', async () => {
  const both = await runCli(['serve', '--store', 'memory', '--no-recursion', '--recursor', '10.0.0.2']);
  expect(both.code).not.toBe(0);
  expect(both.stderr).toContain('--recursor and --no-recursion contradict each other');
  const fromEnv = await runCli(['serve', '--store', 'memory', '--no-recursion'], { SIGNPOST_RECURSOR: '10.0.0.2' });
  expect(fromEnv.code).not.toBe(0);
  expect(fromEnv.stderr).toContain('contradict');
  const server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', 'memory'], { env: { SIGNPOST_NO_RECURSION: '1' } });
  started.push(server);
  expect(server.output.find((line) => line.includes('"signpost ready"'))).toContain('"upstreams":"off"');
  expect(await dig(server.dnsPort, 'example.com', 'A')).toContain('status: REFUSED');
});

it('takes flags from the environment, answers, and stops cleanly on SIGTERM', async () => {
  const server = await spawnSignpost(['--data-dir', dataDir], {
    env: { SIGNPOST_DNS: '127.0.0.1:0', SIGNPOST_HTTP: '127.0.0.1:0', SIGNPOST_DOMAIN: 'corp.internal', SIGNPOST_DNS_TTL: '30' },
  });
  started.push(server);
  const response = await fetch(`${server.url}/v1/services/db/instances/db-1`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: '10.2.0.1', port: 5432 }),
  });
  expect(response.status).toBe(200);
  expect(await dig(server.dnsPort, 'db.service.corp.internal', 'A', '+noall', '+answer')).toMatch(
    /db\.service\.corp\.internal\.\s+30\s+IN\s+A\s+10\.2\.0\.1/,
  );
  expect(await server.stop('SIGTERM')).toBe(0);
  expect(server.output.some((line) => line.includes('"signpost stopped"'))).toBe(true);
  // One JSON log line per event.
  for (const line of server.output) expect(() => JSON.parse(line), line).not.toThrow();
});

it('`npm start -- FLAGS` passes the flags through', async () => {
  const server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir, '--domain', 'npm.test'], {
    command: ['npm', 'start', '--silent', '--'],
  });
  started.push(server);
  expect(await dig(server.dnsPort, 'npm.test', 'SOA', '+short')).toMatch(/^ns\.npm\.test\. hostmaster\.npm\.test\./);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
});

it('`npm start` and `npx signpost` (bin/signpost.js) both run Node with NODE_FLAGS', async () => {
  const root = new URL('..', import.meta.url).pathname;
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} src/cli/main.ts serve`);
  // The bin entry's shebang (env -S) starts Node itself: the spawned process is that Node.
  const server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', 'memory'], {
    command: [join(root, 'bin/signpost.js'), 'serve'],
  });
  started.push(server);
  const argv = readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8').split('\0');
  expect(argv).toEqual(expect.arrayContaining([...NODE_FLAGS]));
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
});
