// The README's commands, run as written, as a user would on a fresh machine with its own Node.
//
// Every command in a ```sh block of README.md is either run here (in README order, in the shell of
// its section, with the machine's PATH: its own Node and npm, not the project's) and checked, or
// named below as not run, with the reason. A command nobody accounted for fails this test, so a
// new README command gets a check with it. The runs happen in a copy of the project (its files and
// installed node_modules) inside a private network namespace (`unshare -n`, as root), so the
// default ports 8500 and 8600 are free whatever runs on this machine and nothing leaves it; the
// port 53 section also gets a private mount namespace, where /etc/resolv.conf is a scratch file.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** What a login shell has: no node_modules/.bin, so `node` and `npm` are the machine's. */
const USER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Block {
  section: string;
  language: string;
  code: string;
}

/** Fenced code blocks, each with the `##` section it is in. */
function blocksOf(markdown: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]);
    if (heading) section = heading[1];
    const fence = /^```(\w*)$/.exec(lines[i]);
    if (!fence) continue;
    const start = ++i;
    while (i < lines.length && lines[i] !== '```') i++;
    blocks.push({ section, language: fence[1], code: lines.slice(start, i).join('\n') });
  }
  return blocks;
}

/** The commands of a shell block: continuation lines joined, comments and blank lines dropped. */
function commandsOf(code: string): string[] {
  return code
    .replace(/\s*\\\n\s*/g, ' ')
    .split('\n')
    .map(withoutComment)
    .filter((command) => command !== '');
}

/** A line without its `# comment` (a `#` after a space, outside quotes). */
function withoutComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i).trim();
    }
  }
  return line.trim();
}

/** How a README command is run and what shows it worked. */
interface Check {
  command: RegExp;
  /** Long-running (a server): started in the background; it worked once its output matches `ready`. */
  ready?: RegExp;
  /** Runs to completion with status 0; its output matches this. */
  output?: RegExp;
}

