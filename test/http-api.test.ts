// The HTTP registration API: through fastify's inject (fast, no socket) and through a real socket.
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { buildHttpApp } from '../src/http/app.ts';
import { Registry } from '../src/registry/registry.ts';
import { MemoryStore } from '../src/store/memory.ts';
import { WatchHub } from '../src/watch/hub.ts';
import { startTestSignpost } from './helpers/signpost.ts';

let registry: Registry;
let app: ReturnType<typeof buildHttpApp>;

beforeEach(async () => {
  await app?.close();
  await registry?.close();
  registry = new Registry(new MemoryStore(), { gracePeriod: 60, onlyPassing: false });
  const watches = new WatchHub(registry, { maxWatches: 16, historySize: 100, body: (event) => () => event.type });
  app = buildHttpApp({ registry, watches, logger: pino({ level: 'silent' }), isDnsUp: () => true });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await registry?.close();
});

const put = (url: string, payload?: unknown) => app.inject({ method: 'PUT', url, payload: payload as never });
const instanceUrl = (service = 'web', id = 'web-1') => `/v1/services/${service}/instances/${id}`;
const valid = { address: '10.0.0.1', port: 8080 };

describe('register', () => {
  it('stores the instance with defaults and returns it with status and expiresAt', async () => {
    const before = Date.now();
    const response = await put(instanceUrl(), valid);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      service: 'web',
      id: 'web-1',
      address: '10.0.0.1',
      port: 8080,
      weight: 100,
      priority: 0,
      ttl: 15,
      tags: [],
      meta: {},
      status: 'passing',
    });
    const expiresAt = Date.parse(body.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 15_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 15_000);
    expect(registry.get('web', 'web-1')?.port).toBe(8080);
  });

  it('is idempotent and replaces the previous registration', async () => {
    await put(instanceUrl(), { ...valid, tags: ['a'], meta: { v: '1' } });
    const response = await put(instanceUrl(), { ...valid, port: 9090, tags: ['b'] });
    expect(response.json()).toMatchObject({ port: 9090, tags: ['b'], meta: {} });
    expect(registry.instances('web')).toHaveLength(1);
  });

  it('stores names lower case and matches them case-insensitively', async () => {
    const response = await put(instanceUrl('Web', 'Web-1'), { ...valid, tags: ['Canary', 'canary'] });
    expect(response.json()).toMatchObject({ service: 'web', id: 'web-1', tags: ['canary'] });
    expect((await app.inject({ method: 'GET', url: '/v1/services/WEB' })).statusCode).toBe(200);
  });

  it('accepts IPv6 literals', async () => {
    expect((await put(instanceUrl(), { ...valid, address: '2001:db8::1' })).json().address).toBe('2001:db8::1');
  });

  const badBodies: Array<[string, unknown, string, RegExp]> = [
    ['missing address', { port: 80 }, 'address', /address is required/],
    ['missing port', { address: '10.0.0.1' }, 'port', /port is required/],
    ['address not an IP', { ...valid, address: 'example.com' }, 'address', /IPv4 or IPv6/],
    ['address with a zone index', { ...valid, address: 'fe80::1%eth0' }, 'address', /IPv4 or IPv6/],
    ['address a number', { ...valid, address: 10 }, 'address', /string/],
    ['port 0', { ...valid, port: 0 }, 'port', />= 1/],
    ['port 65536', { ...valid, port: 65536 }, 'port', /<= 65535/],
    ['port a string', { ...valid, port: '8080' }, 'port', /integer/],
    ['port fractional', { ...valid, port: 80.5 }, 'port', /integer/],
    ['weight negative', { ...valid, weight: -1 }, 'weight', />= 0/],
    ['weight too big', { ...valid, weight: 65536 }, 'weight', /<= 65535/],
    ['priority too big', { ...valid, priority: 70000 }, 'priority', /<= 65535/],
    ['ttl negative', { ...valid, ttl: -1 }, 'ttl', />= 0/],
    ['warning weight too big', { ...valid, warningWeight: 65536 }, 'warningWeight', /<= 65535/],
    ['initial status unknown', { ...valid, initialStatus: 'fine' }, 'initialStatus', /one of/],
    ['ttl over a day', { ...valid, ttl: 86401 }, 'ttl', /<= 86400/],
    ['tags not an array', { ...valid, tags: 'blue' }, 'tags', /array/],
    ['tag not a label', { ...valid, tags: ['ok', 'not ok'] }, 'tags.1', /DNS label/],
    ['tag with underscore', { ...valid, tags: ['_x'] }, 'tags.0', /DNS label/],
    ['meta not an object', { ...valid, meta: ['a'] }, 'meta', /object/],
    ['meta value not a string', { ...valid, meta: { a: 1 } }, 'meta.a', /string/],
    ['meta key with =', { ...valid, meta: { 'a=b': 'c' } }, 'meta.a=b', /must be a meta key: 1-64 characters/],
    ['meta entry over 255 bytes', { ...valid, meta: { big: 'x'.repeat(252) } }, 'meta.big', /255 bytes/],
    ['unknown field', { ...valid, wieght: 5 }, 'wieght', /not a known field/],
    ['check URL not http', { ...valid, check: { http: 'ftp://10.0.0.1/health' } }, 'check.http', /must be an http:\/\/ or https:\/\/ URL/],
    ['check URL with a space', { ...valid, check: { http: 'http://10.0.0.1/a b' } }, 'check.http', /URL without spaces/],
    ['check TCP target without a port', { ...valid, check: { tcp: '10.0.0.1' } }, 'check.tcp', /must be HOST:PORT/],
  ];
  for (const [label, body, field, message] of badBodies) {
    it(`400 naming the field: ${label}`, async () => {
      const response = await put(instanceUrl(), body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', field });
      expect(response.json().message).toMatch(message);
      expect(registry.instances('web'), 'nothing stored').toBeUndefined();
    });
  }

  it('400 for service names and ids that are not DNS labels', async () => {
    for (const [service, id, field] of [
      ['web_app', 'x', 'service'],
      ['-web', 'x', 'service'],
      ['web', 'a.b', 'id'],
      ['web', 'x'.repeat(64), 'id'],
    ]) {
      const response = await put(instanceUrl(service, id), valid);
      expect(response.statusCode, `${service}/${id}`).toBe(400);
      expect(response.json().field).toBe(field);
    }
  });

  it('400 for a body that is not JSON, 415 for another content type', async () => {
    const broken = await app.inject({ method: 'PUT', url: instanceUrl(), headers: { 'content-type': 'application/json' }, payload: '{"address":' });
    expect(broken.statusCode).toBe(400);
    const text = await app.inject({ method: 'PUT', url: instanceUrl(), headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(415);
    expect(registry.instances('web')).toBeUndefined();
  });

  it('413 for a body over the limit', async () => {
    const response = await put(instanceUrl(), { ...valid, meta: { pad: 'x'.repeat(70_000) } });
    expect(response.statusCode).toBe(413);
    expect(registry.instances('web')).toBeUndefined();
  });
});

describe('heartbeat and deregister', () => {
  it('heartbeat renews the lease; 404 for an unknown instance', async () => {
    const first = Date.parse((await put(instanceUrl(), { ...valid, ttl: 30 })).json().expiresAt);
    const renewed = await put(`${instanceUrl()}/heartbeat`);
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json().status).toBe('passing');
    expect(Date.parse(renewed.json().expiresAt)).toBeGreaterThanOrEqual(first);
    const unknown = await put(`${instanceUrl('web', 'ghost')}/heartbeat`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toMatch(/register it again/);
    const badStatus = await put(`${instanceUrl()}/heartbeat`, { status: 'sick' });
    expect(badStatus.statusCode).toBe(400);
    expect(badStatus.json()).toMatchObject({ field: 'status', message: 'status must be one of "passing", "warning", "critical"' });
  });

  it('DELETE removes the instance: 204, then 404', async () => {
    await put(instanceUrl(), valid);
    expect((await app.inject({ method: 'DELETE', url: instanceUrl() })).statusCode).toBe(204);
    expect(registry.get('web', 'web-1')).toBeUndefined();
    expect((await app.inject({ method: 'DELETE', url: instanceUrl() })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/services/web' })).statusCode).toBe(404);
  });
});

describe('reading', () => {
  it('lists services with instance and healthy counts, tags and protection, and one service with its instances', async () => {
    await put(instanceUrl('web', 'a'), { ...valid, tags: ['v2', 'eu'] });
    await put(instanceUrl('web', 'b'), { ...valid, address: '10.0.0.2', tags: ['v2', 'us'] });
    await put(instanceUrl('db', 'a'), { ...valid, port: 5432, tags: [] });
    const list = await app.inject({ method: 'GET', url: '/v1/services' });
    expect(list.json()).toEqual({
      services: [
        { name: 'db', instances: 1, healthy: 1, tags: [], protection: { tripped: false, healthyShare: 1 } },
        { name: 'web', instances: 2, healthy: 2, tags: ['eu', 'us', 'v2'], protection: { tripped: false, healthyShare: 1 } },
      ],
    });
    const web = (await app.inject({ method: 'GET', url: '/v1/services/web' })).json();
    expect(web.name).toBe('web');
    expect(web.instances.map((instance: { id: string; status: string }) => [instance.id, instance.status])).toEqual([
      ['a', 'passing'],
      ['b', 'passing'],
    ]);
  });

  it('404 for an unknown service and for an unknown route', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/services/nothing' })).statusCode).toBe(404);
    const route = await app.inject({ method: 'GET', url: '/v2/whatever' });
    expect(route.statusCode).toBe(404);
    expect(route.json().message).toMatch(/no route/);
  });
});

describe('over a real socket', () => {
  it('registers, reads, heartbeats, deregisters, and reports health', async () => {
    const signpost = await startTestSignpost();
    try {
      const health = await fetch(`${signpost.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok', store: 'available', dns: 'up', http: 'up', watches: { open: 0, max: 4096, streams: { open: 0, behind: 0, largestQueueBytes: 0, cutOff: 0 } } });
      expect((await signpost.register('api', 'one', { address: '127.0.0.9', port: 1234 })).status).toBe(200);
      expect(await signpost.resolver().resolve4('api.service.local')).toEqual(['127.0.0.9']);
      const beat = await fetch(`${signpost.url}/v1/services/api/instances/one/heartbeat`, { method: 'PUT' });
      expect(beat.status).toBe(200);
      const gone = await fetch(`${signpost.url}/v1/services/api/instances/one`, { method: 'DELETE' });
      expect(gone.status).toBe(204);
      // Read-your-writes: the DNS answer changed before the 204 was sent.
      await expect(signpost.resolver().resolve4('api.service.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      const bad = await signpost.register('api', 'two', { address: '127.0.0.9', port: 99999 });
      expect(bad.status).toBe(400);
      expect((await bad.json()).field).toBe('port');
    } finally {
      await signpost.close();
    }
  });
});
