// Signpost's Consul HTTP API on the wire: JSON shapes, headers, plain-text errors, tokens, and
// blocking queries that wake only when their answer changes. Real clients: test/consul-client.test.ts
// (npm consul) and test/consul-scrape.test.ts (VictoriaMetrics).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { eventually } from './helpers/wait.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

/** No overload guard: on a loaded machine a fresh server's start-up counts as event-loop lag. */
const QUIET = { httpMaxEventLoopDelay: 0 };

function client(signpost: TestSignpost, headers: Record<string, string> = {}) {
  return (method: string, path: string, body?: unknown) =>
    fetch(`${signpost.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
}

const index = (response: Response) => Number(response.headers.get('x-consul-index'));

describe('Consul API: shapes and mapping', () => {
  let signpost: TestSignpost;
  let call: ReturnType<typeof client>;
  beforeAll(async () => {
    signpost = await startTestSignpost({ ...QUIET, nodeName: 'node-1', datacenter: 'dc7' });
    call = client(signpost);
  });
  afterAll(() => signpost?.close());
  afterEach(async () => {
    for (const name of [...signpost.registry.serviceNames()]) {
      for (const instance of signpost.registry.instances(name) ?? []) await signpost.registry.deregister(name, instance.id);
    }
  });

  it('registers as Consul does (field names in any case), answers with Consul shapes and headers, and shows it natively', async () => {
    const put = await call('PUT', '/v1/agent/service/register', {
      name: 'Web', ID: 'Web-1', address: '10.0.0.1', PORT: 8080, tags: ['v1', 'Env=Prod'], meta: { version: '2' },
      weights: { passing: 10, warning: 2 },
      check: { ttl: '15s', deregister_critical_service_after: '90s', Status: 'passing' },
    });
    expect([put.status, await put.text(), put.headers.get('content-type')]).toEqual([200, '', null]);

    const health = await call('GET', '/v1/health/service/WEB');
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(index(health)).toBeGreaterThanOrEqual(1);
    expect(health.headers.get('x-consul-knownleader')).toBe('true');
    expect(health.headers.get('x-consul-lastcontact')).toBe('0');
    const [entry] = await health.json();
    expect(entry.Node).toMatchObject({ Node: 'node-1', Datacenter: 'dc7', Address: '127.0.0.1', TaggedAddresses: { lan: '127.0.0.1' }, Meta: {} });
    // Names are stored lower case: that is what every answer shows. Tags keep their case.
    expect(entry.Service).toMatchObject({ ID: 'web-1', Service: 'web', Address: '10.0.0.1', Port: 8080, Tags: ['v1', 'Env=Prod'], Meta: { version: '2' }, Weights: { Passing: 10, Warning: 2 } });
    expect(entry.Checks.map((check: { CheckID: string; Status: string; Type: string }) => [check.CheckID, check.Status, check.Type])).toEqual([
      ['serfHealth', 'passing', ''],
      ['service:web-1', 'passing', 'ttl'],
    ]);

    const native = (await (await fetch(`${signpost.url}/v1/services/web`)).json()).instances[0];
    expect(native).toMatchObject({ id: 'web-1', weight: 10, warningWeight: 2, ttl: 15, deregisterCriticalAfter: 90, status: 'passing' });
    expect(await (await call('GET', '/v1/catalog/services')).json()).toEqual({ web: ['Env=Prod', 'v1'] });
    const [node] = await (await call('GET', '/v1/catalog/service/web?tag=env%3Dprod')).json();
    expect(node).toMatchObject({ Node: 'node-1', Datacenter: 'dc7', ServiceID: 'web-1', ServiceName: 'web', ServicePort: 8080, ServiceWeights: { Passing: 10, Warning: 2 } });
    expect(await (await call('GET', '/v1/catalog/service/web?tag=v1&tag=nope')).json()).toEqual([]);
    expect(Object.keys(await (await call('GET', '/v1/agent/services')).json())).toEqual(['web-1']);
    expect(await (await call('GET', '/v1/agent/checks')).json()).toMatchObject({ 'service:web-1': { Status: 'passing', ServiceName: 'web' } });
    const agentService = await call('GET', '/v1/agent/service/web-1');
    expect(agentService.headers.get('x-consul-contenthash')).toBe((await agentService.json()).ContentHash);
    expect(await (await call('GET', '/v1/catalog/datacenters')).json()).toEqual(['dc7']);
    expect((await (await call('GET', '/v1/catalog/nodes')).json())[0]).toMatchObject({ Node: 'node-1' });
    expect((await (await call('GET', '/v1/agent/self')).json()).Config).toMatchObject({ Datacenter: 'dc7', NodeName: 'node-1' });

    // A warning instance is published at its warning weight.
    expect((await call('PUT', '/v1/agent/check/warn/service%3Aweb-1?note=slow')).status).toBe(200);
    expect((await signpost.resolver().resolveSrv('_web._tcp.service.local'))[0].weight).toBe(2);
    const update = await call('PUT', '/v1/agent/check/update/service:web-1', { status: 'passing', output: 'fine' });
    expect(update.status).toBe(200);
    expect((await signpost.resolver().resolveSrv('_web._tcp.service.local'))[0].weight).toBe(10);
  });

  it('maps what Consul allows that Signpost models differently: no check, HTTP checks, maintenance, re-registration', async () => {
    // No check: lives until deregistered, passing, with only the node's check.
    expect((await call('PUT', '/v1/agent/service/register', { Name: 'db', Address: '10.0.0.5', Port: 5432 })).status).toBe(200);
    expect(signpost.registry.get('db', 'db')).toMatchObject({ ttl: 0, status: 'passing', expiresAt: null });
    const [db] = await (await call('GET', '/v1/health/service/db')).json();
    expect(db.Checks.map((check: { CheckID: string }) => check.CheckID)).toEqual(['serfHealth']);
    expect((await call('PUT', '/v1/agent/check/pass/service:db')).status).toBe(404);
    // Natively, a heartbeat has no lease to renew: 409.
    expect((await fetch(`${signpost.url}/v1/services/db/instances/db/heartbeat`, { method: 'PUT' })).status).toBe(409);

    // An HTTP check is Signpost's active check; it starts critical.
    const http = { HTTP: 'http://127.0.0.1:1/health', Interval: '90s', Timeout: '1500ms', FailuresBeforeCritical: 2 };
    expect((await call('PUT', '/v1/agent/service/register', { Name: 'api', Address: '10.0.0.6', Port: 80, Checks: [http] })).status).toBe(200);
    expect(signpost.registry.get('api', 'api')!.check).toMatchObject({ http: http.HTTP, interval: 90, timeout: 1.5, failuresBeforeCritical: 2 });
    const [apiCheck] = await (await call('GET', '/v1/health/checks/api')).json();
    expect(apiCheck).toMatchObject({ CheckID: 'service:api', Type: 'http', Interval: '1m30s', Timeout: '1.5s', Status: 'critical' });
    const notTtl = await call('PUT', '/v1/agent/check/pass/service:api');
    expect([notTtl.status, await notTtl.text()]).toEqual([500, 'CheckID "service:api" does not have associated TTL']);

    // Maintenance is a critical check of Consul's name; ?passing leaves the instance out.
    expect((await call('PUT', '/v1/agent/service/maintenance/db?enable=true&reason=backup')).status).toBe(200);
    const [inMaintenance] = await (await call('GET', '/v1/health/service/db')).json();
    expect(inMaintenance.Checks[1]).toMatchObject({ CheckID: '_service_maintenance:db', Status: 'critical', Notes: 'backup' });
    expect(await (await call('GET', '/v1/health/service/db?passing')).json()).toEqual([]);
    expect((await call('PUT', '/v1/agent/service/maintenance/db?enable=false')).status).toBe(200);
    expect(await (await call('GET', '/v1/health/service/db?passing=true')).json()).toHaveLength(1);

    // Re-registering without checks keeps the existing one, unless ?replace-existing-checks.
    await call('PUT', '/v1/agent/service/register', { Name: 'web', Address: '10.0.0.1', Port: 80, Check: { TTL: '10s' } });
    await call('PUT', '/v1/agent/service/register', { Name: 'web', Address: '10.0.0.1', Port: 81 });
    expect(signpost.registry.get('web', 'web')).toMatchObject({ port: 81, ttl: 10 });
    await call('PUT', '/v1/agent/service/register?replace-existing-checks', { Name: 'web', Address: '10.0.0.1', Port: 81 });
    expect(signpost.registry.get('web', 'web')).toMatchObject({ ttl: 0, status: 'passing' });

    // Registered natively (heartbeats): in the catalog, with its lease as a TTL check.
    await signpost.register('pay', 'pay-1', { address: '10.0.0.9', port: 443, ttl: 30 });
    const [pay] = await (await call('GET', '/v1/health/service/pay')).json();
    expect(pay.Checks[1]).toMatchObject({ CheckID: 'service:pay-1', Type: 'ttl', Status: 'passing' });
    expect((await call('PUT', '/v1/agent/service/deregister/pay-1')).status).toBe(200);
    expect(signpost.registry.hasService('pay')).toBe(false);
  });

  it('refuses bad input with Consul-shaped plain-text 400s and stores nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{"Name": ', /^Request decode failed: /],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Frob: 1 }, /^Request decode failed: json: unknown field "Frob"$/],
      [{ Name: 'web', Port: '80', Address: '10.0.0.1' }, /^Request decode failed: Port must be integer/],
      [{ Port: 80 }, /^Missing service name$/],
      [{ Name: 'My_Service', Port: 80 }, /^Invalid service name "My_Service": every Signpost service is a DNS name/],
      [{ Name: 'web', ID: 'web:1', Port: 80 }, /^Invalid service ID "web:1"/],
      [{ Name: 'web', Port: 80, Address: 'web.internal' }, /must be an IPv4 or IPv6 address/],
      [{ Name: 'web', Port: 80, Address: '0.0.0.0' }, /^Invalid service address$/],
      [{ Name: 'web', Address: '10.0.0.1' }, /Port must be 1-65535/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Weights: { Passing: 0, Warning: 1 } }, /^Invalid Weights: Passing must be greater than 0$/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Meta: { 'bad key': 'x' } }, /^Invalid Service Meta: Meta\.bad key/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { TTL: 'soon' } }, /^Request decode failed: TTL: time: invalid duration "soon"$/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { TTL: '10s', Interval: '10s' } }, /^Invalid check: Interval and TTL cannot both be specified$/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { HTTP: 'http://x/' } }, /^Invalid check: Interval must be > 0/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { GRPC: 'x:1', Interval: '5s' } }, /^Invalid check: gRPC checks are not supported/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Checks: [{ TTL: '5s' }, { TCP: 'x:1', Interval: '5s' }] }, /one check per service/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { TTL: '5s', CheckID: 'web-ttl' } }, /^Invalid check: CheckID "web-ttl"/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Check: { TTL: '5s', Status: 'fine' } }, /^Status for checks must 'passing', 'warning', 'critical'$/],
      [{ Name: 'web', Port: 80, Address: '10.0.0.1', Kind: 'connect-proxy' }, /Kind "connect-proxy" is not supported/],
    ];
    for (const [body, message] of cases) {
      const response = await call('PUT', '/v1/agent/service/register', body);
      const text = await response.text();
      expect([response.status, response.headers.get('content-type')], text).toEqual([400, 'text/plain; charset=utf-8']);
      expect(text).toMatch(message);
    }
    expect([...signpost.registry.serviceNames()]).toEqual([]);

    const expectations: Array<[string, string, number, string | RegExp]> = [
      ['PUT', '/v1/agent/service/deregister/nope', 404, 'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.'],
      ['PUT', '/v1/agent/check/pass/service:nope', 404, 'Unknown check ID "service:nope". Ensure that the check ID is passed, not the check name.'],
      ['PUT', '/v1/agent/service/maintenance/nope', 400, 'Missing value for enable'],
      ['PUT', '/v1/agent/service/maintenance/nope?enable=maybe', 400, 'Invalid value for enable: "maybe"'],
      ['GET', '/v1/agent/service/nope', 404, 'unknown service ID: nope'],
      ['GET', '/v1/health/service/web?index=x', 400, 'Invalid index'],
      ['GET', '/v1/health/service/web?index=1&wait=10', 400, 'Invalid wait time'],
      ['GET', '/v1/health/service/web?passing=maybe', 400, 'Invalid value for ?passing'],
      ['GET', '/v1/catalog/services?dc=other', 500, 'No path to datacenter'],
      ['GET', '/v1/catalog/services?filter=Service%20%3D%3D%20web', 400, /filter expressions are not supported/],
    ];
    for (const [method, path, status, text] of expectations) {
      const response = await call(method, path);
      expect(response.status, path).toBe(status);
      expect(await response.text()).toMatch(text);
    }
    const update = await call('PUT', '/v1/agent/check/update/service:nope', { Status: 'fine' });
    expect([update.status, await update.text()]).toEqual([400, "Invalid check status: 'fine'"]);

    // Outside the subset: a 404 with a JSON body that says so, never a silent 200.
    for (const path of ['/v1/kv/config', '/v1/agent/members', '/v1/session/list']) {
      const response = await call('GET', path);
      expect(response.status).toBe(404);
      expect((await response.json()).message).toMatch(/is not supported: Signpost serves the service-discovery subset of Consul's HTTP API/);
    }
  });
});

describe('Consul API: blocking queries', () => {
  let signpost: TestSignpost;
  let call: ReturnType<typeof client>;
  beforeAll(async () => {
    signpost = await startTestSignpost(QUIET);
    call = client(signpost);
  });
  afterAll(() => signpost?.close());

  const register = (name: string, id: string, extra: object = {}) =>
    call('PUT', '/v1/agent/service/register', { Name: name, ID: id, Address: '10.0.0.1', Port: 80, Check: { TTL: '60s', Status: 'passing' }, ...extra });

  it('answers at once without an index, holds with one until the answer changes, and wakes for nothing else', async () => {
    await register('web', 'web-1');
    const first = await call('GET', '/v1/health/service/web');
    const at = index(first);

    // Changes elsewhere (another service, a heartbeat that changes nothing, settings) do not wake it;
    // the registration of web-2 does. Had it woken earlier, its answer would lack web-2.
    const held = call('GET', `/v1/health/service/web?index=${at}&wait=30s`);
    const catalogHeld = call('GET', `/v1/catalog/service/web?index=${index(await call('GET', '/v1/catalog/service/web'))}&wait=30s`);
    const passingHeld = call('GET', `/v1/health/service/web?passing&index=${at}&wait=30s`);
    const other = call('GET', `/v1/health/service/api?index=${index(await call('GET', '/v1/health/service/api'))}&wait=30s`);
    await register('api', 'api-1');
    expect((await (await other).json()).map((entry: { Service: { ID: string } }) => entry.Service.ID)).toEqual(['api-1']);
    expect((await call('PUT', '/v1/agent/check/pass/service:web-1')).status).toBe(200);
    expect((await fetch(`${signpost.url}/v1/services/web/settings`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"warmup": 0}' })).status).toBe(200);
    // A health change wakes health readers, not catalog readers; a note change on a critical
    // instance is not in a ?passing answer.
    await register('web', 'web-9');
    expect((await call('PUT', '/v1/agent/check/warn/service:web-1?note=slow')).status).toBe(200);
    await register('web', 'web-2');
    const woken = await held;
    expect(index(woken)).toBeGreaterThan(at);
    const ids = (await woken.json()).map((entry: { Service: { ID: string } }) => entry.Service.ID);
    // It woke on web-9's registration (the first change to its answer after api's and the settings).
    expect(ids).toEqual(['web-1', 'web-9']);
    expect((await (await catalogHeld).json()).map((entry: { ServiceID: string }) => entry.ServiceID)).toEqual(['web-1', 'web-9']);
    expect((await (await passingHeld).json()).map((entry: { Service: { ID: string } }) => entry.Service.ID)).toEqual(['web-1', 'web-9']);

    // A catalog reader sleeps through health changes and wakes at the next registration.
    const catalogAt = index(await call('GET', '/v1/catalog/service/web'));
    const catalogNext = call('GET', `/v1/catalog/service/web?index=${catalogAt}&wait=30s`);
    expect((await call('PUT', '/v1/agent/check/fail/service:web-1')).status).toBe(200);
    await register('web', 'web-3');
    expect((await (await catalogNext).json()).map((entry: { ServiceID: string }) => entry.ServiceID)).toEqual(['web-1', 'web-2', 'web-3', 'web-9']);

    // catalog/services wakes when a service or a tag appears, not for another instance with known tags.
    const servicesAt = index(await call('GET', '/v1/catalog/services'));
    const services = call('GET', `/v1/catalog/services?index=${servicesAt}&wait=30s`);
    await register('web', 'web-4');
    await register('web', 'web-5', { Tags: ['blue'] });
    expect(await (await services).json()).toEqual({ api: [], web: ['blue'] });
  });

  it('returns the same answer and index when the wait ends, and at once for an index it does not have', async () => {
    await register('quiet', 'quiet-1');
    const first = await call('GET', '/v1/health/service/quiet');
    const after = await call('GET', `/v1/health/service/quiet?index=${index(first)}&wait=200ms`);
    expect(index(after)).toBe(index(first));
    expect(await after.json()).toEqual(await first.json());
    // An index ahead of this server's (another server's, say): answered at once with the lower
    // index, which Consul clients take as a reset.
    const ahead = await call('GET', `/v1/health/service/quiet?index=${index(first) + 1000}&wait=10m`);
    expect(index(ahead)).toBe(index(first));
    // A service nobody registered yet: X-Consul-Index still at least 1, and a watch wakes when it appears.
    const none = await call('GET', '/v1/health/service/later');
    expect(index(none)).toBeGreaterThanOrEqual(1);
    const later = call('GET', `/v1/health/service/later?index=${index(none)}&wait=30s`);
    await register('later', 'later-1');
    expect(await (await later).json()).toHaveLength(1);
  });

  it('wakes a held read of one service with a 404 when it is deregistered, and refuses a bad flag before holding', async () => {
    await register('gone', 'gone-1');
    const first = await call('GET', '/v1/agent/service/gone-1');
    const held = call('GET', `/v1/agent/service/gone-1?index=${index(first)}&wait=5m`);
    // Another read holds the same way; answering it proves the first is already waiting.
    const other = call('GET', `/v1/health/service/gone?index=${index(await call('GET', '/v1/health/service/gone'))}&wait=5m`);
    expect((await call('PUT', '/v1/agent/service/deregister/gone-1')).status).toBe(200);
    expect(await (await other).json()).toEqual([]);
    const woken = await held;
    expect(woken.status).toBe(404);
    expect(await woken.text()).toContain('gone-1');

    const bad = await call('GET', `/v1/health/service/gone?passing=maybe&index=${index(first)}&wait=5m`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('passing');
  });
});

describe('Consul API: tokens', () => {
  let signpost: TestSignpost;
  let dir: string;
  const WRITE = 'web-writer-token-0123456789';
  const READ = 'reader-token-0123456789abc';
  const logged: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'signpost-consul-tokens-'));
    writeFileSync(join(dir, 'tokens'), `${WRITE} web\n${READ} read\n`);
    // Every request is logged (debug), into `logged`: a token must never appear there.
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
    signpost = await startTestSignpost({ ...QUIET, tokenFile: join(dir, 'tokens'), readRequiresToken: true }, { logger });
  });
  afterAll(async () => {
    await signpost?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes ?token=, X-Consul-Token and Authorization: Bearer, and answers 403 as Consul does', async () => {
    const body = { Name: 'web', Address: '10.0.0.1', Port: 80 };
    const anonymous = await client(signpost)('PUT', '/v1/agent/service/register', body);
    expect([anonymous.status, await anonymous.text()]).toEqual([403, `Permission denied: anonymous token lacks permission 'service:write' on "web"`]);
    const unknown = await client(signpost, { 'x-consul-token': 'not-a-known-token-at-all' })('PUT', '/v1/agent/service/register', body);
    expect([unknown.status, await unknown.text()]).toEqual([403, 'ACL not found']);
    const reader = await client(signpost, { authorization: `Bearer ${READ}` })('PUT', '/v1/agent/service/register', body);
    expect([reader.status, await reader.text()]).toEqual([403, `Permission denied: token lacks permission 'service:write' on "web"`]);
    const otherService = await client(signpost, { 'x-consul-token': WRITE })('PUT', '/v1/agent/service/register', { ...body, Name: 'pay' });
    expect(otherService.status).toBe(403);
    expect([...signpost.registry.serviceNames()]).toEqual([]);

    expect((await client(signpost, { 'x-consul-token': WRITE })('PUT', '/v1/agent/service/register', body)).status).toBe(200);
    expect((await client(signpost)('PUT', `/v1/agent/check/pass/service:web?token=${WRITE}`)).status).toBe(404);
    expect((await client(signpost)('PUT', `/v1/agent/service/maintenance/web?enable=true&token=${WRITE}`)).status).toBe(200);
    expect((await client(signpost, { authorization: `Bearer ${WRITE}` })('PUT', '/v1/agent/service/deregister/web')).status).toBe(200);
    // A registration may carry its token in the body, as Consul's may.
    expect((await client(signpost)('PUT', '/v1/agent/service/register', { ...body, Token: WRITE })).status).toBe(200);

    // Reads follow --read-requires-token.
    expect((await client(signpost)('GET', '/v1/catalog/services')).status).toBe(403);
    expect((await client(signpost, { authorization: `Bearer ${READ}` })('GET', '/v1/catalog/services')).status).toBe(200);
    expect((await client(signpost)('GET', `/v1/health/service/web?token=${READ}`)).status).toBe(200);

    // Calls outside the subset and wrong methods get Consul's answers, not the native bearer check's 401.
    const unsupported = await client(signpost)('PUT', `/v1/catalog/register?token=${WRITE}`, {});
    expect(unsupported.status).toBe(404);
    expect(await unsupported.text()).toContain('is not supported');
    const wrongMethod = await client(signpost, { 'x-consul-token': WRITE })('POST', '/v1/agent/service/register', body);
    expect(wrongMethod.status).toBe(405);

    // Requests are logged, and no token with them, whichever way it came.
    const log = logged.join('');
    expect(log).toContain('/v1/agent/service/maintenance/web?enable=true&token=redacted');
    for (const token of [WRITE, READ]) expect(log).not.toContain(token);
  });
});

describe('Consul API: the index in a cluster', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd(1);
  }, 30_000);
  afterAll(() => etcd?.close());

  it('is the same on every node for the same change, and never goes back across a restart', async () => {
    const config = { ...QUIET, store: etcd.storeUrl as `etcd://${string}`, etcdPrefix: '/consul-index/' };
    const a = await startTestSignpost(config);
    let b = await startTestSignpost(config);
    try {
      expect((await client(a)('PUT', '/v1/agent/service/register', { Name: 'web', ID: 'web-1', Address: '10.0.0.1', Port: 80, Check: { TTL: '60s' } })).status).toBe(200);
      expect((await client(a)('PUT', '/v1/agent/check/pass/service:web-1')).status).toBe(200);
      const onA = index(await client(a)('GET', '/v1/health/service/web'));
      const onB = await eventually(async () => {
        const response = await client(b)('GET', '/v1/health/service/web');
        const [entry] = await response.json();
        return entry?.Checks[1]?.Status === 'passing' ? index(response) : undefined;
      });
      expect(onB).toBe(onA);
      await b.close();
      b = await startTestSignpost(config);
      expect(index(await client(b)('GET', '/v1/health/service/web'))).toBeGreaterThanOrEqual(onA);

      // etcd is the leader a node knows: while it cannot be reached, reads say so as Consul's do.
      const known = await client(a)('GET', '/v1/health/service/web');
      expect([known.headers.get('x-consul-knownleader'), known.headers.get('x-consul-lastcontact')]).toEqual(['true', '0']);
      const [member] = etcd.members;
      await member.stop('SIGKILL');
      const lost = await eventually(async () => {
        const response = await client(a)('GET', '/v1/health/service/web');
        return response.headers.get('x-consul-knownleader') === 'false' ? response : undefined;
      });
      expect(lost.status).toBe(200);
      expect(Number(lost.headers.get('x-consul-lastcontact'))).toBeGreaterThanOrEqual(0);
      expect(await (await client(a)('GET', '/healthz')).json()).toMatchObject({ store: 'unavailable' });
      await member.start();
      await eventually(async () => ((await client(a)('GET', '/v1/health/service/web')).headers.get('x-consul-knownleader') === 'true' ? true : undefined));
    } finally {
      await a.close();
      await b.close();
    }
  });
});
