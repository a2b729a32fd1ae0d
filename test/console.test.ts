// The web console in a real browser (Debian's Chromium, driven by playwright-core) against a real
// Signpost on loopback: what an operator sees and does. One browser and one browser context for
// the file, a page per test; every test's Signpost has its own port, so its own origin and its own
// sessionStorage. Every wait is for something on the page, never a fixed sleep.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { startTestSignpost, type TestSignpost } from './helpers/signpost.ts';

const ADMIN = 'console-admin-token-aaaaaaaa';
const OTHER_TEAM = 'console-other-team-bbbbbbbbb';
const dir = mkdtempSync(path.join(os.tmpdir(), 'signpost-console-'));
const tokenFile = path.join(dir, 'tokens');
writeFileSync(tokenFile, `${ADMIN} *\n${OTHER_TEAM} billing\n`);

let browser: Browser | undefined;
let context: BrowserContext;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(config: Parameters<typeof startTestSignpost>[0] = {}): Promise<TestSignpost> {
  const signpost = await startTestSignpost({ tokenFile, ...config });
  cleanups.push(() => signpost.close());
  return signpost;
}

/** A new page; fails the test if the page breaks its CSP or throws. */
async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  cleanups.push(() => page.close());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Trusted Type/i.test(message.text())) problems.push(message.text());
  });
  cleanups.push(async () => expect(problems).toEqual([]));
  await page.goto(url);
  // Marks this document: still there at the end means the page was never reloaded.
  await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
  return page;
}

const notReloaded = (page: Page) => page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce === true);

function api(signpost: TestSignpost, method: string, route: string, body?: unknown, token = ADMIN) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${signpost.url}${route}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

const register = (signpost: TestSignpost, service: string, id: string, body: Record<string, unknown>) =>
  api(signpost, 'PUT', `/v1/services/${service}/instances/${id}`, body);

const row = (page: Page, id: string) => page.locator(`tr[data-instance="${id}"]`);

async function enterToken(page: Page, value: string) {
  await page.getByRole('button', { name: 'Enter token' }).first().click();
  await page.getByLabel('Token', { exact: true }).fill(value);
  await page.getByRole('button', { name: 'Use this token' }).click();
}

