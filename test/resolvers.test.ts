// Signpost behind the recursive resolvers people put in front of it (Debian's Unbound and BIND 9),
// and asked by the DNS tools they debug with (kdig, drill). Each resolver starts once for the file.
//
// Unbound iterates to Signpost as a stub zone with QNAME minimisation (RFC 9156): before
// `_web._tcp.service.local SRV` it asks `service.local A`, `_tcp.service.local A`, … one label at a
// time. Names that exist only because names exist below them (empty non-terminals) must be NODATA:
// an NXDOMAIN there makes a strict resolver (and RFC 8020) treat the whole subtree as gone.
// BIND forwards the zone (full names, RD and DO set). Through both, a deregistered instance must be
// gone within the answer TTL and a second, and a returning one back as soon: positive answers, the
// SOA's TTL and its minimum (negative caching, RFC 2308) all bound what a resolver keeps.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBind, startUnbound, type RecursiveResolver } from './helpers/resolvers.ts';
import { decode, Packet, query, sendUdp, startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const execFileAsync = promisify(execFile);
/** The answer TTL (and SOA minimum) Signpost runs with here: short, so waiting it out is short. */
const TTL = 1;

let signpost: TestSignpost;
const resolvers: Record<string, RecursiveResolver> = {};

async function register(service: string, id: string, address: string, tags: string[] = []): Promise<void> {
  const response = await signpost.register(service, id, { address, port: 8080, ttl: 3600, tags });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  signpost = await startTestSignpost({ dnsTtl: TTL });
  await register('web', 'a', '10.0.0.1', ['v2']);
  await register('web', 'b', '10.0.0.2');
  const [minimising, strict, bind] = await Promise.all([
    startUnbound(signpost.dns.port, 'local', { strict: false }),
    startUnbound(signpost.dns.port, 'local', { strict: true }),
    startBind(signpost.dns.port, 'local'),
  ]);
  Object.assign(resolvers, { minimising, strict, bind });
}, 30_000);

afterAll(async () => {
  await Promise.all(Object.values(resolvers).map((resolver) => resolver.stop()));
  await signpost?.close();
});

/** Asks a resolver (RD set), as a stub resolver would. */
async function ask(resolver: RecursiveResolver, name: string, type: keyof typeof Packet.TYPE) {
  const reply = await sendUdp(resolver.port, query(name, type, { edns: 1232 }), 5000);
  if (!reply) throw new Error(`${resolver.name} did not answer ${name} ${type}:\n${resolver.output().slice(-2000)}`);
  return decode(reply);
}

const targets = (reply: ReturnType<typeof decode>) => reply.answers.map((record) => record.target ?? record.address).sort();

/** Waits until `seconds` have passed since `since` (ms): what a cache may keep is bounded in time, not by an event. */
async function waitUntil(since: number, seconds: number): Promise<void> {
  const left = since + seconds * 1000 - Date.now();
  if (left > 0) await sleep(left);
}

