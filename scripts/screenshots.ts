// Takes the README's screenshots of the web console (docs/console/*.png): a Signpost with a few
// services, some DNS traffic and heartbeats for the charts, and Debian's Chromium. `npm run screenshots`.
// With Debian's pngquant installed, the PNGs are quantised to 64 colours (a third of the size).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser } from '../test/helpers/browser.ts';
import { startTestSignpost } from '../test/helpers/signpost.ts';

const OUT = new URL('../docs/console/', import.meta.url);
const TOKEN = 'screenshot-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'signpost-screenshots-'));
writeFileSync(join(dir, 'tokens'), `${TOKEN} *\n`);

const signpost = await startTestSignpost({ tokenFile: join(dir, 'tokens'), domain: 'internal' });
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${signpost.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const register = (service: string, id: string, body: Record<string, unknown>) => call('PUT', `/v1/services/${service}/instances/${id}`, { ttl: 30, ...body });

await register('web', 'web-1', { address: '10.0.0.11', port: 8080, weight: 50, tags: ['v2', 'eu-west'], meta: { version: '2.4.1', commit: 'a1c9e07' } });
await register('web', 'web-2', { address: '10.0.0.12', port: 8080, weight: 30, tags: ['v2', 'eu-west'], meta: { version: '2.4.1' } });
await register('web', 'web-3', { address: '10.0.0.13', port: 8080, weight: 20, tags: ['v2', 'eu-west'], meta: { version: '2.4.1' } });
await register('web', 'web-dr', { address: '10.9.0.11', port: 8080, priority: 10, tags: ['eu-north'] });
await call('PUT', '/v1/services/web/instances/web-3/heartbeat', { status: 'warning', note: 'p99 latency 480 ms' });
await call('PUT', '/v1/services/web/settings', { warmup: 300 });
await register('web', 'web-4', { address: '10.0.0.14', port: 8080, weight: 40, tags: ['v2', 'eu-west'], meta: { version: '2.5.0-rc1' } });
await register('api', 'api-1', { address: '10.0.1.21', port: 9000, tags: ['grpc'] });
await register('api', 'api-2', { address: '10.0.1.22', port: 9000, tags: ['grpc'] });
await call('PUT', '/v1/services/api/instances/api-2/maintenance', { enabled: true, reason: 'kernel upgrade' });
await register('payments', 'pay-1', { address: '10.0.2.31', port: 7443, check: { tcp: '127.0.0.1:1', interval: 5 }, tags: ['pci'] });
await call('PUT', '/v1/services/search/settings', { protectionThreshold: 0.5 });
await register('search', 'search-1', { address: '10.0.3.41', port: 9200, weight: 100 });
await register('search', 'search-2', { address: '10.0.3.42', port: 9200, weight: 100 });
await call('PUT', '/v1/services/search/instances/search-2/heartbeat', { status: 'critical', note: 'disk full' });

const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
await page.addInitScript((token) => sessionStorage.setItem('signpost.token', token), TOKEN);
mkdirSync(OUT, { recursive: true });

// DNS traffic and heartbeats while the server page collects a few seconds of figures.
const resolver = signpost.resolver();
let busy = true;
const traffic = (async () => {
  for (let round = 0; busy; round++) {
    await Promise.all([
      ...Array.from({ length: 40 }, () => resolver.resolveSrv('_web._tcp.service.internal').catch(() => {})),
      ...Array.from({ length: 4 }, () => resolver.resolve4('nosuch.service.internal').catch(() => {})),
      call('PUT', '/v1/services/web/instances/web-1/heartbeat'),
      call('PUT', '/v1/services/web/instances/web-2/heartbeat'),
    ]);
    if (round % 5 === 0) await register('batch', `job-${round}`, { address: '10.0.4.1', port: 80 });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
})();

await page.goto(`${signpost.url}/ui/#/server`);
await page.waitForTimeout(12_000);
await page.screenshot({ path: new URL('server.png', OUT).pathname });
busy = false;
await traffic;

await page.setViewportSize({ width: 1200, height: 380 });
await page.goto(`${signpost.url}/ui/`);
await page.locator('tr[data-service="web"]').waitFor();
await page.screenshot({ path: new URL('services.png', OUT).pathname });
await page.setViewportSize({ width: 1200, height: 760 });

await page.goto(`${signpost.url}/ui/#/services/web`);
await page.locator('tr[data-instance="web-1"]').waitFor();
await page.screenshot({ path: new URL('service.png', OUT).pathname, fullPage: true });

await browser.close();
await signpost.close();
rmSync(dir, { recursive: true, force: true });
if (existsSync('/usr/bin/pngquant')) {
  for (const name of ['services.png', 'service.png', 'server.png']) {
    execFileSync('/usr/bin/pngquant', ['--force', '--skip-if-larger', '--output', new URL(name, OUT).pathname, '64', new URL(name, OUT).pathname]);
  }
}
console.log(`screenshots in ${OUT.pathname}`);
