// Installs the system tools the tests and benchmarks use, when they are missing.
// Runs before `npm test` and `npm run bench`. As root it installs with apt-get (after
// `apt-get update`); otherwise it prints the exact command to run and fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

/** command on PATH → Debian package that provides it. */
const TOOLS: Record<string, string> = {
  dig: 'dnsutils',
  dnsperf: 'dnsperf',
  // By path: /usr/sbin is not on every user's PATH, and the forwarding tests start it by this path.
  '/usr/sbin/dnsmasq': 'dnsmasq-base',
  // The clustered store's tests and benchmark run real etcd members (test/helpers/etcd.ts starts it by this path).
  '/usr/bin/etcd': 'etcd-server',
  // A Prometheus-compatible scraper whose consul_sd_configs the Consul API's tests point at Signpost
  // (Debian's prometheus package is built without Consul discovery).
  '/usr/bin/victoria-metrics': 'victoria-metrics',
  // The web console's tests drive Debian's Chromium with playwright-core (test/helpers/browser.ts).
  '/usr/bin/chromium': 'chromium',
  // Real recursive resolvers in front of Signpost, and DNS clients (test/resolvers.test.ts).
  '/usr/sbin/unbound': 'unbound',
  '/usr/sbin/named': 'bind9',
  kdig: 'knot-dnsutils',
  drill: 'ldnsutils',
  // The README's commands, run as written (test/readme.test.ts), in a private network namespace.
  curl: 'curl',
  openssl: 'openssl',
  '/usr/sbin/ip': 'iproute2',
};

/**
 * Debian starts a package's daemon on install (etcd on 2379, victoria-metrics on every interface's
 * 8428, Unbound and BIND on port 53) unless policy-rc.d says no. The tests start their own, on
 * loopback ports: say no for the install, unless the machine already has a policy.
 */
const POLICY_RC = '/usr/sbin/policy-rc.d';

/** Packages installed here whose systemd unit would start at the next boot: disabled after the install. */
const UNITS: Record<string, string> = { 'etcd-server': 'etcd', 'victoria-metrics': 'victoria-metrics', unbound: 'unbound', bind9: 'named' };

const wanted = process.argv.slice(2);
const missing = [
  ...new Set(
    Object.entries(TOOLS)
      .filter(([command]) => wanted.length === 0 || wanted.includes(command))
      .filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0)
      .map(([, pkg]) => pkg),
  ),
];

if (missing.length > 0) {
  const install = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) {
    console.error(`missing system tools; install them with:\n  sudo apt-get update && sudo ${install.join(' ')}`);
    process.exit(1);
  }
  console.log(`installing ${missing.join(', ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const ownPolicy = !existsSync(POLICY_RC);
  if (ownPolicy) writeFileSync(POLICY_RC, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    execFileSync(install[0], install.slice(1), { stdio: 'inherit', env });
  } finally {
    if (ownPolicy) rmSync(POLICY_RC);
  }
  // Installed for the tests only: not a service of this machine at its next boot either.
  const units = missing.filter((pkg) => pkg in UNITS).map((pkg) => UNITS[pkg]);
  const systemd = spawnSync('systemctl', ['is-system-running'], { encoding: 'utf8' });
  if (units.length > 0 && !systemd.error && systemd.stdout.trim() !== 'offline') spawnSync('systemctl', ['disable', '--now', ...units], { stdio: 'inherit' });
}
