// The client commands of `signpost` as users run them, against a real Signpost: register (alive
// until Ctrl-C), ls, resolve, watch, deregister, --version, and one-line errors with exit status 1.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort } from './helpers/proxy.ts';
import { runCli } from './helpers/process.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const TOKEN = 'web-team-cccccccccccccccccccc';
const dir = mkdtempSync(join(tmpdir(), 'signpost-verbs-'));
let signpost: TestSignpost;
let guarded: TestSignpost;
const children: ChildProcessWithoutNullStreams[] = [];

/** A long-running command, with a way to wait for a line of its output. */
function start(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: 'pipe' });
  children.push(child);
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const wait of waiting.filter((each) => each.pattern.test(line))) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve(line);
      }
    });
  }
  return {
    child,
    lines,
    line: (pattern: RegExp) => new Promise<string>((resolve) => (lines.some((line) => pattern.test(line)) ? resolve(lines.find((line) => pattern.test(line))!) : waiting.push({ pattern, resolve }))),
  };
}

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { SIGNPOST_URL: '', SIGNPOST_DNS: '', SIGNPOST_TOKEN: '', ...env });

beforeAll(async () => {
  writeFileSync(join(dir, 'tokens'), `${TOKEN} web\n`);
  [signpost, guarded] = await Promise.all([startTestSignpost(NO_OVERLOAD_GUARD), startTestSignpost({ ...NO_OVERLOAD_GUARD, tokenFile: join(dir, 'tokens') })]);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([signpost?.close(), guarded?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('signpost register, ls, resolve, watch', () => {
  it('registers until Ctrl-C, lists and resolves it, prints the changes, and deregisters it on the way out', async () => {
    const server = ['--server', signpost.url];
    const watch = start(['watch', 'web', ...server]);
    await watch.line(/^signpost: watching web/);
    const register = start(['register', 'web', '127.0.0.1:8080', '--weight', '5', '--ttl', '3', '--tag', 'v2', '--meta', 'version=2.1', ...server]);
    expect(await register.line(/^registered/)).toBe('registered web/127-0-0-1-8080 at 127.0.0.1:8080 (ttl 3 s); Ctrl-C deregisters it');
    expect(signpost.registry.get('web', '127-0-0-1-8080')).toMatchObject({ address: '127.0.0.1', port: 8080, weight: 5, ttl: 3, tags: ['v2'], meta: { version: '2.1' } });
    await signpost.register('web', 'web-b', { address: '::1', port: 9090, priority: 1 });

    const services = await cli(['ls', ...server]);
    expect(services.stdout).toMatch(/^SERVICE\s+INSTANCES\s+HEALTHY\nweb\s+2\s+2\n$/);
    const instances = await cli(['ls', 'web', ...server]);
    expect(instances.stdout).toMatch(/^ID\s+ADDRESS\s+PRIORITY\s+WEIGHT\s+STATUS\s+EXPIRES\s+TAGS\s+NOTE\n127-0-0-1-8080\s+127\.0\.0\.1:8080\s+0\s+5\s+passing\s+\d+s\s+v2\s*\nweb-b\s+\[::1\]:9090\s+1\s+100\s+passing/);

    // In pick order: priority 0 before priority 1, over HTTP and over DNS alike.
    for (const args of [server, ['--dns', `127.0.0.1:${signpost.dns.port}`, ...server]]) {
      const resolved = await cli(['resolve', 'web', ...args]);
      expect(resolved.code).toBe(0);
      expect(resolved.stdout).toBe(
        [
          'PRIORITY  WEIGHT  ADDRESS         TARGET',
          '0         5       127.0.0.1:8080  127-0-0-1-8080.web.instance.local',
          '1         100     [::1]:9090      web-b.web.instance.local',
          '',
        ].join('\n'),
      );
    }

    const exited = once(register.child, 'exit');
    register.child.kill('SIGINT');
    expect(await exited).toEqual([0, null]);
    expect(register.lines.at(-1)).toBe('deregistered web/127-0-0-1-8080');
    expect(signpost.registry.get('web', '127-0-0-1-8080')).toBeUndefined();

    await watch.line(/ deregister web\/127-0-0-1-8080 /);
    const watchExited = once(watch.child, 'exit');
    watch.child.kill('SIGINT');
    expect(await watchExited).toEqual([0, null]);
    const events = watch.lines.filter((line) => /^\d{4}-/.test(line)).map((line) => line.replace(/^\S+ /, ''));
    expect(events).toEqual(['register web/127-0-0-1-8080 127.0.0.1:8080 passing', 'register web/web-b [::1]:9090 passing', 'deregister web/127-0-0-1-8080 (deregistered)']);
  });

  it('deregister removes any instance; a second time it says it is not registered', async () => {
    await signpost.register('gone', 'gone-1', { address: '10.0.0.1', port: 1 });
    const first = await cli(['deregister', 'gone', 'gone-1', '--server', signpost.url]);
    expect(first).toMatchObject({ code: 0, stdout: 'deregistered gone/gone-1\n' });
    const again = await cli(['deregister', 'gone', 'gone-1'], { SIGNPOST_URL: signpost.url });
    expect(again).toMatchObject({ code: 1, stderr: 'signpost: gone/gone-1 is not registered (signpost ls gone lists the instances)\n' });
  });

  it('--version and -v print the version and the Node it runs on', async () => {
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await cli([flag]);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^signpost \\d+\\.\\d+\\.\\d+ \\(Node ${process.version.replace(/\./g, '\\.')}\\)\\n$`));
    }
  });
});

describe('errors: one line that says what to fix, exit status 1', () => {
  it.each([
    ['an unreachable server', async () => ['ls', '--server', `http://127.0.0.1:${await deadPort()}`], /^signpost: no Signpost server answered GET \/v1\/services: http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(is Signpost running there\? set --server or SIGNPOST_URL\)$/],
    ['a --server that is not a URL', async () => ['ls', '--server', 'localhost:8500'], /^signpost: --server: "localhost:8500" is not an http:\/\/ or https:\/\/ URL$/],
    ['a host name for an address', async () => ['register', 'web', 'localhost:80', '--server', signpost.url], /^signpost: HOST:PORT: "localhost" is not an IP address; Signpost publishes addresses, not names$/],
    ['a ttl out of range', async () => ['register', 'web', '10.0.0.1:80', '--ttl', '90000'], /^error: option '--ttl <seconds>' argument '90000' is invalid\. --ttl: .*/],
    ['a field the server refuses', async () => ['register', 'Not_A_Label', '10.0.0.1:80', '--server', signpost.url], /^signpost: register Not_A_Label\/10-0-0-1-80: 400 service must be a DNS label/],
    ['a missing token', async () => ['register', 'web', '10.0.0.1:80', '--server', guarded.url], /^signpost: register web\/10-0-0-1-80: 401 missing bearer token .*: give a token with --token or SIGNPOST_TOKEN$/],
    ['a token without rights on the service', async () => ['deregister', 'db', 'db-1', '--server', guarded.url, '--token', TOKEN], /^signpost: deregister db\/db-1: 403 this token may not write service db: use a token with rights on that service$/],
    ['a watch the server refuses', async () => ['watch', 'Not_A_Label', '--server', signpost.url], /^signpost: watch http:\/\/127\.0\.0\.1:\d+\/v1\/watch\?service=Not_A_Label: 400 service must be a DNS label/],
    ['a mistyped command', async () => ['lss', 'web'], /^signpost: unknown command "lss"; the commands are serve, register, deregister, ls, resolve, watch \(signpost --help\)$/],
    ['a service with no healthy instance', async () => ['resolve', 'nothing', '--server', signpost.url], /^signpost: no healthy instance of service nothing$/],
  ])('%s', async (_, args, expected) => {
    const { code, stdout, stderr } = await cli(await args());
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(stderr.trim()).toMatch(expected);
  });
});
