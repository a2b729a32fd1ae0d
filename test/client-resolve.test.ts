// signpost/client finding instances on a real Signpost: over HTTP and over DNS, RFC 2782 picks,
// answers cached for their TTL and refreshed before they expire, the last answer kept in an outage.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Picker, pickOrder, SignpostClient, SignpostError, type ServiceInstance } from '../src/client/index.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { failure } from './helpers/failure.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;
let proxy: TestProxy;
let http: SignpostClient;
let dns: SignpostClient;

async function register(target: TestSignpost, service: string, id: string, body: Record<string, unknown>): Promise<void> {
  const response = await target.register(service, id, { address: '127.0.0.1', port: 8000, ttl: 60, ...body });
  expect(response.status, await response.clone().text()).toBe(200);
}

/** True when `promise` settled before the event loop turned: it was answered from memory, without waiting on I/O. */
async function withoutIo<T>(promise: Promise<T>): Promise<{ value: T; immediate: boolean }> {
  let immediate = true;
  const turned = new Promise<void>((resolve) => setImmediate(() => ((immediate = false), resolve())));
  const value = await promise;
  const answer = { value, immediate };
  await turned;
  return answer;
}

const summary = (instances: readonly ServiceInstance[]) =>
  instances.map(({ id, address, port, priority, weight, target }) => ({ id, address, port, priority, weight, target })).sort((a, b) => a.id.localeCompare(b.id));

beforeAll(async () => {
  signpost = await startTestSignpost({ ...NO_OVERLOAD_GUARD, domain: 'corp.test' });
  proxy = await startProxy(signpost.http.port);
  http = new SignpostClient({ url: proxy.url, domain: 'corp.test' });
  dns = new SignpostClient({ url: proxy.url, dns: `127.0.0.1:${signpost.dns.port}`, domain: 'corp.test' });
  await register(signpost, 'web', 'web-a', { port: 8001, weight: 10, tags: ['v1'] });
  await register(signpost, 'web', 'web-b', { port: 8002, weight: 30, tags: ['v2'] });
  await register(signpost, 'web', 'web-c', { address: '::1', port: 8003, weight: 60, tags: ['v2'] });
  await register(signpost, 'web', 'web-backup', { port: 8004, weight: 100, priority: 1 });
  await register(signpost, 'web', 'web-sick', { port: 8005 });
  await register(signpost, 'web', 'web-off', { port: 8006 });
  await fetch(`${signpost.url}/v1/services/web/instances/web-sick/heartbeat`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'critical', note: 'db down' }),
  });
  await fetch(`${signpost.url}/v1/services/web/instances/web-off/maintenance`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enabled: true, reason: 'upgrade' }),
  });
});

afterAll(async () => {
  await Promise.all([http?.close(), dns?.close()]);
  await proxy?.close();
  await signpost?.close();
});