/** Sections whose commands run here, in order, in one shell each. */
const RUN: Record<string, { mountNamespace?: boolean; checks: Check[] }> = {
  'Quick start': {
    checks: [
      { command: /^npm install && npm start$/, ready: /"signpost ready"/ },
      { command: /^npx signpost register web 10\.0\.0\.1:8080 --id web-1 /, ready: /^registered web\/web-1 at 10\.0\.0\.1:8080/m },
      { command: /^dig @127\.0\.0\.1 -p 8600 web\.service\.local SRV$/, output: /status: NOERROR[\s\S]*web\.service\.local\.\s+5\s+IN\s+SRV\s+0 10 8080 web-1\.web\.instance\.local\./ },
      { command: /^dig @127\.0\.0\.1 -p 8600 _web\._tcp\.service\.local SRV \+short$/, output: /^0 10 8080 web-1\.web\.instance\.local\.\n$/ },
      { command: /^dig @127\.0\.0\.1 -p 8600 web-1\.web\.instance\.local TXT \+short$/, output: /^"version=2\.1\.0"\n$/ },
      { command: /^npx signpost ls web$/, output: /^web-1\s+10\.0\.0\.1:8080\s+0\s+10\s+passing\s+\d+s\s+v2/m },
      { command: /^npx signpost watch$/, ready: /^signpost: watching every service/m },
      { command: /^curl -X PUT http:\/\/127\.0\.0\.1:8500\/v1\/services\/api\/instances\/api-1 -H/, output: /"id":"api-1".*"status":"passing"/ },
      { command: /^curl -X PUT http:\/\/127\.0\.0\.1:8500\/v1\/services\/api\/instances\/api-1\/heartbeat$/, output: /\{"status":"passing","expiresAt":"/ },
      { command: /^npm run example:provider$/, ready: /registered as hello\// },
      { command: /^npm run example:consumer$/, output: /consumer #1 hello-\d+\.hello\.instance\.local -> 127\.0\.0\.1:\d+: 200/ },
      { command: /^npm run example:greeter-server$/, ready: /greeter greeter-\d+ serving on 127\.0\.0\.1:\d+, registered/ },
      { command: /^npm run example:greeter-client$/, output: /greeter-client #1: hello call 1 \(from greeter-\d+\)/ },
    ],
  },
  'Using Signpost as the system resolver': {
    mountNamespace: true,
    checks: [
      { command: /^sudo npx signpost serve --dns 127\.0\.0\.53:53 --domain internal --recursor 10\.0\.0\.2$/, ready: /"dns":"127\.0\.0\.53:53".*"signpost ready"/ },
      { command: /^printf 'nameserver 127\.0\.0\.53\\n' \| sudo tee \/etc\/resolv\.conf$/, output: /^nameserver 127\.0\.0\.53\n$/ },
    ],
  },
  Security: {
    checks: [
      { command: /^TOKEN=\$\(openssl rand -hex 24\)$/, output: /^$/ },
      { command: /^printf '%s\\n' "\$TOKEN payments,billing" .* > tokens$/, output: /^$/ },
      { command: /^npx signpost serve --token-file tokens$/, ready: /"signpost ready"/ },
      { command: /^curl -X PUT -H "Authorization: Bearer \$TOKEN" .*\/v1\/services\/payments\/instances\/p-1$/, output: /"service":"payments","id":"p-1"/ },
      { command: /^openssl req -x509 -newkey ec .* -subj \/CN=signpost-ca -keyout ca\.key -out ca\.crt$/ },
      { command: /^openssl req -x509 -CA ca\.crt .* -subj \/CN=signpost .*-keyout server\.key -out server\.crt$/ },
      { command: /^npx signpost serve --http 127\.0\.0\.1:8443 .*--tls-cert server\.crt --tls-key server\.key$/, ready: /"signpost ready"/ },
      { command: /^curl --cacert ca\.crt -X PUT .* https:\/\/127\.0\.0\.1:8443\/v1\/services\/shop\/instances\/shop-1$/, output: /"service":"shop","id":"shop-1"/ },
      { command: /^SIGNPOST_URL=https:\/\/127\.0\.0\.1:8443 NODE_EXTRA_CA_CERTS=ca\.crt npx signpost ls$/, output: /^shop\s+1\s/m },
      { command: /^openssl req -x509 -CA ca\.crt .* -subj \/CN=deployer .*-keyout client\.key -out client\.crt$/ },
      { command: /^etcd --data-dir etcd-data .*--client-cert-auth$/, ready: /serving client requests on 127\.0\.0\.1:2379/ },
      { command: /^npx signpost serve --http 127\.0\.0\.1:8444 .*--etcd-key client\.key$/, ready: /"signpost ready"/ },
      { command: /^curl --cacert ca\.crt --cert client\.crt --key client\.key https:\/\/127\.0\.0\.1:8444\/v1\/services$/, output: /\{"services":\[\]\}$/ },
    ],
  },
};

/** Sections whose commands are not run here, and why. */
const NOT_RUN: Record<string, string> = {
  Tests: 'CI itself runs these (.ci/run, on a fresh clone); the suite cannot run itself',
  Benchmarks: 'they take minutes and need the bench lock; each must be a script of package.json (checked below)',
};

function shellCommands(): Array<{ section: string; command: string }> {
  return blocksOf(README)
    .filter((block) => block.language === 'sh')
    .flatMap((block) => commandsOf(block.code).map((command) => ({ section: block.section, command })));
}

describe('README commands', () => {
  it('every command is run here or said not to be, with the reason', () => {
    const unaccounted: string[] = [];
    for (const { section, command } of shellCommands()) {
      if (section in NOT_RUN) continue;
      const matching = RUN[section]?.checks.filter((check) => check.command.test(command)) ?? [];
      if (matching.length !== 1) unaccounted.push(`[${section}] ${command} (${matching.length} checks match)`);
    }
    expect(unaccounted, 'README commands test/readme.test.ts neither runs nor explains').toEqual([]);
    // And every check still has its command (a README edit did not leave it behind).
    for (const [section, { checks }] of Object.entries(RUN)) {
      const commands = shellCommands().filter((entry) => entry.section === section);
      for (const check of checks) expect(commands.some(({ command }) => check.command.test(command)), `${section}: ${check.command}`).toBe(true);
    }
  });

  it('every npm script the README names exists', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const named = [...README.matchAll(/npm (?:run ([\w:-]+)|(start|test)\b)/g)].map((match) => match[1] ?? match[2]);
    expect(named.length).toBeGreaterThan(5);
    for (const script of new Set(named)) expect(scripts, script).toHaveProperty(script);
  });
});

/** Why the commands cannot be run here, or null when they can. */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root, for unshare -n and -m';
  const probe = spawnSync('unshare', ['-m', '-n', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) return `unshare -m -n is not possible here: ${(probe.stderr || probe.error?.message || '').trim()}`;
  if (!existsSync(join(ROOT, 'node_modules/.bin/node'))) return 'node_modules is not installed';
  return null;
}
const skipReason = unavailable();
if (skipReason) console.warn(`README commands not run: ${skipReason}`);

describe.skipIf(skipReason !== null)(`README commands, run as written${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  let copy: string;
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'signpost-readme-'));
    copy = join(scratch, 'signpost');
    // The project as a clone has it (tracked and new files, not ignored ones), and what `npm install` installed.
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const file of files) {
      if (!existsSync(join(ROOT, file))) continue;
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      cpSync(join(ROOT, file), join(copy, file));
    }
    cpSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  }, 60_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('Quick start: install, start, register, resolve with dig and from Node (on the machine\'s Node), the examples', async () => {
    const results = await runSection(copy, scratch, 'Quick start');
    expectAllWorked(results);
    // `npm install` on this machine's npm and Node: nothing about engines that the project's own Node does not satisfy.
    expect(engineWarnings(results[0].output)).toEqual([]);
    // The snippet prints what the README's comment says it returns.
    const snippet = results.find((result) => result.command === SNIPPET)!;
    const claimed = /^\/\/ (\[.*\])$/m.exec(snippet.code!)![1];
    expect(JSON.parse(snippet.output)).toEqual(JSON.parse(claimed.replace(/'/g, '"').replace(/(\w+):/g, '"$1":')));
  }, 180_000);

  it('Security: a token file, a server that needs it, a write with the token; HTTPS, client certificates, etcd over TLS', async () => {
    expectAllWorked(await runSection(copy, scratch, 'Security'));
  }, 120_000);

  it('Port 53: Signpost as the system resolver (resolv.conf in a private mount namespace)', async () => {
    const results = await runSection(copy, scratch, 'Using Signpost as the system resolver');
    expectAllWorked(results);
  }, 120_000);
});

interface StepResult {
  command: string;
  check: Check;
  status: number | null;
  output: string;
  /** A JavaScript snippet's code. */
  code?: string;
}

/** The command name of a README JavaScript snippet run on the machine's Node. */
const SNIPPET = 'node readme-snippet.mjs';

function expectAllWorked(results: StepResult[]): void {
  for (const { command, check, status, output } of results) {
    const shown = `${command}\n--- output ---\n${output.slice(-3000)}`;
    if (check.ready) {
      expect(output, `never ready: ${shown}`).toMatch(check.ready);
    } else {
      expect(status, `exit status of ${shown}`).toBe(0);
      if (check.output) expect(output, shown).toMatch(check.output);
    }
  }
}

/**
 * Runs README section `section` in order, in one bash (so `TOKEN=…` carries over), in the copy,
 * with the user's PATH and HOME, in a private network namespace. A command with a `ready` check
 * runs in the background in its own process group until the section is done. A JavaScript block
 * runs on the machine's Node as a module, its last `await …;` printed.
 */
async function runSection(copy: string, scratch: string, section: string): Promise<StepResult[]> {
  const { mountNamespace = false, checks } = RUN[section];
  const dir = mkdtempSync(join(scratch, 'run-'));
  const steps: Array<{ command: string; check: Check; code?: string }> = [];
  for (const block of blocksOf(README).filter((entry) => entry.section === section)) {
    if (block.language === 'sh') {
      for (const command of commandsOf(block.code)) steps.push({ command, check: checks.find((check) => check.command.test(command))! });
    } else if (block.language === 'js') {
      writeFileSync(join(copy, 'readme-snippet.mjs'), block.code.replace(/^await (.+);$/m, 'console.log(JSON.stringify(await $1));'));
      steps.push({ command: SNIPPET, check: { command: /./ }, code: block.code });
    }
  }
  const lines = [
    'ip link set lo up',
    ...(mountNamespace ? [`touch ${dir}/resolv.conf`, `mount --bind ${dir}/resolv.conf /etc/resolv.conf`] : []),
    `cd ${copy}`,
    `export PATH=${USER_PATH}`,
    // Root needs no sudo; a machine without it (a CI container) gets one that just runs the command.
    'command -v sudo >/dev/null || { sudo() { "$@"; }; export -f sudo; }',
    'groups=()',
    'trap \'for group in "${groups[@]}"; do kill -TERM -- "-$group" 2>/dev/null; done; wait\' EXIT',
  ];
  steps.forEach(({ command, check }, i) => {
    writeFileSync(join(dir, `${i}.sh`), `${command}\n`);
    const log = join(dir, `${i}.log`);
    if (check.ready) {
      lines.push(
        `setsid bash ${dir}/${i}.sh > ${log} 2>&1 &`,
        'groups+=($!)',
        `for tick in $(seq 600); do grep -qE '${check.ready.source.replace(/'/g, "'\\''")}' ${log} && break; kill -0 $! 2>/dev/null || break; sleep 0.1; done`,
      );
    } else {
      lines.push(`. ${dir}/${i}.sh > ${log} 2>&1; echo $? > ${dir}/${i}.status`);
    }
  });
  const script = join(dir, 'section.sh');
  writeFileSync(script, `${lines.join('\n')}\n`);
  const child = spawn('unshare', [mountNamespace ? '-mn' : '-n', 'bash', script], { stdio: 'ignore', env: { ...process.env, PATH: USER_PATH } });
  await once(child, 'exit');
  return steps.map(({ command, check, code }, i) => {
    const file = (suffix: string) => join(dir, `${i}.${suffix}`);
    return {
      command,
      check,
      code,
      status: existsSync(file('status')) ? Number(readFileSync(file('status'), 'utf8')) : null,
      output: existsSync(file('log')) ? readFileSync(file('log'), 'utf8') : '',
    };
  });
}