describe("the console's files", () => {
  it('/ redirects to /ui/, which serves the page with a strict CSP; every asset comes from this server', async () => {
    const signpost = await start();
    const root = await fetch(`${signpost.url}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/ui/']);
    const bare = await fetch(`${signpost.url}/ui`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([301, '/ui/']);
    const page = await fetch(`${signpost.url}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types lit-html",
    );
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // Nothing inline, nothing from elsewhere.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    const script = await fetch(`${signpost.url}/ui/app.js`);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    const lit = await fetch(`${signpost.url}/ui/vendor/lit-html/lit-html.js`);
    expect(lit.status).toBe(200);
    expect(await lit.text()).toContain('lit-html');
    // Revalidation by ETag.
    const again = await fetch(`${signpost.url}/ui/app.js`, { headers: { 'if-none-match': script.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('serves only its own files: anything else under /ui/ is the API 404', async () => {
    const signpost = await start();
    for (const path of ['/ui/nosuch.js', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json', '/ui/vendor/lit-html/package.json', '/ui/plugin.ts']) {
      const response = await fetch(`${signpost.url}${path}`);
      expect(response.status, path).toBe(404);
      expect((await response.json()).message, path).toMatch(/^no route GET/);
    }
  });

  it('the files are open even when reads need a token; the API calls they make are not', async () => {
    const signpost = await start({ readRequiresToken: true });
    expect((await fetch(`${signpost.url}/ui/`)).status).toBe(200);
    expect((await fetch(`${signpost.url}/ui/state.js`)).status).toBe(200);
    expect((await fetch(`${signpost.url}/v1/services`)).status).toBe(401);
    expect((await fetch(`${signpost.url}/v1/server`)).status).toBe(401);
    expect((await fetch(`${signpost.url}/v1/server`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
  });
});

describe('the web console in a browser', () => {
  beforeAll(async () => {
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });

  it('/ leads to the console; a service registered over HTTP appears without a reload; read-only without a token', async () => {
    const signpost = await start();
    const page = await open(`${signpost.url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await page.getByText('No service is registered yet').waitFor();
    await page.getByText('Read-only: without a token').waitFor();
    expect(await page.getByRole('button', { name: /Maintenance|Deregister/ }).count()).toBe(0);

    expect((await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 8080, tags: ['v2'] })).status).toBe(200);
    const web = page.locator('tr[data-service="web"]');
    await web.waitFor();
    expect(await web.locator('td').allInnerTexts()).toEqual(['web', '1', '1', 'v2', '–']);
    // A service without a healthy instance stands out.
    expect((await register(signpost, 'db', 'db-1', { address: '10.0.0.9', port: 5432, check: { tcp: '127.0.0.1:1', interval: 60 } })).status).toBe(200);
    await page.locator('tr.down[data-service="db"]', { hasText: 'no healthy instance' }).waitFor();
    // The filter box.
    await page.getByLabel('Filter services').fill('v2');
    await page.locator('tr[data-service="db"]').waitFor({ state: 'detached' });
    expect(await page.locator('tr[data-service]').count()).toBe(1);
    expect(await notReloaded(page)).toBe(true);
  });

  it('an instance whose heartbeats stop turns critical, then leaves', async () => {
    const signpost = await start();
    expect((await register(signpost, 'jobs', 'worker-1', { address: '10.0.0.2', port: 7000, ttl: 1, deregisterCriticalAfter: 1 })).status).toBe(200);
    // Alive while the test heartbeats for it, as a client would, several times a ttl...
    let beating = true;
    const beats = (async () => {
      while (beating) {
        expect((await api(signpost, 'PUT', '/v1/services/jobs/instances/worker-1/heartbeat')).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    cleanups.push(() => ((beating = false), beats));
    const page = await open(`${signpost.url}/ui/#/services/jobs`);
    await row(page, 'worker-1').locator('.badge', { hasText: 'passing' }).waitFor();
    await row(page, 'worker-1').getByText(/expires in/).waitFor();
    beating = false;
    await beats;
    // ...then the lease lapses: critical, with the lease's note, and a lapsed lease...
    await row(page, 'worker-1').locator('.badge', { hasText: 'critical' }).waitFor();
    await row(page, 'worker-1').getByText('TTL expired: no heartbeat for 1s').waitFor();
    // ...and after its grace period it is gone, from the page too.
    await row(page, 'worker-1').waitFor({ state: 'detached' });
    await page.getByText('No instance of jobs is registered').waitFor();
    expect(await notReloaded(page)).toBe(true);
  });

  it('a weight change redraws the traffic split', async () => {
    const signpost = await start();
    await register(signpost, 'web', 'a', { address: '10.0.0.1', port: 80, weight: 10 });
    await register(signpost, 'web', 'b', { address: '10.0.0.2', port: 80, weight: 30 });
    await register(signpost, 'web', 'spare', { address: '10.0.0.3', port: 80, priority: 10 });
    const page = await open(`${signpost.url}/ui/#/services/web`);
    const share = (id: string) => page.locator(`.traffic li[data-instance="${id}"] .share`);
    await share('a').getByText('25%').waitFor();
    expect(await share('b').innerText()).toBe('75%');
    expect(await share('spare').innerText()).toBe('100%');
    expect(await page.locator('.tier[data-priority="10"]').innerText()).toContain('used when the tiers before it are gone');

    await register(signpost, 'web', 'a', { address: '10.0.0.1', port: 80, weight: 90 });
    await share('a').getByText('75%').waitFor();
    expect(await share('b').innerText()).toBe('25%');
    // The bar itself: segment widths follow the shares.
    const widths = await page.locator('.tier[data-priority="0"] svg.split rect').evaluateAll((rects) => rects.map((rect) => Number(rect.getAttribute('width'))));
    expect(widths).toEqual([750, 250]);
    expect(await notReloaded(page)).toBe(true);
  });

  it('maintenance from the console takes the instance out of DNS answers', async () => {
    const signpost = await start();
    await register(signpost, 'web', 'web-1', { address: '127.0.0.31', port: 80 });
    await register(signpost, 'web', 'web-2', { address: '127.0.0.32', port: 80 });
    expect((await signpost.resolver().resolve4('web.service.local')).sort()).toEqual(['127.0.0.31', '127.0.0.32']);
    const page = await open(`${signpost.url}/ui/#/services/web`);
    await enterToken(page, ADMIN);
    await page.getByText('Token set (this tab)').waitFor();
    expect(await page.evaluate(() => [sessionStorage.getItem('signpost.token'), localStorage.length, document.cookie])).toEqual([ADMIN, 0, '']);

    await row(page, 'web-1').getByRole('button', { name: 'Maintenance…' }).click();
    await page.getByLabel('Reason').fill('disk swap');
    await page.getByRole('button', { name: 'Start maintenance' }).click();
    await row(page, 'web-1').locator('.badge', { hasText: 'maintenance' }).waitFor();
    await row(page, 'web-1').getByText('disk swap').first().waitFor();
    expect(await signpost.resolver().resolve4('web.service.local')).toEqual(['127.0.0.32']);
    expect(signpost.registry.get('web', 'web-1')?.maintenance).toEqual({ reason: 'disk swap' });

    await row(page, 'web-1').getByRole('button', { name: 'End maintenance' }).click();
    await row(page, 'web-1').locator('.badge', { hasText: 'passing' }).waitFor();
    expect((await signpost.resolver().resolve4('web.service.local')).sort()).toEqual(['127.0.0.31', '127.0.0.32']);

    // The token is this tab's: another tab of the same browser is read-only.
    const other = await context.newPage();
    cleanups.push(() => other.close());
    await other.goto(`${signpost.url}/ui/`);
    await other.getByText('Read-only: without a token').waitFor();
  });

  it("a refused action shows the server's reason, and changes nothing", async () => {
    const signpost = await start();
    await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 80 });
    const page = await open(`${signpost.url}/ui/#/services/web`);
    await enterToken(page, 'not-a-real-token');
    await row(page, 'web-1').getByRole('button', { name: 'Deregister…' }).click();
    await page.getByRole('dialog').getByText('Deregister web-1?').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Deregister' }).click();
    await page.getByRole('alert').getByText('Refused (401): unknown bearer token').waitFor();
    expect(signpost.registry.get('web', 'web-1')).toBeDefined();

    // A real token without rights on this service: 403, the server's words.
    await page.getByRole('button', { name: 'Forget' }).click();
    await enterToken(page, OTHER_TEAM);
    await page.getByLabel('Warm-up (seconds)').fill('30');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('alert').getByText('Refused (403): this token may not write service web').waitFor();
    expect(signpost.registry.settings('web').warmup).toBe(0);

    // With the right token the same form works, and the warm-up it sets shows.
    await page.getByRole('button', { name: 'Forget' }).click();
    await enterToken(page, ADMIN);
    await page.getByLabel('Warm-up (seconds)').fill('30');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').getByText('Settings of web saved.').waitFor();
    expect(signpost.registry.settings('web').warmup).toBe(30);
    await register(signpost, 'web', 'web-2', { address: '10.0.0.2', port: 80, weight: 100 });
    await row(page, 'web-2').locator('svg.progress').waitFor();
    expect(await row(page, 'web-2').locator('td').nth(2).innerText()).toMatch(/^\d+ \/ 100$/);
  });

  it('a link with a bad escape shows the service list, on load and on a hash change, without a page error', async () => {
    const signpost = await start();
    await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 80 });
    const page = await open(`${signpost.url}/ui/#/services/%E0`);
    await page.locator('tr[data-service="web"]').waitFor();
    await page.evaluate(() => (location.hash = '#/services/web'));
    await row(page, 'web-1').waitFor();
    await page.evaluate(() => (location.hash = '#/services/%E0%A4'));
    await page.locator('tr[data-service="web"]').waitFor();
    expect(await row(page, 'web-1').count()).toBe(0);
  });

  it('markup in free-text fields (meta, health notes, maintenance reasons) renders as text', async () => {
    const signpost = await start();
    const markup = '<img src=x onerror="window.pwned=1"><b id="injected">bold</b>';
    await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 80, meta: { note: markup, 'x.y': '"><script>window.pwned=2</script>' } });
    await api(signpost, 'PUT', '/v1/services/web/instances/web-1/heartbeat', { status: 'warning', note: markup });
    await api(signpost, 'PUT', '/v1/services/web/instances/web-1/maintenance', { enabled: true, reason: `<i id="injected-reason">${markup}</i>` });
    const page = await open(`${signpost.url}/ui/#/services/web`);
    await row(page, 'web-1').locator('.badge', { hasText: 'maintenance' }).waitFor();
    const meta = await row(page, 'web-1').locator('dl.meta dd').allInnerTexts();
    expect(meta).toEqual([markup, '"><script>window.pwned=2</script>']);
    expect(await row(page, 'web-1').locator('.note').allInnerTexts()).toEqual([markup, `<i id="injected-reason">${markup}</i>`]);
    expect(await page.locator('#injected, #injected-reason, img[src="x"], main script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });

  it('a lost connection shows a banner; the console reconnects by itself and catches up without a reload', async () => {
    const signpost = await start();
    const proxy: TestProxy = await startProxy(signpost.http.port);
    cleanups.push(() => proxy.close());
    await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 80 });
    const page = await open(`${proxy.url}/ui/`);
    await page.locator('tr[data-service="web"]').waitFor();
    await page.getByText('● live').waitFor();

    await proxy.cut();
    await page.getByRole('alert').getByText('Connection to the server lost').waitFor();
    // Changes made while the console cannot see them.
    await register(signpost, 'api', 'api-1', { address: '10.0.0.2', port: 80 });
    await api(signpost, 'DELETE', '/v1/services/web/instances/web-1');

    const before = proxy.sent.length;
    await proxy.restore();
    await page.locator('tr[data-service="api"]').waitFor();
    // It resumed the event stream where it left off: the server replays what it missed from there.
    const resumed = proxy.sent.slice(before).filter((text) => text.startsWith('GET /v1/watch '));
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[0]).toMatch(/\r\nlast-event-id: \d+\r\n/i);
    await page.locator('tr[data-service="web"]').waitFor({ state: 'detached' });
    await page.getByText('Connection to the server lost').waitFor({ state: 'detached' });
    await page.getByText('● live').waitFor();
    expect(await notReloaded(page)).toBe(true);
  });

  it('with --read-requires-token the page loads, asks for a token, then shows the registry', async () => {
    const signpost = await start({ readRequiresToken: true });
    await register(signpost, 'web', 'web-1', { address: '10.0.0.1', port: 80 });
    const page = await open(`${signpost.url}/ui/`);
    await page.getByRole('alert').getByText('This server needs a token to read').waitFor();
    await enterToken(page, ADMIN);
    await page.locator('tr[data-service="web"]').waitFor();
    await page.getByText('● live').waitFor();
  });

  it('the server page shows the settings that matter and live figures', async () => {
    const signpost = await start();
    await register(signpost, 'web', 'web-1', { address: '127.0.0.41', port: 80 });
    const page = await open(`${signpost.url}/ui/#/server`);
    await page.getByText(`127.0.0.1:${signpost.dns.port}`).waitFor();
    expect(await page.locator('dl.pairs').innerText()).toMatch(/Forwarding\s+off/);
    expect(await page.locator('.store-state').innerText()).toBe('memory available');
    // DNS queries show up in the replies chart.
    const resolver = signpost.resolver();
    await Promise.all(Array.from({ length: 20 }, () => resolver.resolve4('web.service.local')));
    await page.locator('figure.chart', { hasText: 'DNS replies a second' }).locator('.legend li', { hasText: /NOERROR [1-9]/ }).waitFor();
    await page.locator('figure.chart', { hasText: 'Instances by status' }).locator('.legend li', { hasText: 'passing 1' }).waitFor();
  });
});
