// The HTTP API as a first-time user meets it, over real sockets with real clients (curl, fetch,
// Node's http): a wrong method (405 with Allow), a body that is not JSON (415 saying what to
// send), a body over the limit (the client really receives the 413), reading one instance, and
// what a service with no instances is (declared by its settings, kept when the last instance goes).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'signpost-http-'));
let signpost: TestSignpost;

beforeAll(async () => {
  signpost = await startTestSignpost();
});

afterAll(async () => {
  await signpost?.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = { 'content-type': 'application/json' };
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${signpost.url}${path}`, { method, headers: body === undefined ? {} : json, body: body === undefined ? undefined : JSON.stringify(body) });

describe('methods', () => {
  it('a known URL with another method is 405 with Allow; an unknown URL stays 404', async () => {
    for (const [method, path, allow] of [
      ['POST', '/v1/services/web/instances/a', 'DELETE, GET, HEAD, PUT'],
      ['PATCH', '/v1/services/web/instances/a', 'DELETE, GET, HEAD, PUT'],
      ['GET', '/v1/services/web/instances/a/heartbeat', 'PUT'],
      ['POST', '/v1/services', 'GET, HEAD'],
      ['DELETE', '/v1/services/web', 'GET, HEAD'],
      ['POST', '/v1/services/web/settings?x=1', 'DELETE, GET, HEAD, PUT'],
      ['PUT', '/healthz', 'GET, HEAD'],
    ]) {
      const response = await call(method, path);
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect((await response.json()).message).toBe(`${method} is not allowed on ${path.split('?')[0]}; allowed: ${allow}`);
    }
    expect((await call('GET', '/v1/nothing')).status).toBe(404);
    expect((await call('GET', '/v1/services/web/instances/a/b/c')).status).toBe(404);
  });
});

describe('bodies', () => {
  it('a body that is not JSON is 415, saying to send content-type: application/json', async () => {
    const form = await fetch(`${signpost.url}/v1/services/web/instances/a`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'address=10.0.0.1&port=80',
    });
    expect(form.status).toBe(415);
    expect((await form.json()).message).toBe(
      'the body must be JSON, sent with content-type: application/json (got content-type: application/x-www-form-urlencoded)',
    );
    // curl -d without -H sends a form content type: the message says what to add.
    const { stdout } = await execFileAsync('curl', ['-s', '-X', 'PUT', '-d', '{"address": "10.0.0.1", "port": 80}', `${signpost.url}/v1/services/web/instances/a`]);
    expect(JSON.parse(stdout)).toMatchObject({ statusCode: 415, message: expect.stringContaining('content-type: application/json') });
    expect(signpost.registry.get('web', 'a')).toBeUndefined();
  });

  it('no body with content-type: application/json is no body; a missing registration body says what to send', async () => {
    expect((await call('PUT', '/v1/services/bare/instances/b1', { address: '10.0.0.3', port: 80 })).status).toBe(200);
    // Clients that send the header on every request: a bare heartbeat means passing, a bare DELETE deletes.
    const heartbeat = await fetch(`${signpost.url}/v1/services/bare/instances/b1/heartbeat`, { method: 'PUT', headers: json });
    expect(heartbeat.status).toBe(200);
    expect((await heartbeat.json()).status).toBe('passing');
    expect((await fetch(`${signpost.url}/v1/services/bare/instances/b1`, { method: 'DELETE', headers: json })).status).toBe(204);
    for (const headers of [{}, json]) {
      const empty = await fetch(`${signpost.url}/v1/services/bare/instances/b2`, { method: 'PUT', headers });
      expect(empty.status).toBe(400);
      expect(await empty.json()).toMatchObject({ field: 'body', message: 'the body must be a JSON object, sent with content-type: application/json' });
    }
  });

  it('a body over the limit: every client receives the 413, however it sends (8 MiB, many times)', async () => {
    const file = join(dir, 'big.json');
    const big = Buffer.alloc(8 * 1024 * 1024, 0x20);
    writeFileSync(file, big);
    const url = `${signpost.url}/v1/services/web/instances/big`;
    // The Consul API's routes shape their errors themselves; their 413 arrives all the same.
    const consul = `${signpost.url}/v1/agent/service/register`;
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      // curl waits for 100-continue on a large body; with `Expect:` it sends at once; chunked has no length to refuse early.
      for (const [target, extra] of [
        [url, []],
        [url, ['-H', 'Expect:']],
        [url, ['-H', 'Expect:', '-H', 'transfer-encoding: chunked']],
        [consul, []],
      ] as const) {
        const { stdout } = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'content-type: application/json', ...extra, '--data-binary', `@${file}`, target]).catch(
          (error: { stdout: string; code: number }) => ({ stdout: `curl exit ${error.code}` }),
        );
        outcomes.push(stdout);
      }
      outcomes.push(await nodeHttpPut(url, big), await nodeHttpPut(consul, big));
    }
    expect(outcomes.filter((outcome) => outcome !== '413')).toEqual([]);
    expect(signpost.registry.get('web', 'big')).toBeUndefined();
  });
});

/** PUT with Node's http client, the body written as fast as the socket takes it: the status, or the error code. */
function nodeHttpPut(url: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'PUT', headers: { ...json, 'content-length': body.length }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(String(response.statusCode)));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end(body);
  });
}

describe('one instance, and services without instances', () => {
  it('GET /v1/services/:service/instances/:id: the instance as registered, with health; 404 when unknown', async () => {
    expect((await call('PUT', '/v1/services/shop/instances/s1', { address: '10.0.0.7', port: 8080, tags: ['v1'] })).status).toBe(200);
    const response = await call('GET', '/v1/services/SHOP/instances/S1');
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('x-signpost-index'))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ service: 'shop', id: 's1', address: '10.0.0.7', port: 8080, tags: ['v1'], status: 'passing' });
    const missing = await call('GET', '/v1/services/shop/instances/nope');
    expect(missing.status).toBe(404);
    expect((await missing.json()).message).toBe('instance nope of service shop is not registered');
  });

  it('a service declared by its settings is listed with 0 instances, keeps them when its last instance goes, and leaves with DELETE', async () => {
    const names = async () => ((await (await call('GET', '/v1/services')).json()) as { services: Array<{ name: string; instances: number }> }).services;
    expect((await call('PUT', '/v1/services/pay/settings', { protectionThreshold: 0.5 })).status).toBe(200);
    expect(await names()).toContainEqual(expect.objectContaining({ name: 'pay', instances: 0, healthy: 0 }));
    const declared = await call('GET', '/v1/services/pay');
    expect(declared.status).toBe(200);
    expect(await declared.json()).toMatchObject({ name: 'pay', settings: { protectionThreshold: 0.5, warmup: 0 }, instances: [] });

    expect((await call('PUT', '/v1/services/pay/instances/p1', { address: '10.0.0.8', port: 80 })).status).toBe(200);
    expect((await call('DELETE', '/v1/services/pay/instances/p1')).status).toBe(204);
    expect(await (await call('GET', '/v1/services/pay/settings')).json()).toEqual({ protectionThreshold: 0.5, warmup: 0 });
    expect(await names()).toContainEqual(expect.objectContaining({ name: 'pay', instances: 0, healthy: 0 }));

    expect((await call('DELETE', '/v1/services/pay/settings')).status).toBe(204);
    expect(await (await call('GET', '/v1/services/pay/settings')).json()).toEqual({ protectionThreshold: 0, warmup: 0 });
    expect((await names()).map((service) => service.name)).not.toContain('pay');
    const gone = await call('GET', '/v1/services/pay');
    expect(gone.status).toBe(404);
    expect((await gone.json()).message).toBe('service pay has no registered instances and no settings of its own');
  });

  it('a service with neither instances nor settings of its own is not listed, and its settings are the defaults', async () => {
    expect((await call('PUT', '/v1/services/tmp/instances/t1', { address: '10.0.0.9', port: 80 })).status).toBe(200);
    expect((await call('DELETE', '/v1/services/tmp/instances/t1')).status).toBe(204);
    expect((await call('GET', '/v1/services/tmp')).status).toBe(404);
    expect(await (await call('GET', '/v1/services/tmp/settings')).json()).toEqual({ protectionThreshold: 0, warmup: 0 });
  });
});
