// `PUT /v1/heartbeats`: many leases renewed in one request, one result per entry, tokens checked per service.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../src/config/limits.ts';
import { NO_OVERLOAD_GUARD, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const WEB = 'web-team-cccccccccccccccccccc';
const READER = 'reader-dddddddddddddddddddd';
const dir = mkdtempSync(path.join(os.tmpdir(), 'signpost-batch-'));
const tokenFile = path.join(dir, 'tokens');

let open: TestSignpost;
let guarded: TestSignpost;

beforeAll(async () => {
  writeFileSync(tokenFile, `${WEB} web,web-*\n${READER} read\n`);
  [open, guarded] = await Promise.all([startTestSignpost(NO_OVERLOAD_GUARD), startTestSignpost({ ...NO_OVERLOAD_GUARD, tokenFile })]);
});

afterAll(async () => {
  await Promise.all([open?.close(), guarded?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function batch(signpost: TestSignpost, body: unknown, token?: string): Promise<Response> {
  return fetch(`${signpost.url}/v1/heartbeats`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

async function registerAll(signpost: TestSignpost, service: string, count: number, ttl = 30): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      signpost.registry.register({ service, id: `${service}-${i}`, address: '10.0.0.1', port: 1000 + i, weight: 1, priority: 0, ttl, tags: [], meta: {} }),
    ),
  );
}

describe('PUT /v1/heartbeats', () => {
  it('renews every entry in request order, records reported status and note, and says 404 for unknown instances', async () => {
    await registerAll(open, 'web', 2);
    await registerAll(open, 'db', 1);
    await registerAll(open, 'forever', 1, 0);
    const response = await batch(open, {
      instances: [
        { service: 'db', id: 'db-0' },
        { service: 'web', id: 'ghost' },
        { service: 'WEB', id: 'Web-1', status: 'warning', note: 'disk 91%' },
        { service: 'web', id: 'web-0' },
        { service: 'forever', id: 'forever-0' },
      ],
    });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Array<Record<string, unknown>> };
    expect(results.map((result) => `${result.service}/${result.id}`)).toEqual(['db/db-0', 'web/ghost', 'web/web-1', 'web/web-0', 'forever/forever-0']);
    expect(results[1]).toEqual({ service: 'web', id: 'ghost', error: 404, message: 'instance ghost of service web is not registered; register it again' });
    expect(results[4]).toMatchObject({ error: 409, message: expect.stringContaining('registered with ttl 0: it has no lease to renew') });
    expect(results[2]).toMatchObject({ status: 'warning' });
    expect(results[3]).toMatchObject({ status: 'passing' });
    for (const index of [0, 2, 3]) {
      const { service, id } = results[index] as { service: string; id: string };
      expect(Date.parse(results[index].expiresAt as string)).toBe(open.registry.get(service, id)!.expiresAt);
    }
    expect(open.registry.get('web', 'web-1')!.health.lease).toMatchObject({ status: 'warning', note: 'disk 91%' });
  });

  it(`takes ${LIMITS.heartbeatBatch.maxEntries.toLocaleString('en')} entries in one request (a body far over --http-max-body)`, async () => {
    const count = LIMITS.heartbeatBatch.maxEntries;
    await registerAll(open, 'many', count);
    const instances = Array.from({ length: count }, (_, i) => ({ service: 'many', id: `many-${i}`, status: 'critical', note: 'draining' }));
    const body = JSON.stringify({ instances });
    expect(body.length).toBeGreaterThan(open.config.httpMaxBody);
    const response = await batch(open, { instances });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Array<{ id: string; status: string }> };
    expect(results).toHaveLength(count);
    expect(results.every((result, i) => result.id === `many-${i}` && result.status === 'critical')).toBe(true);
    expect(open.registry.answerable('many')).toEqual([]);
  });

  it('400 naming the entry and field for a bad entry, and for too many entries; nothing is renewed', async () => {
    await registerAll(open, 'api', 1);
    const before = open.registry.get('api', 'api-0')!.health.lease;
    const bad = await batch(open, { instances: [{ service: 'api', id: 'api-0', status: 'warning' }, { service: 'api', id: 'not a label' }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'instances.1.id', rule: 'pattern' });
    const unknownField = await batch(open, { instances: [{ service: 'api', id: 'api-0', ttl: 3 }] });
    expect(await unknownField.json()).toMatchObject({ field: 'instances.0.ttl', message: 'instances.0.ttl is not a known field' });
    const tooMany = await batch(open, { instances: Array.from({ length: LIMITS.heartbeatBatch.maxEntries + 1 }, () => ({ service: 'api', id: 'api-0' })) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ field: 'instances', rule: 'maxItems' });
    expect((await batch(open, {})).status).toBe(400);
    expect(open.registry.get('api', 'api-0')!.health.lease).toBe(before);
  });

  it('checks the token per entry: 403 for services it may not write, the rest renewed; 401 without a known token', async () => {
    await registerAll(guarded, 'web', 1);
    await registerAll(guarded, 'payments', 1);
    const body = {
      instances: [
        { service: 'payments', id: 'payments-0', status: 'critical' },
        { service: 'web', id: 'web-0', status: 'warning' },
      ],
    };
    const response = await batch(guarded, body, WEB);
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Array<Record<string, unknown>> };
    expect(results[0]).toEqual({ service: 'payments', id: 'payments-0', error: 403, message: 'this token may not write service payments' });
    expect(results[1]).toMatchObject({ service: 'web', id: 'web-0', status: 'warning' });
    expect(guarded.registry.get('payments', 'payments-0')!.status).toBe('passing');
    const reader = (await (await batch(guarded, body, READER)).json()) as { results: Array<{ error?: number }> };
    expect(reader.results.map((result) => result.error)).toEqual([403, 403]);
    expect((await batch(guarded, body)).status).toBe(401);
    expect((await batch(guarded, body, 'not-a-known-token-xxxxxxxxx')).status).toBe(401);
  });

  it('writes nothing to the SQLite store, whatever status the entries report: a heartbeat moves a deadline in memory', async () => {
    const dataDir = path.join(dir, 'data');
    const durable = await startTestSignpost({ ...NO_OVERLOAD_GUARD, store: 'sqlite', dataDir });
    try {
      for (let i = 0; i < 50; i++) expect((await durable.register('db', `db-${i}`, { address: '10.0.0.1', port: 5432, ttl: 30 })).status).toBe(200);
      // Every file of the store (the database, its WAL and shared memory), by size and modification time.
      const files = () => readdirSync(dataDir).map((name) => { const stat = statSync(path.join(dataDir, name)); return `${name} ${stat.size} ${stat.mtimeMs}`; });
      const before = files();
      for (const status of ['warning', 'critical', 'passing', 'warning']) {
        const response = await batch(durable, { instances: Array.from({ length: 50 }, (_, i) => ({ service: 'db', id: `db-${i}`, status, note: status })) });
        const { results } = (await response.json()) as { results: Array<{ status: string }> };
        expect(results.every((result) => result.status === status)).toBe(true);
      }
      expect(durable.registry.get('db', 'db-7')!.health.lease).toMatchObject({ status: 'warning', note: 'warning' });
      expect(files()).toEqual(before);
    } finally {
      await durable.close();
    }
  });
});