describe.concurrent.each([
  ['Unbound, QNAME minimisation', 'minimising'],
  ['Unbound, strict QNAME minimisation', 'strict'],
  ['BIND 9, forwarding the zone', 'bind'],
])('through %s', (_title, key) => {
  const resolver = () => resolvers[key];

  it('finds a service by every name form, through the empty non-terminals above each', async () => {
    expect(targets(await ask(resolver(), 'web.service.local', 'SRV'))).toEqual(['a.web.instance.local', 'b.web.instance.local']);
    // Parent `_tcp.service.local`: exists (NODATA) while any service does.
    expect(targets(await ask(resolver(), '_web._tcp.service.local', 'SRV'))).toEqual(['a.web.instance.local', 'b.web.instance.local']);
    // Parent `_v2.service.local`: exists while an instance carries the tag v2.
    expect(targets(await ask(resolver(), '_web._v2.service.local', 'SRV'))).toEqual(['a.web.instance.local']);
    expect(targets(await ask(resolver(), 'v2.web.service.local', 'A'))).toEqual(['10.0.0.1']);
    // Parents `web.instance.local` and `instance.local`.
    expect(targets(await ask(resolver(), 'b.web.instance.local', 'A'))).toEqual(['10.0.0.2']);
  });

  it('answers the empty non-terminals themselves with NODATA and the SOA, and unknown names with NXDOMAIN', async () => {
    for (const name of ['service.local', 'instance.local', '_tcp.service.local', 'web.instance.local']) {
      const reply = await ask(resolver(), name, 'A');
      expect(reply.header.rcode, name).toBe(Packet.RCODE.NOERROR);
      expect(reply.answers, name).toEqual([]);
    }
    const nothing = await ask(resolver(), '_nothing._tcp.service.local', 'SRV');
    expect(nothing.header.rcode).toBe(Packet.RCODE.NXDOMAIN);
  });

  it('drops a deregistered instance within the answer TTL and a second, and sees a returning one as soon', async () => {
    const service = `gone-${key}`;
    const name = `${service}.service.local`;
    await register(service, 'x', '10.0.1.1');
    await register(service, 'y', '10.0.1.2');
    // Cached now, with every name on the way.
    expect(targets(await ask(resolver(), name, 'SRV'))).toEqual([`x.${service}.instance.local`, `y.${service}.instance.local`]);
    expect(targets(await ask(resolver(), `x.${service}.instance.local`, 'A'))).toEqual(['10.0.1.1']);

    let changed = Date.now();
    expect((await fetch(`${signpost.url}/v1/services/${service}/instances/x`, { method: 'DELETE' })).status).toBe(204);
    await waitUntil(changed, TTL + 1);
    expect(targets(await ask(resolver(), name, 'SRV'))).toEqual([`y.${service}.instance.local`]);
    expect((await ask(resolver(), `x.${service}.instance.local`, 'A')).header.rcode).toBe(Packet.RCODE.NXDOMAIN);

    // The last one goes: the name no longer exists, and that NXDOMAIN is cached...
    changed = Date.now();
    expect((await fetch(`${signpost.url}/v1/services/${service}/instances/y`, { method: 'DELETE' })).status).toBe(204);
    await waitUntil(changed, TTL + 1);
    expect((await ask(resolver(), name, 'SRV')).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    // ...no longer than the SOA allows: the instance that comes back is found.
    changed = Date.now();
    await register(service, 'z', '10.0.1.3');
    await waitUntil(changed, TTL + 1);
    expect(targets(await ask(resolver(), name, 'SRV'))).toEqual([`z.${service}.instance.local`]);
  });
});

describe('DNS tools asking Signpost directly', () => {
  const run = async (command: string, args: string[]) => {
    const { stdout, stderr } = await execFileAsync(command, args).catch((error: { stdout: string; stderr: string }) => error);
    return `${stdout}\n${stderr}`;
  };
  const kdig = (...args: string[]) => run('kdig', ['@127.0.0.1', '-p', String(signpost.dns.port), '+time=2', '+retry=0', ...args]);
  const drill = (...args: string[]) => run('drill', ['-p', String(signpost.dns.port), '@127.0.0.1', ...args]);

  it('kdig: answers, the DO bit echoed, NODATA for an empty non-terminal', async () => {
    const srv = await kdig('+dnssec', 'web.service.local', 'SRV');
    expect(srv).toMatch(/status: NOERROR/);
    expect(srv).toMatch(/EDNS PSEUDOSECTION:\n;; Version: 0; flags: do;/);
    expect(srv).toMatch(/web\.service\.local\.\s+1\s+IN\s+SRV\s+0 100 8080 a\.web\.instance\.local\./);
    const ent = await kdig('_tcp.service.local', 'A');
    expect(ent).toMatch(/status: NOERROR/);
    expect(ent).toMatch(/AUTHORITY SECTION:\nlocal\.\s+1\s+IN\s+SOA\s+ns\.local\. hostmaster\.local\./);
  });

  it('kdig: zone transfers are REFUSED, IXFR with its SOA included, over TCP; version.bind in CHAOS is REFUSED', async () => {
    expect(await kdig('local', 'AXFR')).toMatch(/server replied with error 'REFUSED'/);
    // kdig sends IXFR with the client's SOA (serial 1) in the authority section.
    expect(await kdig('IXFR=1', 'local')).toMatch(/server replied with error 'REFUSED'/);
    for (const name of ['version.bind', 'hostname.bind', 'id.server']) expect(await kdig('CH', 'TXT', name)).toMatch(/status: REFUSED/);
  });

  it('drill: answers, the DO bit echoed, NODATA for an empty non-terminal', async () => {
    const srv = await drill('-D', '_web._tcp.service.local', 'SRV');
    expect(srv).toMatch(/rcode: NOERROR/);
    expect(srv).toMatch(/EDNS: version 0; flags: do ;/);
    expect(srv).toMatch(/_web\._tcp\.service\.local\.\s+1\s+IN\s+SRV\s+0 100 8080 a\.web\.instance\.local\./);
    const ent = await drill('web.instance.local', 'A');
    expect(ent).toMatch(/rcode: NOERROR/);
    expect(ent).toMatch(/AUTHORITY SECTION:\nlocal\.\s+1\s+IN\s+SOA/);
    expect(await drill('-t', 'local', 'AXFR')).toMatch(/REFUSED/);
  });
});
