// A Prometheus-compatible scraper, unmodified, discovering targets through Signpost's Consul API:
// Debian's VictoriaMetrics (its `consul_sd_configs` reads Prometheus's configuration and serves
// the same /api/v1/targets). One VictoriaMetrics process for the file; its discovery re-asks every
// second (-promscrape.consulSDCheckInterval=1s) and otherwise waits in blocking queries.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/etcd.ts';
import { eventually } from './helpers/wait.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const VICTORIA_METRICS = '/usr/bin/victoria-metrics';
const WRITE_TOKEN = 'consul-scrape-write-token-0123456789';
const READ_TOKEN = 'consul-scrape-read-token-0123456789';

interface Target {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

describe('a Prometheus-compatible scraper with consul_sd_configs pointed at Signpost', () => {
  let signpost: TestSignpost;
  let vm: ChildProcess | undefined;
  let vmUrl: string;
  let dir: string;
  const vmOutput: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'signpost-vm-'));
    writeFileSync(join(dir, 'tokens'), `${WRITE_TOKEN} *\n${READ_TOKEN} read\n`);
    // Reads need a token too: VictoriaMetrics sends its `token:` as `Authorization: Bearer`.
    // No overload guard: on a loaded machine a fresh server's start-up counts as event-loop lag.
    signpost = await startTestSignpost({ tokenFile: join(dir, 'tokens'), readRequiresToken: true, nodeName: 'sp-1', datacenter: 'dc1', httpMaxEventLoopDelay: 0 });
    const config = [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: signpost-consul',
      `    bearer_token: ${READ_TOKEN}`,
      '    consul_sd_configs:',
      `      - server: 127.0.0.1:${signpost.http.port}`,
      `        token: ${READ_TOKEN}`,
      // VictoriaMetrics re-reads a target only when its labels change: health and id become labels.
      '    relabel_configs:',
      '      - source_labels: [__meta_consul_health]',
      '        target_label: consul_health',
      '      - source_labels: [__meta_consul_service_id]',
      '        target_label: service_id',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'scrape.yml'), config);
    const port = await freePort();
    vmUrl = `http://127.0.0.1:${port}`;
    vm = spawn(VICTORIA_METRICS, [
      `-promscrape.config=${join(dir, 'scrape.yml')}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${join(dir, 'data')}`,
      '-promscrape.consulSDCheckInterval=1s',
      '-loggerLevel=WARN',
    ]);
    vm.stdout!.on('data', (chunk: Buffer) => vmOutput.push(chunk.toString()));
    vm.stderr!.on('data', (chunk: Buffer) => vmOutput.push(chunk.toString()));
    await eventually(async () => ((await fetch(`${vmUrl}/health`)).ok ? true : undefined), 15_000, 'VictoriaMetrics to serve');
  });

  afterAll(async () => {
    if (vm && vm.exitCode === null) {
      vm.kill('SIGKILL');
      await once(vm, 'exit');
    }
    await signpost?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The active targets of the job, by `__meta_consul_service_id`. */
  async function targets(): Promise<Map<string, Target>> {
    const response = await fetch(`${vmUrl}/api/v1/targets`);
    const body = (await response.json()) as { data: { activeTargets: Target[] } };
    return new Map(body.data.activeTargets.map((target) => [target.discoveredLabels.__meta_consul_service_id, target]));
  }

  /** Polls the targets API until `check` accepts what it shows (bounded). */
  async function until<T>(what: string, check: (current: Map<string, Target>) => T | undefined): Promise<T> {
    try {
      return await eventually(async () => check(await targets()), 20_000, what);
    } catch (error) {
      throw new Error(`${(error as Error).message}\ntargets: ${JSON.stringify([...(await targets()).values()].map((t) => t.discoveredLabels))}\nVictoriaMetrics: ${vmOutput.join('').split('\n').filter((line) => !line.includes('cannot scrape')).join('\n').slice(-3000)}`);
    }
  }

  const consul = (method: string, path: string, body?: unknown) =>
    fetch(`${signpost.url}${path}`, { method, headers: { 'x-consul-token': WRITE_TOKEN }, body: body === undefined ? undefined : JSON.stringify(body) });

  it('follows registrations, health and deregistrations, with __meta_consul_* labels', async () => {
    const registered = await consul('PUT', '/v1/agent/service/register', {
      Name: 'web',
      ID: 'web-1',
      Address: '127.0.0.1',
      // The target is Signpost's own /metrics: a real scrape, with the bearer token.
      Port: signpost.http.port,
      Tags: ['prod', 'env=blue'],
      Meta: { version: '1.2.3' },
      Check: { TTL: '30s', Status: 'passing' },
    });
    expect(registered.status, await registered.text()).toBe(200);

    const first = await until('web-1 discovered and scraped', (current) => {
      const target = current.get('web-1');
      return target?.health === 'up' ? target : undefined;
    });
    expect(first.discoveredLabels).toMatchObject({
      __address__: `127.0.0.1:${signpost.http.port}`,
      __meta_consul_service: 'web',
      __meta_consul_service_id: 'web-1',
      __meta_consul_service_address: '127.0.0.1',
      __meta_consul_service_port: String(signpost.http.port),
      __meta_consul_tags: ',prod,env=blue,',
      __meta_consul_service_metadata_version: '1.2.3',
      __meta_consul_health: 'passing',
      __meta_consul_dc: 'dc1',
      __meta_consul_node: 'sp-1',
      __meta_consul_address: '127.0.0.1',
      __meta_consul_tagged_address_lan: '127.0.0.1',
    });

    // Registered natively: discovered too, and its health shows.
    const native = await fetch(`${signpost.url}/v1/services/web/instances/web-2`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ address: '127.0.0.2', port: 9100, ttl: 0, tags: ['canary'] }),
    });
    expect(native.status).toBe(200);
    const second = await until('web-2 discovered', (current) => current.get('web-2'));
    expect(second.discoveredLabels).toMatchObject({ __address__: '127.0.0.2:9100', __meta_consul_tags: ',canary,', __meta_consul_health: 'passing' });

    // The TTL check fails: the target stays, labelled critical.
    expect((await consul('PUT', '/v1/agent/check/fail/service:web-1?note=disk%20full')).status).toBe(200);
    await until('web-1 critical', (current) => (current.get('web-1')?.labels.consul_health === 'critical' ? true : undefined));
    expect((await consul('PUT', '/v1/agent/service/maintenance/web-2?enable=true&reason=deploy')).status).toBe(200);
    await until('web-2 in maintenance', (current) => (current.get('web-2')?.labels.consul_health === 'maintenance' ? true : undefined));

    // Deregistered: the target goes.
    expect((await consul('PUT', '/v1/agent/service/deregister/web-1')).status).toBe(200);
    const last = await until('web-1 gone', (current) => (current.has('web-1') ? undefined : current));
    expect([...last.keys()]).toEqual(['web-2']);
  });
});
