// Who may write: bearer tokens from --token-file, scoped to services, reloaded without a restart.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canWrite, parseTokens } from '../src/http/tokens.ts';
import { spawnSignpost } from './helpers/process.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const ADMIN = 'admin-token-aaaaaaaaaaaaaaaa';
const PAYMENTS = 'payments-team-bbbbbbbbbbbbbbbb';
const WEB = 'web-team-cccccccccccccccccccc';
const READER = 'reader-dddddddddddddddddddd';

const dir = mkdtempSync(path.join(os.tmpdir(), 'signpost-auth-'));
const tokenFile = path.join(dir, 'tokens');
const TOKENS = [`# comments and blank lines are fine`, '', `${ADMIN} *`, `${PAYMENTS} pay*,billing`, `${WEB} web-?`, `${READER} read`, ''].join('\n');

let signpost: TestSignpost;
const body = { address: '10.0.0.1', port: 8080 };

function call(method: string, route: string, token?: string, json?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${signpost.url}${route}`, { method, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
}

beforeAll(async () => {
  writeFileSync(tokenFile, TOKENS);
  signpost = await startTestSignpost({ tokenFile });
});

afterAll(async () => {
  await signpost?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('token file', () => {
  it('parses write globs and read-only tokens', () => {
    const set = parseTokens(TOKENS);
    expect(set.size).toBe(4);
    const payments = set.lookup(PAYMENTS)!;
    expect(canWrite(payments, 'payments')).toBe(true);
    expect(canWrite(payments, 'pay')).toBe(true);
    expect(canWrite(payments, 'billing')).toBe(true);
    expect(canWrite(payments, 'billing2')).toBe(false);
    expect(canWrite(payments, 'web')).toBe(false);
    const web = set.lookup(WEB)!;
    expect(canWrite(web, 'web-1')).toBe(true);
    expect(canWrite(web, 'web-12')).toBe(false);
    expect(canWrite(set.lookup(READER)!, 'web-1')).toBe(false);
    expect(canWrite(set.lookup(ADMIN)!, 'anything')).toBe(true);
    expect(set.lookup('not-a-token-at-all-xxxxxx')).toBeNull();
    expect(set.lookup(PAYMENTS.slice(0, -1))).toBeNull();
    expect(set.lookup('')).toBeNull();
  });

  it('refuses malformed lines, naming the line but never the token', () => {
    const secret = 'secret-token-that-must-not-leak';
    for (const [text, line] of [
      [`${secret}`, 1],
      [`\n${secret} web extra`, 2],
      [`short *`, 1],
      [`${secret} we/b`, 1],
      [`${secret} *\n${secret} web`, 2],
    ] as const) {
      let message = '';
      try {
        parseTokens(text, 'tokens');
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`tokens, line ${line}`);
      expect(message).not.toContain(secret);
    }
  });
});

describe('HTTP writes with a token file', () => {
  it('401 without a token, with a malformed header and with an unknown token; nothing changes', async () => {
    for (const [token, message] of [
      [undefined, 'missing bearer token'],
      ['unknown-token-xxxxxxxxxxxxxxxx', 'unknown bearer token'],
    ] as const) {
      const response = await call('PUT', '/v1/services/payments/instances/p-1', token, body);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized', message: expect.stringContaining(message) });
    }
    const basic = await fetch(`${signpost.url}/v1/services/payments/instances/p-1`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(basic.status).toBe(401);
    expect(signpost.registry.instances('payments')).toBeUndefined();
  });

  it('403 with a token scoped to other services, naming the service; nothing changes', async () => {
    for (const token of [WEB, READER]) {
      const response = await call('PUT', '/v1/services/payments/instances/p-1', token, body);
      expect(response.status).toBe(403);
      expect((await response.json()).message).toContain('payments');
    }
    expect(signpost.registry.instances('payments')).toBeUndefined();
  });

  it('a token with rights writes; another team cannot replace, heartbeat, maintain, change or delete its instance', async () => {
    expect((await call('PUT', '/v1/services/payments/instances/p-1', PAYMENTS, body)).status).toBe(200);
    const before = JSON.stringify(signpost.registry.instances('payments'));
    const attempts: Array<[string, string, unknown]> = [
      ['PUT', '/v1/services/payments/instances/p-1', { address: '6.6.6.6', port: 666 }],
      ['PUT', '/v1/services/PAYMENTS/instances/p-1', { address: '6.6.6.6', port: 666 }],
      ['PUT', '/v1/services/payments/instances/p-1/heartbeat', { status: 'critical', note: 'hijacked' }],
      ['PUT', '/v1/services/payments/instances/p-1/maintenance', { enabled: true, reason: 'hijacked' }],
      ['PUT', '/v1/services/payments/settings', { protectionThreshold: 1 }],
      ['DELETE', '/v1/services/payments/instances/p-1', undefined],
    ];
    for (const [method, route, json] of attempts) {
      for (const token of [undefined, WEB, READER]) {
        const response = await call(method, route, token, json);
        expect(response.status, `${method} ${route} with ${token ?? 'no token'}`).toBe(token === undefined ? 401 : 403);
      }
    }
    expect(JSON.stringify(signpost.registry.instances('payments'))).toBe(before);
    expect(signpost.registry.settings('payments').protectionThreshold).toBe(0);
    expect(await signpost.resolver().resolve4('payments.service.local')).toEqual(['10.0.0.1']);
    // The owner and the admin can.
    expect((await call('PUT', '/v1/services/payments/instances/p-1/heartbeat', PAYMENTS)).status).toBe(200);
    expect((await call('DELETE', '/v1/services/payments/instances/p-1', ADMIN)).status).toBe(204);
  });

  it('reads stay open without --read-requires-token; /healthz is always open', async () => {
    expect((await call('GET', '/v1/services')).status).toBe(200);
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('reloads the token file: new tokens work, removed ones stop; a broken file keeps the previous set', async () => {
    const NEW = 'new-token-eeeeeeeeeeeeeeeeeeee';
    writeFileSync(tokenFile, `${NEW} web-?\n`);
    expect(signpost.reloadTokens()).toBe(true);
    expect((await call('PUT', '/v1/services/web-1/instances/a', NEW, body)).status).toBe(200);
    expect((await call('PUT', '/v1/services/web-1/instances/a', WEB, body)).status).toBe(401);
    writeFileSync(tokenFile, `this line is broken\n`);
    expect(signpost.reloadTokens()).toBe(false);
    expect((await call('PUT', '/v1/services/web-1/instances/a', NEW, body)).status).toBe(200);
    writeFileSync(tokenFile, TOKENS);
    expect(signpost.reloadTokens()).toBe(true);
  });
});

describe('--read-requires-token', () => {
  let reading: TestSignpost;
  beforeAll(async () => {
    reading = await startTestSignpost({ tokenFile, readRequiresToken: true });
  });
  afterAll(() => reading?.close());

  it('reads need a known token (read-only or write); /healthz stays open', async () => {
    const get = (route: string, token?: string) => fetch(`${reading.url}${route}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await get('/v1/services')).status).toBe(401);
    expect((await get('/v1/services', 'unknown-token-xxxxxxxxxxxxxxxx')).status).toBe(401);
    expect((await get('/v1/services', READER)).status).toBe(200);
    expect((await get('/v1/services', WEB)).status).toBe(200);
    expect((await get('/v1/watch', undefined)).status).toBe(401);
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('the CLI', () => {
  it('warns at start-up when writes are open', async () => {
    const server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', 'memory', '--no-recursion']);
    try {
      expect(server.output.join('\n')).toMatch(/no --token-file: HTTP writes are open/);
    } finally {
      await server.stop();
    }
  });

  it('reloads on SIGHUP without a restart, and never logs a token', async () => {
    const cliTokens = path.join(dir, 'cli-tokens');
    const FIRST = 'first-cli-token-ffffffffffffffff';
    const SECOND = 'second-cli-token-gggggggggggggggg';
    writeFileSync(cliTokens, `${FIRST} *\n`);
    const server = await spawnSignpost(['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', 'memory', '--no-recursion', '--token-file', cliTokens, '--log-level', 'debug']);
    const put = (token: string) =>
      fetch(`${server.url}/v1/services/web/instances/w1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      expect((await put(FIRST)).status).toBe(200);
      expect((await put(SECOND)).status).toBe(401);
      writeFileSync(cliTokens, `${SECOND} *\n`);
      const pid = server.child.pid!;
      process.kill(pid, 'SIGHUP');
      await expect.poll(() => server.output.some((line) => line.includes('token file reloaded')), { timeout: 5000 }).toBe(true);
      expect((await put(SECOND)).status).toBe(200);
      expect((await put(FIRST)).status).toBe(401);
      expect(server.child.exitCode).toBeNull();
      const log = server.output.join('\n');
      expect(log).not.toContain(FIRST);
      expect(log).not.toContain(SECOND);
    } finally {
      await server.stop();
    }
  });
});