describe('resolve', () => {
  it('over HTTP: the instances DNS would answer with, with tags, meta and status', async () => {
    const instances = await http.resolve('web');
    expect(summary(instances).map((instance) => instance.id)).toEqual(['web-a', 'web-b', 'web-backup', 'web-c']);
    expect(instances.find((instance) => instance.id === 'web-c')).toMatchObject({ address: '::1', port: 8003, weight: 60, tags: ['v2'], status: 'passing', target: 'web-c.web.instance.corp.test' });
    expect(summary(await http.resolve('web', { tag: 'v2' })).map((instance) => instance.id)).toEqual(['web-b', 'web-c']);
  });

  it('over DNS: the same instances (SRV, then A or AAAA of each target), and the tag filter', async () => {
    expect(summary(await dns.resolve('web'))).toEqual(summary(await http.resolve('web')));
    expect(summary(await dns.resolve('web', { tag: 'v2' })).map((instance) => `${instance.id} ${instance.address}`)).toEqual(['web-b 127.0.0.1', 'web-c ::1']);
  });

  it('a tag in another case than registered (Consul keeps the case) finds it over HTTP as over DNS', async () => {
    const consul = await fetch(`${signpost.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'cased', ID: 'cased-1', Address: '127.0.0.1', Port: 9000, Tags: ['Canary'] }),
    });
    expect(consul.status).toBe(200);
    for (const client of [http, dns]) {
      for (const tag of ['Canary', 'canary']) expect((await client.resolve('cased', { tag })).map((instance) => instance.id)).toEqual(['cased-1']);
    }
  });

  it('an unknown service: resolve gives none, pick rejects with code no-instances', async () => {
    for (const client of [http, dns]) {
      expect(await client.resolve('ghost')).toEqual([]);
      const error = await failure(client.pick('ghost'));
      expect(error).toMatchObject({ code: 'no-instances', message: 'no healthy instance of service ghost' });
    }
  });
});

describe('pick', () => {
  it('chooses within the best priority, in proportion to weight (RFC 2782)', async () => {
    for (const client of [http, dns]) {
      const counts: Record<string, number> = {};
      const picks = 20_000;
      for (let i = 0; i < picks; i++) {
        const { id } = await client.pick('web');
        counts[id] = (counts[id] ?? 0) + 1;
      }
      expect(counts['web-backup']).toBeUndefined();
      // Weights 10/30/60 of the priority-0 tier; 0.015 is over six standard deviations at 20,000 picks.
      for (const [id, share] of [['web-a', 0.1], ['web-b', 0.3], ['web-c', 0.6]] as const) {
        expect(Math.abs(counts[id] / picks - share), id).toBeLessThan(0.015);
      }
    }
  });

  it('answers from memory: no request and no DNS query while the answer is fresh', async () => {
    await http.resolve('web');
    await dns.resolve('web');
    const requests = proxy.requests.length;
    const dnsReplies = async () => Number(/signpost_dns_replies_total\{[^}]*transport="udp"[^}]*rcode="NOERROR"[^}]*\} (\d+)/.exec(await (await fetch(`${signpost.url}/metrics`)).text())?.[1]);
    const before = await dnsReplies();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 1_000; i++) {
      for (const client of [http, dns]) expect((await withoutIo(client.pick('web'))).immediate).toBe(true);
    }
    expect(proxy.requests.slice(requests).filter((line) => line !== 'GET /metrics')).toEqual([]);
    expect(await dnsReplies()).toBe(before);
  });
});

describe('Picker and pickOrder (no server)', () => {
  const draw = (instances: Array<{ id: string; priority: number; weight: number }>, picks: number) => {
    const picker = new Picker(instances);
    const counts: Record<string, number> = {};
    for (let i = 0; i < picks; i++) {
      const { id } = picker.pick()!;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    return counts;
  };

  it('gives zero-weight instances the small chance RFC 2782 does (1 in total+1), shared among them', () => {
    const counts = draw([{ id: 'heavy', priority: 0, weight: 9 }, { id: 'zero-1', priority: 0, weight: 0 }, { id: 'zero-2', priority: 0, weight: 0 }], 100_000);
    expect(Math.abs((counts['zero-1'] + counts['zero-2']) / 100_000 - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(counts['zero-1'] / (counts['zero-1'] + counts['zero-2']) - 0.5)).toBeLessThan(0.03);
  });

  it('chooses evenly when every weight is 0, and nothing from an empty list', () => {
    const counts = draw([{ id: 'a', priority: 3, weight: 0 }, { id: 'b', priority: 3, weight: 0 }, { id: 'c', priority: 4, weight: 50 }], 20_000);
    expect(counts.c).toBeUndefined();
    expect(Math.abs(counts.a / 20_000 - 0.5)).toBeLessThan(0.02);
    expect(new Picker([]).pick()).toBeUndefined();
  });

  it('pickOrder lists every instance, priorities in order, the heavier first more often', () => {
    const instances = [{ id: 'p1', priority: 1, weight: 1 }, { id: 'light', priority: 0, weight: 1 }, { id: 'heavy', priority: 0, weight: 99 }];
    let heavyFirst = 0;
    for (let i = 0; i < 1000; i++) {
      const order = pickOrder(instances).map((instance) => instance.id);
      expect(order.slice(2)).toEqual(['p1']);
      expect([...order].sort()).toEqual(['heavy', 'light', 'p1']);
      if (order[0] === 'heavy') heavyFirst++;
    }
    expect(heavyFirst).toBeGreaterThan(950);
  });
});

describe('cache lifetime', () => {
  let short: TestSignpost;
  let shortProxy: TestProxy;

  beforeAll(async () => {
    // Answers kept 3 s, refreshed after 2.25: a pick waits only if the process stalls 0.75 s.
    short = await startTestSignpost({ ...NO_OVERLOAD_GUARD, dnsTtl: 3 });
    shortProxy = await startProxy(short.http.port);
    await register(short, 'api', 'api-1', { port: 9001 });
  });

  afterAll(async () => {
    await shortProxy?.close();
    await short?.close();
  });

  it('refreshes an answer in steady use before it expires: a new instance shows up and no pick waits', async () => {
    const client = new SignpostClient({ url: shortProxy.url, dns: `127.0.0.1:${short.dns.port}` });
    try {
      expect((await client.resolve('api')).map((instance) => instance.id)).toEqual(['api-1']);
      await register(short, 'api', 'api-2', { port: 9002, weight: 10_000 });
      for (;;) {
        const { value, immediate } = await withoutIo(client.pick('api'));
        expect(immediate).toBe(true);
        if (value.id === 'api-2') break;
        await sleep(50);
      }
    } finally {
      await client.close();
    }
  });

  it('keeps serving the last answer while no server answers, and says so with an error event', async () => {
    const client = new SignpostClient({ url: shortProxy.url, requestTimeout: 500 });
    const errors: SignpostError[] = [];
    client.on('error', (error: SignpostError) => errors.push(error));
    try {
      const before = await client.resolve('api');
      await shortProxy.cut();
      let after = before;
      while (errors.length === 0) {
        after = await client.resolve('api');
        await sleep(100);
      }
      expect(after).toEqual(before);
      expect(errors[0]).toMatchObject({ code: 'unavailable' });
      expect((await client.pick('api')).service).toBe('api');
    } finally {
      await shortProxy.restore();
      await client.close();
    }
  });
});
