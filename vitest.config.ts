import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 30_000,
  hookTimeout: 30_000,
  // Tests start real servers on ephemeral ports; files run in parallel, each in its own worker.
  pool: 'forks',
} as const;

/** Files that drive a real browser: Chromium takes a core of its own, so they run after the rest, not beside it. */
const BROWSER_TESTS = ['test/console.test.ts'];

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'server', include: ['test/**/*.test.ts'], exclude: BROWSER_TESTS, sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: 'browser', include: BROWSER_TESTS, sequence: { groupOrder: 1 } } },
    ],
  },
});
