// GET /metrics: Prometheus text from a real server, checked against what real clients did to it.
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, Packet, query, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/upstream.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrapes `/metrics` over a real socket and parses the text exposition format. */
async function scrape(signpost: TestSignpost, headers: Record<string, string> = {}): Promise<Sample[]> {
  const response = await fetch(`${signpost.url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples: Sample[] = [];
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(match, `unparseable line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match![2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match![1], labels, value: Number(match![3]) });
  }
  return samples;
}

/** The one sample named `name` whose labels include `labels`; 0 when there is none (a counter not yet seen). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

const WEB = { address: '10.0.0.1', port: 8080 };

describe('/metrics', () => {
  let signpost: TestSignpost;
  beforeAll(async () => {
    signpost = await startTestSignpost();
    expect((await signpost.register('web', 'web-1', WEB)).status).toBe(200);
  });
  afterAll(() => signpost?.close());

  it('counts DNS replies by transport and rcode, as the clients received them', async () => {
    const before = await scrape(signpost);
    const resolver = signpost.resolver();
    for (let i = 0; i < 5; i++) expect(await resolver.resolve4('web.service.local')).toEqual(['10.0.0.1']);
    for (let i = 0; i < 3; i++) expect(decode((await signpost.udp(query(`nosuch${i}.service.local`, 'A')))!).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    // Outside the zone, with forwarding off.
    expect(decode((await signpost.udp(query('example.com', 'A')))!).header.rcode).toBe(Packet.RCODE.REFUSED);
    expect(await signpost.dig('+tcp', '+short', 'web.service.local', 'A')).toBe('10.0.0.1\n');
    const after = await scrape(signpost);
    const delta = (labels: Record<string, string>) => valueOf(after, 'signpost_dns_replies_total', labels) - valueOf(before, 'signpost_dns_replies_total', labels);
    expect(delta({ transport: 'udp', rcode: 'NOERROR' })).toBe(5);
    expect(delta({ transport: 'udp', rcode: 'NXDOMAIN' })).toBe(3);
    expect(delta({ transport: 'udp', rcode: 'REFUSED' })).toBe(1);
    expect(delta({ transport: 'tcp', rcode: 'NOERROR' })).toBe(1);
    // Rcodes not seen yet are listed at 0, so a rate over them works from the start.
    expect(after.some((sample) => sample.name === 'signpost_dns_replies_total' && sample.labels.rcode === 'SERVFAIL' && sample.value === 0)).toBe(true);
  });

  it('counts packets given no reply, and TCP connections while they are open', async () => {
    const before = await scrape(signpost);
    // A response (QR=1) gets nothing back; the normal query after it on the same socket is answered,
    // and UDP is answered in order, so by then the response has been seen.
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    const response = query('web.service.local', 'A', { id: 1 });
    response[2] |= 0x80;
    socket.send(response, signpost.dns.port, '127.0.0.1');
    socket.send(query('web.service.local', 'A', { id: 2 }), signpost.dns.port, '127.0.0.1');
    expect((await reply).readUInt16BE(0)).toBe(2);
    socket.close();
    const connection = await new Promise<net.Socket>((resolve, reject) => {
      const client = net.connect({ host: '127.0.0.1', port: signpost.dns.port }, () => resolve(client));
      client.once('error', reject);
    });
    await expect.poll(async () => valueOf(await scrape(signpost), 'signpost_dns_tcp_connections')).toBe(1);
    const after = await scrape(signpost);
    expect(valueOf(after, 'signpost_dns_ignored_total', { transport: 'udp' }) - valueOf(before, 'signpost_dns_ignored_total', { transport: 'udp' })).toBe(1);
    connection.destroy();
    await expect.poll(async () => valueOf(await scrape(signpost), 'signpost_dns_tcp_connections')).toBe(0);
  });

  it('shows instances by health, services, protection and registry events as they happen', async () => {
    const before = await scrape(signpost);
    const events = (samples: Sample[], type: string) => valueOf(samples, 'signpost_registry_events_total', { type });
    expect((await signpost.register('api', 'api-1', WEB)).status).toBe(200);
    expect((await signpost.register('api', 'api-2', { ...WEB, ttl: 1 })).status).toBe(200);
    const settings = await fetch(`${signpost.url}/v1/services/api/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ protectionThreshold: 0.5 }),
    });
    expect(settings.status).toBe(200);
    let samples = await scrape(signpost);
    expect(valueOf(samples, 'signpost_services')).toBe(2);
    expect(valueOf(samples, 'signpost_services_protection_tripped')).toBe(0);
    expect(valueOf(samples, 'signpost_instances', { status: 'passing' })).toBe(3);
    expect(events(samples, 'register') - events(before, 'register')).toBe(2);
    // api-2 stops heartbeating: critical at the end of its 1 s lease.
    await signpost.nextEvent((event) => event.type === 'health' && event.instance.id === 'api-2' && event.instance.status === 'critical');
    samples = await scrape(signpost);
    expect(valueOf(samples, 'signpost_instances', { status: 'passing' })).toBe(2);
    expect(valueOf(samples, 'signpost_instances', { status: 'critical' })).toBe(1);
    expect(events(samples, 'health') - events(before, 'health')).toBe(1);
    // Half of api is healthy, at its threshold of 0.5: protection trips.
    expect(valueOf(samples, 'signpost_services_protection_tripped')).toBe(1);
    expect((await fetch(`${signpost.url}/v1/services/api/instances/api-2`, { method: 'DELETE' })).ok).toBe(true);
    samples = await scrape(signpost);
    expect(valueOf(samples, 'signpost_instances', { status: 'critical' })).toBe(0);
    expect(valueOf(samples, 'signpost_services_protection_tripped')).toBe(0);
    expect(valueOf(samples, 'signpost_deregistrations_total', { reason: 'request' }) - valueOf(before, 'signpost_deregistrations_total', { reason: 'request' })).toBe(1);
    expect(valueOf(samples, 'signpost_store_available')).toBe(1);
  });

  it('counts HTTP requests by route pattern and status, never by instance id', async () => {
    const route = '/v1/services/:service/instances/:id';
    const before = await scrape(signpost);
    expect((await signpost.register('web', 'web-2', { address: 'not-an-ip', port: 8080 })).status).toBe(400);
    expect((await signpost.register('web', 'web-3', WEB)).status).toBe(200);
    expect((await fetch(`${signpost.url}/no/such/route`)).status).toBe(404);
    const after = await scrape(signpost);
    const delta = (labels: Record<string, string>) => valueOf(after, 'signpost_http_requests_total', labels) - valueOf(before, 'signpost_http_requests_total', labels);
    expect(delta({ method: 'PUT', route, status: '400' })).toBe(1);
    expect(delta({ method: 'PUT', route, status: '200' })).toBe(1);
    expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(after.some((sample) => Object.values(sample.labels).some((value) => value.includes('web-3')))).toBe(false);
    const count = (samples: Sample[]) => valueOf(samples, 'signpost_http_request_duration_seconds_count', { method: 'PUT', route });
    expect(count(after) - count(before)).toBe(2);
    // Cumulative buckets, ascending, ending at +Inf with the count.
    const buckets = after.filter((sample) => sample.name === 'signpost_http_request_duration_seconds_bucket' && sample.labels.method === 'PUT' && sample.labels.route === route);
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(count(after));
    for (let i = 1; i < buckets.length; i++) {
      const bound = (sample: Sample) => (sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le));
      expect(bound(buckets[i])).toBeGreaterThan(bound(buckets[i - 1]));
      expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    }
    expect(valueOf(after, 'signpost_http_request_duration_seconds_sum', { method: 'PUT', route })).toBeGreaterThan(0);
  });

  it("includes Node's process metrics", async () => {
    const samples = await scrape(signpost);
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(samples.some((sample) => sample.name.startsWith('nodejs_eventloop_lag'))).toBe(true);
  });
});

describe('/metrics of the response-rate limit and the forwarder', () => {
  let signpost: TestSignpost;
  let upstream: ScriptedUpstream;
  beforeAll(async () => {
    upstream = await startScriptedUpstream((question, reply) =>
      question.name === 'broken.example.test' ? [reply.build({ rcode: Packet.RCODE.SERVFAIL })] : [reply.build({ answers: [{ type: Packet.TYPE.A, address: '192.0.2.7' }] })],
    );
    // Nothing exempt: loopback stands for clients on the network here.
    signpost = await startTestSignpost({ dnsRateLimit: 10, dnsRateLimitSlip: 2, rateLimitExempt: [], recursors: [upstream.address] });
    expect((await signpost.register('web', 'web-1', WEB)).status).toBe(200);
  });
  afterAll(async () => {
    await signpost?.close();
    await upstream?.close();
  });

  it('every flooded query is either answered, slipped (TC) or counted as dropped', async () => {
    const sent = 200;
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const replies: Buffer[] = [];
    socket.on('message', (reply) => replies.push(reply));
    const message = query('web.service.local', 'A');
    for (let i = 0; i < sent; i++) socket.send(message, signpost.dns.port, '127.0.0.1');
    await expect.poll(async () => replies.length + valueOf(await scrape(signpost), 'signpost_dns_rrl_dropped_total')).toBe(sent);
    socket.close();
    const samples = await scrape(signpost);
    const truncated = replies.filter((reply) => reply[2] & 0x02).length;
    expect(truncated).toBeGreaterThan(0);
    expect(valueOf(samples, 'signpost_dns_rrl_slipped_total')).toBe(truncated);
    expect(valueOf(samples, 'signpost_dns_rrl_dropped_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'signpost_dns_rrl_buckets')).toBeGreaterThan(0);
  });

  it('counts upstream tries, failures and cache hits', async () => {
    const ask = async (name: string) => decode((await signpost.tcp(query(name, 'A')))!).header.rcode;
    expect(await ask('a.example.test')).toBe(Packet.RCODE.NOERROR);
    expect(await ask('a.example.test')).toBe(Packet.RCODE.NOERROR);
    expect(await ask('broken.example.test')).toBe(Packet.RCODE.SERVFAIL);
    const samples = await scrape(signpost);
    const asked = (name: string) => upstream.questions.filter((question) => question.name === name).length;
    expect(asked('a.example.test')).toBe(1);
    expect(asked('broken.example.test')).toBeGreaterThan(0);
    expect(valueOf(samples, 'signpost_dns_forward_upstream_tries_total')).toBe(upstream.questions.length);
    expect(valueOf(samples, 'signpost_dns_forward_upstream_failures_total')).toBe(asked('broken.example.test'));
    expect(valueOf(samples, 'signpost_dns_forward_cache_hits_total')).toBe(1);
    expect(valueOf(samples, 'signpost_dns_forward_cache_entries')).toBe(1);
  });
});

describe('/metrics with tokens', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'signpost-metrics-'));
  const tokenFile = path.join(dir, 'tokens');
  const READER = 'reader-metrics-eeeeeeeeeeeeeeee';
  let open: TestSignpost;
  let closed: TestSignpost;
  beforeAll(async () => {
    writeFileSync(tokenFile, `${READER} read\n`);
    open = await startTestSignpost({ tokenFile });
    closed = await startTestSignpost({ tokenFile, readRequiresToken: true });
  });
  afterAll(async () => {
    await open?.close();
    await closed?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a read: open unless --read-requires-token, then any known token', async () => {
    expect(valueOf(await scrape(open), 'signpost_services')).toBe(0);
    expect((await fetch(`${closed.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${closed.url}/metrics`, { headers: { authorization: 'Bearer not-a-known-token-xxxxxxx' } })).status).toBe(401);
    expect(valueOf(await scrape(closed, { authorization: `Bearer ${READER}` }), 'signpost_services')).toBe(0);
  });
});
