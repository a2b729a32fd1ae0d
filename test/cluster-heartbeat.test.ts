// Heartbeats through any node of a cluster, on a real etcd with real Signpost processes: an instance
// registered on A and heartbeated on B once a second stays in DNS on both for as long as it beats,
// and leaves both within ttl + 2 s once it stops; so does one beating through each node in turn; an
// etcd that does not answer makes heartbeats a quick 503 through the node holding the lease and
// through another, and the next heartbeat works; the holder killed, its instances lapse elsewhere
// unless their heartbeats move to another node.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdCluster } from './helpers/etcd.ts';
import { spawnSignpost, type SignpostProcess } from './helpers/process.ts';
import { eventually } from './helpers/wait.ts';

const execFileAsync = promisify(execFile);
let prefixes = 0;
const freshPrefix = () => `/signpost-beat-test-${process.pid}-${++prefixes}/`;

/** The A records `dig` gets for `name` from the DNS server on `port` (sorted; [] for none). */
async function dig(port: number, name: string): Promise<string[]> {
  const { stdout } = await execFileAsync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=2', '+short', name, 'A']);
  return stdout.split('\n').filter(Boolean).sort();
}

const put = (url: string, path: string, body?: unknown) =>
  fetch(`${url}${path}`, {
    method: 'PUT',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

describe('heartbeats through another node', () => {
  let etcd: EtcdCluster;
  const processes: SignpostProcess[] = [];

  beforeAll(async () => {
    etcd = await startEtcd(1);
  }, 30_000);

  afterAll(async () => {
    for (const child of processes) await child.stop('SIGKILL');
    await etcd?.close();
  });

  /** `count` nodes on a fresh prefix, named node-0, node-1, … */
  async function cluster(count: number): Promise<SignpostProcess[]> {
    const prefix = freshPrefix();
    const args = ['--dns', '127.0.0.1:0', '--http', '127.0.0.1:0', '--store', etcd.storeUrl, '--etcd-prefix', prefix, '--no-recursion', '--grace-period', '60'];
    const nodes: SignpostProcess[] = [];
    for (let n = 0; n < count; n++) {
      const node = await spawnSignpost([...args, '--node-name', `node-${n}`]);
      processes.push(node);
      nodes.push(node);
    }
    return nodes;
  }

  async function twoNodes(): Promise<[SignpostProcess, SignpostProcess]> {
    const [a, b] = await cluster(2);
    return [a, b];
  }

  it('registered on A with ttl 3 and heartbeated on B every second for 30 s: in DNS on both the whole time; stopped: gone from both within ttl + 2 s', async () => {
    const [a, b] = await twoNodes();
    const ttl = 3;
    expect((await put(a.url, '/v1/services/beat/instances/b1', { address: '127.0.4.1', port: 80, ttl })).status).toBe(200);
    await eventually(async () => ((await dig(b.dnsPort, 'beat.service.local')).length === 1 ? true : undefined), 5_000, 'B to answer for it');
    const started = Date.now();
    let beats = 0;
    while (Date.now() - started < 31_000) {
      const next = Date.now() + 1_000;
      const beat = await put(b.url, '/v1/services/beat/instances/b1/heartbeat');
      expect(beat.status, `heartbeat ${beats + 1}: ${await beat.text()}`).toBe(200);
      beats++;
      // Both nodes answer for it, asked with a real DNS client, every second.
      const [onA, onB] = await Promise.all([dig(a.dnsPort, 'beat.service.local'), dig(b.dnsPort, 'beat.service.local')]);
      expect({ beats, onA, onB }).toEqual({ beats, onA: ['127.0.4.1'], onB: ['127.0.4.1'] });
      await tick(next - Date.now());
    }
    expect(beats).toBeGreaterThanOrEqual(30);
    // No more heartbeats: etcd lets the lease lapse, and both nodes drop it within ttl + 2 s.
    const stopped = Date.now();
    await Promise.all(
      [a, b].map((node) => eventually(async () => ((await dig(node.dnsPort, 'beat.service.local')).length === 0 ? true : undefined), (ttl + 2) * 1000 - (Date.now() - stopped), 'it to leave DNS')),
    );
    for (const node of [a, b]) {
      const instance = (await (await fetch(`${node.url}/v1/services/beat/instances/b1`)).json()) as { status: string };
      expect(instance.status).toBe('critical');
    }
  }, 90_000);

  it('etcd frozen: heartbeats through the holder and through another node get 503 within a second, and work again once etcd answers', async () => {
    const [a, b] = await twoNodes();
    expect((await put(a.url, '/v1/services/pause/instances/p1', { address: '127.0.4.2', port: 80, ttl: 10 })).status).toBe(200);
    await eventually(async () => ((await dig(b.dnsPort, 'pause.service.local')).length === 1 ? true : undefined), 5_000, 'B to answer for it');
    // A registered it, so A holds its lease: a heartbeat there is answered from memory.
    expect((await put(a.url, '/v1/services/pause/instances/p1/heartbeat')).status).toBe(200);
    // etcd stops answering (frozen, its connections open).
    const member = etcd.members[0];
    process.kill(member.child!.pid!, 'SIGSTOP');
    const heartbeat = async (url: string) => {
      const asked = Date.now();
      const response = await put(url, '/v1/services/pause/instances/p1/heartbeat');
      return { status: response.status, message: ((await response.json()) as { message?: string }).message ?? '', waited: Date.now() - asked };
    };
    let throughB: Awaited<ReturnType<typeof heartbeat>>;
    let throughA: Awaited<ReturnType<typeof heartbeat>>;
    try {
      // Through B: a write that takes the lease over, which etcd does not answer.
      throughB = await heartbeat(b.url);
      // Through A, the holder: answered 200 while its lease was confirmed alive within the last second
      // (it then outlives a ttl from now, even if A died); refused once it cannot confirm it.
      throughA = await eventually(async () => {
        const answer = await heartbeat(a.url);
        expect(answer.status === 200 || answer.status === 503, answer.message).toBe(true);
        expect(answer.waited).toBeLessThan(1_000);
        return answer.status === 503 ? answer : undefined;
      }, 5_000, 'the holder to refuse a heartbeat');
    } finally {
      process.kill(member.child!.pid!, 'SIGCONT');
    }
    for (const refused of [throughB, throughA]) {
      expect(refused.status).toBe(503);
      expect(refused.message).toMatch(/etcd .*(no answer|unavailable)/);
      // The bound the issue sets for a heartbeat: answered, 200 or 503, within a second.
      expect(refused.waited).toBeLessThan(1_000);
    }
    // etcd answers again: the client's next heartbeats, a second later as it keeps its schedule, renew through either node.
    await tick(1_000);
    for (const url of [a.url, b.url, a.url]) {
      const next = await put(url, '/v1/services/pause/instances/p1/heartbeat');
      expect(next.status, await next.text()).toBe(200);
    }
    expect(await dig(a.dnsPort, 'pause.service.local')).toEqual(['127.0.4.2']);
    expect(await dig(b.dnsPort, 'pause.service.local')).toEqual(['127.0.4.2']);
  }, 60_000);

  it('heartbeats alternating between three nodes keep the instance alive on all of them; stopped: gone from all within ttl + 2 s', async () => {
    const nodes = await cluster(3);
    const ttl = 2;
    expect((await put(nodes[0].url, '/v1/services/turns/instances/t1', { address: '127.0.4.3', port: 80, ttl })).status).toBe(200);
    await Promise.all(nodes.map((node) => eventually(async () => ((await dig(node.dnsPort, 'turns.service.local')).length === 1 ? true : undefined), 5_000, 'every node to answer for it')));
    // Each heartbeat through the next node: each moves the lease to the node that took it.
    for (let beat = 0; beat < 12; beat++) {
      const next = Date.now() + 700;
      const answer = await put(nodes[beat % 3].url, '/v1/services/turns/instances/t1/heartbeat');
      expect(answer.status, `heartbeat ${beat + 1}: ${await answer.text()}`).toBe(200);
      const seen = await Promise.all(nodes.map((node) => dig(node.dnsPort, 'turns.service.local')));
      expect({ beat, seen }).toEqual({ beat, seen: [['127.0.4.3'], ['127.0.4.3'], ['127.0.4.3']] });
      await tick(next - Date.now());
    }
    const stopped = Date.now();
    await Promise.all(
      nodes.map((node) => eventually(async () => ((await dig(node.dnsPort, 'turns.service.local')).length === 0 ? true : undefined), (ttl + 2) * 1000 - (Date.now() - stopped), 'it to leave DNS')),
    );
  }, 60_000);

  it('the holder killed (SIGKILL): its instances leave DNS on the others within ttl + 2 s, except one heartbeated through another node, which stays', async () => {
    const [holder, b, c] = await cluster(3);
    const ttl = 3;
    for (const [id, address] of [['kept', '127.0.4.4'], ['left', '127.0.4.5']]) {
      expect((await put(holder.url, `/v1/services/${id}/instances/x`, { address, port: 80, ttl })).status).toBe(200);
    }
    for (const node of [b, c]) {
      for (const name of ['kept', 'left']) await eventually(async () => ((await dig(node.dnsPort, `${name}.service.local`)).length === 1 ? true : undefined), 5_000, `${name} in DNS`);
    }
    await holder.stop('SIGKILL');
    const killed = Date.now();
    // `left`'s client is gone: it leaves DNS on B and C within ttl + 2 s of the kill.
    const leftGone = Promise.all(
      [b, c].map((node) => eventually(async () => ((await dig(node.dnsPort, 'left.service.local')).length === 0 ? true : undefined), (ttl + 2) * 1000 - (Date.now() - killed), 'left to leave DNS')),
    );
    leftGone.catch(() => {});
    // `kept`'s client fails over to B and beats there once a second: it stays, on B and C, past that.
    while (Date.now() - killed < (ttl + 2) * 1000 + 3_000) {
      const next = Date.now() + 1_000;
      const beat = await put(b.url, '/v1/services/kept/instances/x/heartbeat');
      expect(beat.status, await beat.text()).toBe(200);
      for (const node of [b, c]) expect(await dig(node.dnsPort, 'kept.service.local')).toEqual(['127.0.4.4']);
      await tick(next - Date.now());
    }
    await leftGone;
  }, 60_000);
});
