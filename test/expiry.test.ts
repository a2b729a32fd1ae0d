// Leases on the real server: expiry takes an instance out of DNS at once, heartbeats keep it,
// and the grace period deletes it. Each step awaits the registry event that marks it.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

let signpost: TestSignpost;

beforeEach(async () => {
  signpost = await startTestSignpost({ gracePeriod: 1 });
});

afterEach(() => signpost.close());

const heartbeat = (id: string) => fetch(`${signpost.url}/v1/services/cart/instances/${id}/heartbeat`, { method: 'PUT' });
const untilPast = (epochMs: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));

it('an expired lease leaves DNS at once (service and instance names), shows critical, then is deleted', async () => {
  await signpost.register('cart', 'stays', { address: '10.1.1.1', port: 80, ttl: 3600 });
  await signpost.register('cart', 'leaves', { address: '10.1.1.2', port: 80, ttl: 1 });
  expect((await signpost.resolver().resolve4('cart.service.local')).sort()).toEqual(['10.1.1.1', '10.1.1.2']);

  const critical = await signpost.nextEvent((event) => event.type === 'health' && event.instance.id === 'leaves');
  if (critical.type !== 'health') throw new Error('unreachable');
  expect(critical.instance.status).toBe('critical');
  // No sweep interval to wait for: the answer changed when the lease timer fired.
  expect(await signpost.resolver().resolve4('cart.service.local')).toEqual(['10.1.1.1']);
  expect((await signpost.resolver().resolveSrv('_cart._tcp.service.local')).map((record) => record.name)).toEqual(['stays.cart.instance.local']);
  await expect(signpost.resolver().resolve4('leaves.cart.instance.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  const listed = await (await fetch(`${signpost.url}/v1/services/cart`)).json();
  expect(listed.instances.find((instance: { id: string }) => instance.id === 'leaves').status).toBe('critical');
  const summary = await (await fetch(`${signpost.url}/v1/services`)).json();
  expect(summary.services).toEqual([{ name: 'cart', instances: 2, healthy: 1, tags: [], protection: { tripped: false, healthyShare: 0.5 } }]);

  const deleted = await signpost.nextEvent((event) => event.type === 'deregister' && event.instance.id === 'leaves');
  expect(deleted).toMatchObject({ reason: 'critical' });
  expect((await heartbeat('leaves')).status).toBe(404);
  expect(signpost.registry.get('cart', 'leaves')).toBeUndefined();
});

it('heartbeats keep an instance past its first deadline', async () => {
  const registered = await (await signpost.register('cart', 'beating', { address: '10.1.1.3', port: 80, ttl: 1 })).json();
  let expired = false;
  const off = signpost.registry.onEvent((event) => {
    if (event.type === 'health') expired = true;
  });
  const firstDeadline = Date.parse(registered.expiresAt);
  const beats = setInterval(() => void heartbeat('beating'), 250);
  try {
    await untilPast(firstDeadline + 1000);
  } finally {
    clearInterval(beats);
    off();
  }
  expect(expired).toBe(false);
  expect(await signpost.resolver().resolve4('cart.service.local')).toEqual(['10.1.1.3']);
});

it('a heartbeat during the grace period brings a critical instance back into DNS', async () => {
  await signpost.register('cart', 'late', { address: '10.1.1.4', port: 80, ttl: 1 });
  await signpost.nextEvent((event) => event.type === 'health' && event.instance.status === 'critical');
  await expect(signpost.resolver().resolve4('cart.service.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  const response = await heartbeat('late');
  expect(response.status).toBe(200);
  expect((await response.json()).status).toBe('passing');
  expect(await signpost.resolver().resolve4('cart.service.local')).toEqual(['10.1.1.4']);
});

it('re-registering replaces the lease rather than adding a second one', async () => {
  await signpost.register('cart', 'again', { address: '10.1.1.5', port: 80, ttl: 1 });
  const replaced = await (await signpost.register('cart', 'again', { address: '10.1.1.6', port: 80, ttl: 3600 })).json();
  expect(replaced.address).toBe('10.1.1.6');
  let healthEvents = 0;
  const off = signpost.registry.onEvent((event) => {
    if (event.type === 'health') healthEvents++;
  });
  await untilPast(Date.now() + 1500);
  off();
  expect(healthEvents).toBe(0);
  expect(await signpost.resolver().resolve4('cart.service.local')).toEqual(['10.1.1.6']);
});