/**
 * npm's warnings that nobody has explained: npm checks every package against the Node running npm
 * (the machine's), while the project's code runs on the Node it brings (the `node` devDependency).
 * The README explains the one expected on Node 20 (dns2); any other engine warning, one the brought
 * Node would not satisfy either, or any other npm warning is returned.
 */
function engineWarnings(output: string): string[] {
  const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const brought = packageJson.devDependencies.node;
  const explained = ['dns2@'];
  const problems: string[] = [];
  const blocks = output.split(/npm warn EBADENGINE Unsupported engine \{/).slice(1);
  for (const block of blocks) {
    const pkg = /package: '([^']+)'/.exec(block)?.[1] ?? '?';
    const required = /required: \{ node: '([^']+)'/.exec(block)?.[1];
    if (!explained.some((name) => pkg.startsWith(name))) problems.push(`${pkg} needs node ${required}: not explained in the README`);
    else if (!required || !satisfies(brought, required)) problems.push(`${pkg} needs node ${required}, and the project runs on ${brought}`);
  }
  const otherWarnings = output.split('\n').filter((line) => /^npm warn /.test(line) && !line.startsWith('npm warn EBADENGINE'));
  return [...problems, ...otherWarnings];
}

/** Does version `x.y.z` satisfy `range` (`>=N[.N[.N]]`, `^N.N.N`, alternatives with `||`)? Anything else: no. */
function satisfies(version: string, range: string): boolean {
  const parse = (text: string) => text.split('.').map(Number).concat([0, 0, 0]).slice(0, 3);
  const compare = (a: number[], b: number[]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  const have = parse(version);
  return range.split('||').some((alternative) => {
    const [, operator, wanted] = /^\s*(>=|\^)\s*(\d+(?:\.\d+){0,2})\s*$/.exec(alternative) ?? [];
    if (!wanted) return false;
    const want = parse(wanted);
    return operator === '>=' ? compare(have, want) >= 0 : have[0] === want[0] && compare(have, want) >= 0;
  });
}
