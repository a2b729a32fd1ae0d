// What the web console reads besides the catalogue: GET /v1/server (version, settings, figures),
// and the per-instance and per-service fields it draws (lease times, warm-up, traffic split).
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import dns2 from 'dns2';
import { trafficSplit } from '../src/registry/traffic.ts';
import type { Answerable, Instance } from '../src/registry/types.ts';
import { query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/upstream.ts';

const { Packet } = dns2;
const servers: Array<TestSignpost | ScriptedUpstream> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function start(config: Parameters<typeof startTestSignpost>[0] = {}) {
  const signpost = await startTestSignpost(config);
  servers.push(signpost);
  return signpost;
}

const put = (signpost: TestSignpost, path: string, body?: unknown) =>
  fetch(`${signpost.url}${path}`, { method: 'PUT', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
const get = async (signpost: TestSignpost, path: string) => (await fetch(`${signpost.url}${path}`)).json();

/** Sends `count` UDP queries one after another (each answered before the next), as one client. */
async function udpQueries(port: number, count: number, name: (i: number) => string) {
  const socket = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      const reply = new Promise((resolve) => socket.once('message', resolve));
      socket.send(query(name(i), 'A', { id: i }), port, '127.0.0.1');
      await reply;
    }
  } finally {
    socket.close();
  }
}

const total = (counts: number[]) => counts.reduce((sum, count) => sum + count, 0);

describe('GET /v1/server', () => {
  it('says what the server is: version, the settings that shape answers, the store, tokens', async () => {
    const upstream = await startScriptedUpstream((_question, reply) => [reply.build({ rcode: Packet.RCODE.NXDOMAIN })]);
    servers.push(upstream);
    const signpost = await start({ domain: 'internal', dnsTtl: 7, recursors: [upstream.address] });
    const status = await get(signpost, '/v1/server');
    expect(status.version).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
    expect(status.node).toBe(process.version);
    expect(Math.abs(Date.parse(status.now) - Date.now())).toBeLessThan(60_000);
    expect(status.config).toEqual({
      domain: 'internal',
      dns: `127.0.0.1:${signpost.dns.port}`,
      http: `127.0.0.1:${signpost.http.port}`,
      dnsTtl: 7,
      gracePeriod: 60,
      onlyPassing: false,
      forwarding: { enabled: true, upstreams: [`127.0.0.1:${upstream.address.port}`] },
      tokens: { writes: false, reads: false },
    });
    expect(status.store).toEqual({ kind: 'memory', available: true });
    expect(status.watches).toEqual({ open: 0, max: 4096 });
  });

  it('counts replies by rcode, registry events and heartbeats, and times one query in 64', async () => {
    const signpost = await start();
    expect((await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80 })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await put(signpost, '/v1/services/web/instances/web-1/heartbeat')).status).toBe(200);
    await put(signpost, '/v1/services/web/instances/web-1/maintenance', { enabled: true, reason: 'x' });
    await fetch(`${signpost.url}/v1/services/web/instances/web-1`, { method: 'DELETE' });
    // 100 answers from the zone, 28 NXDOMAIN: 128 queries, of which the 64th and the 128th are timed.
    await udpQueries(signpost.dns.port, 128, (i) => (i < 100 ? 'service.local' : `nosuch${i}.service.local`));
    const status = await get(signpost, '/v1/server');
    expect(status.dns.replies).toEqual({ NOERROR: 100, NXDOMAIN: 28 });
    const { answerTime } = status.dns;
    expect(answerTime.sampleEvery).toBe(64);
    expect(answerTime.boundsMicros.slice(0, 4)).toEqual([1, 2, 4, 8]);
    expect(total(answerTime.zone.counts)).toBe(2);
    expect(answerTime.zone.sumMicros).toBeGreaterThan(0);
    expect(total(answerTime.forwarded.counts)).toBe(0);
    expect(status.registry).toMatchObject({
      services: 0,
      instances: { passing: 0, warning: 0, critical: 0, maintenance: 0 },
      events: { register: 1, deregister: 1, health: 1, settings: 0 },
      deregistrations: { request: 1, critical: 0 },
      heartbeats: 3,
    });
    // The same figures in Prometheus's format.
    const metrics = await (await fetch(`${signpost.url}/metrics`)).text();
    expect(metrics).toMatch(/^signpost_dns_answer_duration_seconds_count\{source="zone"\} 2$/m);
    expect(metrics).toMatch(/^signpost_dns_answer_duration_seconds_bucket\{le="\+Inf",source="zone"\} 2$/m);
    expect(metrics).toMatch(/^signpost_heartbeats_total 3$/m);
    expect(metrics).toMatch(/^signpost_registry_events_total\{type="register"\} 1$/m);
    expect(metrics).toMatch(/^signpost_deregistrations_total\{reason="request"\} 1$/m);
  });

  it('times forwarded answers apart from zone answers, over TCP too', async () => {
    const upstream = await startScriptedUpstream((_question, reply) => [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.1' }] })]);
    servers.push(upstream);
    const signpost = await start({ recursors: [upstream.address] });
    await udpQueries(signpost.dns.port, 64, (i) => `n${i}.example.test`);
    for (let i = 0; i < 64; i++) await signpost.tcp(query('service.local', 'SOA', { id: i }));
    const { answerTime } = (await get(signpost, '/v1/server')).dns;
    expect(total(answerTime.forwarded.counts)).toBe(1);
    expect(total(answerTime.zone.counts)).toBe(1);
  });
});

describe('what the console draws', () => {
  it('lastHeartbeatAt is the last renewal of the lease, one ttl before it expires', async () => {
    const signpost = await start();
    const registered = await (await signpost.register('web', 'web-1', { address: '10.0.0.1', port: 80, ttl: 20 })).json();
    expect(registered.lastHeartbeatAt).toBe(registered.registeredAt);
    expect(Date.parse(registered.expiresAt) - Date.parse(registered.lastHeartbeatAt)).toBe(20_000);
    await expect.poll(() => Date.now()).toBeGreaterThan(Date.parse(registered.registeredAt) + 5);
    expect((await put(signpost, '/v1/services/web/instances/web-1/heartbeat')).status).toBe(200);
    const [instance] = (await get(signpost, '/v1/services/web')).instances;
    expect(Date.parse(instance.lastHeartbeatAt)).toBeGreaterThan(Date.parse(registered.lastHeartbeatAt));
    expect(Date.parse(instance.expiresAt) - Date.parse(instance.lastHeartbeatAt)).toBe(20_000);
    expect(instance.warmingUp).toBeNull();
    // An instance with an active check and no heartbeat has no lease.
    const checked = await (await signpost.register('web', 'web-2', { address: '10.0.0.2', port: 80, check: { tcp: '127.0.0.1:1', interval: 60 } })).json();
    expect(checked).toMatchObject({ expiresAt: null, lastHeartbeatAt: null });
  });

  it('warmingUp shows how far a warming instance is, and the traffic split its published weight', async () => {
    const signpost = await start();
    await signpost.register('search', 'old', { address: '10.8.0.1', port: 80, weight: 100 });
    await put(signpost, '/v1/services/search/settings', { warmup: 600 });
    const fresh = await (await signpost.register('search', 'new', { address: '10.8.0.2', port: 80, weight: 100 })).json();
    expect(fresh.warmingUp.since).toBe(fresh.registeredAt);
    expect(fresh.warmingUp.progress).toBeGreaterThanOrEqual(0);
    expect(fresh.warmingUp.progress).toBeLessThan(0.01);
    const service = await get(signpost, '/v1/services/search');
    expect(service.instances.find((instance: { id: string }) => instance.id === 'old').warmingUp).toBeNull();
    // 100 against a published 10: the shares of being listed first that the warm-up test in health.test.ts measures over DNS.
    expect(service.traffic).toEqual([
      {
        priority: 0,
        instances: [
          { id: 'old', weight: 100, share: 100 / 110 },
          { id: 'new', weight: 10, share: 10 / 110 },
        ],
      },
    ]);
  });

  it('the traffic split: tiers by priority, shares by weight, only instances DNS answers with', async () => {
    const signpost = await start();
    await signpost.register('web', 'a', { address: '10.0.0.1', port: 80, weight: 10 });
    await signpost.register('web', 'b', { address: '10.0.0.2', port: 80, weight: 30 });
    await signpost.register('web', 'down', { address: '10.0.0.3', port: 80, weight: 500 });
    await put(signpost, '/v1/services/web/instances/down/maintenance', { enabled: true, reason: '' });
    await signpost.register('web', 'backup-1', { address: '10.0.1.1', port: 80, priority: 5, weight: 0 });
    await signpost.register('web', 'backup-2', { address: '10.0.1.2', port: 80, priority: 5, weight: 0 });
    const { traffic } = await get(signpost, '/v1/services/web');
    expect(traffic).toEqual([
      { priority: 0, instances: [{ id: 'b', weight: 30, share: 0.75 }, { id: 'a', weight: 10, share: 0.25 }] },
      { priority: 5, instances: [{ id: 'backup-1', weight: 0, share: 0.5 }, { id: 'backup-2', weight: 0, share: 0.5 }] },
    ]);
  });

  it('trafficSplit: weight 0 beside weighted instances is never listed first', () => {
    const answerable = (id: string, priority: number, weight: number): Answerable => ({ instance: { id, priority } as Instance, weight });
    expect(trafficSplit([answerable('zero', 0, 0), answerable('one', 0, 1), answerable('three', 0, 3)])).toEqual([
      { priority: 0, instances: [{ id: 'three', weight: 3, share: 0.75 }, { id: 'one', weight: 1, share: 0.25 }, { id: 'zero', weight: 0, share: 0 }] },
    ]);
    expect(trafficSplit([])).toEqual([]);
  });
});
