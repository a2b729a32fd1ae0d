// The npm `consul` client, unmodified, against Signpost's Consul HTTP API: what a Node service
// using it does (register with a TTL check, pass it, read health, watch, deregister) works, and
// what it registers answers in DNS.
import Consul from 'consul';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/wait.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

interface HealthEntry {
  Node: { Node: string; Datacenter: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[]; Meta: Record<string, string> };
  Checks: Array<{ CheckID: string; Status: string; Output: string }>;
}

describe('the npm consul client', () => {
  let signpost: TestSignpost;
  let consul: Consul;

  beforeAll(async () => {
    // No overload guard: on a loaded machine a fresh server's start-up counts as event-loop lag.
    signpost = await startTestSignpost({ nodeName: 'node-a', datacenter: 'east', httpMaxEventLoopDelay: 0 });
    consul = new Consul({ host: '127.0.0.1', port: signpost.http.port });
  });
  afterAll(async () => {
    consul?.destroy();
    await signpost?.close();
  });

  it('registers with a TTL check, passes it, reads it passing, watches a change arrive, deregisters', async () => {
    const self = (await consul.agent.self()) as { Config: { Datacenter: string; NodeName: string } };
    expect(self.Config).toMatchObject({ Datacenter: 'east', NodeName: 'node-a' });
    expect(await consul.status.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    // As Consul sends it: a JSON string, which Go's and other strict clients decode.
    const leader = await fetch(`${signpost.url}/v1/status/leader`);
    expect(leader.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(await leader.text())).toMatch(/^127\.0\.0\.1:\d+$/);

    // The client's typings lag behind what it sends (its check options are lower-case Consul fields).
    await consul.agent.service.register({
      name: 'web',
      id: 'web-1',
      address: '127.0.0.1',
      port: 8080,
      tags: ['v1', 'primary'],
      meta: { version: '1.2.3' },
      check: { ttl: '15s', deregistercriticalserviceafter: '1m', notes: 'heartbeats' },
    } as never);
    // A TTL check starts critical, as in Consul: nothing passing until the first pass.
    expect(await consul.health.service({ service: 'web', passing: true })).toEqual([]);
    await consul.agent.check.pass({ id: 'service:web-1', note: 'ready' });

    const entries = (await consul.health.service({ service: 'web', passing: true })) as HealthEntry[];
    expect(entries).toHaveLength(1);
    expect(entries[0].Node).toMatchObject({ Node: 'node-a', Datacenter: 'east' });
    expect(entries[0].Service).toMatchObject({ ID: 'web-1', Service: 'web', Address: '127.0.0.1', Port: 8080, Tags: ['v1', 'primary'], Meta: { version: '1.2.3' } });
    expect(entries[0].Checks.map((check) => [check.CheckID, check.Status, check.Output])).toEqual([
      ['serfHealth', 'passing', 'Agent alive and reachable'],
      ['service:web-1', 'passing', 'ready'],
    ]);
    // Registered through Consul, resolved through DNS.
    expect(await signpost.resolver().resolveSrv('_web._tcp.service.local')).toMatchObject([{ name: 'web-1.web.instance.local', port: 8080, priority: 0, weight: 1 }]);

    // A watch (blocking queries with the last X-Consul-Index) sees a second instance arrive.
    const watch = consul.watch({ method: consul.health.service, options: { service: 'web', passing: 'true', wait: '30s' } });
    const seen: number[] = [];
    const errors: Error[] = [];
    watch.on('change', (data: HealthEntry[]) => seen.push(data.length));
    watch.on('error', (error: Error) => errors.push(error));
    try {
      await eventually(() => (seen.length > 0 ? true : undefined), 10_000, 'the first answer of the watch');
      await consul.agent.service.register({ name: 'web', id: 'web-2', address: '127.0.0.1', port: 8081, check: { ttl: '15s', status: 'passing' } } as never);
      await eventually(() => (seen.includes(2) ? true : undefined), 10_000, 'the watch to see web-2');
    } finally {
      watch.end();
    }
    expect(errors).toEqual([]);
    expect(seen).toEqual([1, 2]);

    // Maintenance takes an instance out of ?passing; the client's errors carry Consul's plain text.
    await consul.agent.service.maintenance({ id: 'web-2', enable: true, reason: 'deploying' });
    expect(((await consul.health.service({ service: 'web', passing: true })) as HealthEntry[]).map((entry) => entry.Service.ID)).toEqual(['web-1']);
    await expect(consul.agent.check.pass({ id: 'service:nope' })).rejects.toMatchObject({ statusCode: 404 });
    await expect(consul.agent.service.register({ name: 'My_Service', port: 1 })).rejects.toMatchObject({ statusCode: 400 });

    const nodes = (await consul.catalog.service.nodes({ service: 'web', tag: 'v1' })) as Array<{ ServiceID: string; Node: string }>;
    expect(nodes.map((entry) => [entry.ServiceID, entry.Node])).toEqual([['web-1', 'node-a']]);
    expect(await consul.catalog.service.list()).toEqual({ web: ['primary', 'v1'] });

    await consul.agent.service.deregister('web-1');
    await consul.agent.service.deregister({ id: 'web-2' });
    expect(await consul.health.service({ service: 'web' })).toEqual([]);
    expect(signpost.registry.instances('web')).toBeUndefined();
  });
});
