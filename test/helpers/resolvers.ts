// Real recursive resolvers in front of a Signpost, as people run them: Unbound iterating to it as
// a stub zone (with QNAME minimisation, optionally strict), and BIND 9 forwarding the zone to it.
// Each runs from a config in a temp directory, on a free loopback port, reaches nothing but the
// Signpost it is given (every other name is refused or has no root hints), and is stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query, sendUdp } from './signpost.ts';
import { freeUdpPort, stopChild } from './upstream.ts';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 15_000;

export interface RecursiveResolver {
  name: string;
  port: number;
  /** What the resolver printed (its queries, with Unbound's log-queries; start-up lines). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Unbound treating `<domain>.` as a stub zone served by Signpost on `signpostPort`: it iterates
 * itself (RD=0, DO set) and minimises its queries, one label at a time. `strict`: an NXDOMAIN on
 * the way down means the whole subtree is gone (qname-minimisation-strict). Cache settings are
 * Unbound's defaults, so only the TTLs Signpost sends bound what it keeps.
 */
export function startUnbound(signpostPort: number, domain: string, { strict }: { strict: boolean }): Promise<RecursiveResolver> {
  return startResolver(`unbound${strict ? ' (strict)' : ''}`, domain, (dir, port) => {
    const config = join(dir, 'unbound.conf');
    writeFileSync(
      config,
      [
        'server:',
        `  interface: ${HOST}`,
        `  port: ${port}`,
        '  do-ip6: no',
        '  access-control: 127.0.0.0/8 allow',
        // Stay root in the temp directory (the defaults setuid to `unbound` and chroot to /etc/unbound).
        '  username: ""',
        '  chroot: ""',
        `  directory: "${dir}"`,
        '  pidfile: ""',
        '  use-syslog: no',
        '  logfile: ""',
        '  verbosity: 1',
        '  log-queries: yes',
        '  num-threads: 1',
        // No validator: the zone is unsigned and no trust anchor is needed.
        '  module-config: "iterator"',
        '  do-not-query-localhost: no',
        `  domain-insecure: "${domain}."`,
        '  qname-minimisation: yes',
        `  qname-minimisation-strict: ${strict ? 'yes' : 'no'}`,
        // Every other name is refused here: nothing ever goes to the root servers.
        '  local-zone: "." refuse',
        `  local-zone: "${domain}." transparent`,
        'remote-control:',
        '  control-enable: no',
        'stub-zone:',
        `  name: "${domain}."`,
        `  stub-addr: ${HOST}@${signpostPort}`,
        '',
      ].join('\n'),
    );
    return spawn('/usr/sbin/unbound', ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  });
}

/**
 * BIND 9 (`named`) with `<domain>` as a forward zone to Signpost: one query per question, RD and
 * DO set, the full name. No root hints, so other names fail at once and nothing leaves loopback.
 * Cache limits are BIND's defaults but for the cache's size.
 */
export function startBind(signpostPort: number, domain: string): Promise<RecursiveResolver> {
  return startResolver('BIND', domain, (dir, port) => {
    const config = join(dir, 'named.conf');
    writeFileSync(
      config,
      [
        'options {',
        `  directory "${dir}";`,
        '  pid-file none;',
        '  session-keyfile none;',
        `  listen-on port ${port} { ${HOST}; };`,
        '  listen-on-v6 { none; };',
        '  recursion yes;',
        `  allow-query { ${HOST}; };`,
        `  allow-recursion { ${HOST}; };`,
        '  dnssec-validation no;',
        // The default is 90% of the machine's memory.
        '  max-cache-size 32m;',
        '  querylog yes;',
        '};',
        'controls { };',
        `zone "${domain}" { type forward; forward only; forwarders { ${HOST} port ${signpostPort}; }; };`,
        'zone "." { type hint; file "/dev/null"; };',
        '',
      ].join('\n'),
    );
    return spawn('/usr/sbin/named', ['-g', '-4', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  });
}

/**
 * Starts a resolver on a free port and resolves once it answers `<domain>. SOA` through Signpost,
 * which proves the path to Signpost works too. Retries on another port if the port was taken.
 */
async function startResolver(name: string, domain: string, launch: (dir: string, port: number) => ChildProcess): Promise<RecursiveResolver> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'signpost-resolver-'));
    const port = await freeUdpPort();
    const child = launch(dir, port);
    let log = '';
    child.stdout!.on('data', (chunk) => (log += chunk));
    child.stderr!.on('data', (chunk) => (log += chunk));
    const exited = once(child, 'exit');
    const ready = await Promise.race([untilAnswers(port, domain), exited.then(() => false)]);
    const stop = async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    };
    if (ready) return { name, port, output: () => log, stop };
    await stop();
    if (attempt === 3 || !/address (already )?in use/i.test(log)) throw new Error(`${name} did not start:\n${log}`);
  }
}

async function untilAnswers(port: number, domain: string): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const reply = await sendUdp(port, query(domain, 'SOA'), 200);
    // NOERROR: the resolver is up and reached Signpost.
    if (reply && (reply[3] & 0x0f) === 0) return true;
  }
  return false;
}
