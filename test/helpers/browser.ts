// Debian's Chromium, driven by playwright-core (no browser download): one launch configuration for
// the console's tests and its screenshots. Playwright gives every launch a fresh profile directory
// of its own and removes it on close.
import { chromium, type Browser } from 'playwright-core';

/** Installed by scripts/system-tools.ts (`npm test` runs it first). */
export const CHROMIUM = '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      // As root (CI) Chromium refuses to start sandboxed.
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Without this Chromium sends DNS queries to the machine's nameservers (for its own probes),
      // which no test may reach: every name fails, except the loopback address the tests use.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
  });
}
