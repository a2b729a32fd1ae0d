// The package as users get it: `npm pack`, installed into a fresh project from the tarball, then all
// three entry points used from there: the server embedded with startSignpost (Node 24), the client
// and the gRPC resolver on the oldest Node the client supports (the machine's own Node 20 when
// there is one), `npx signpost --version`, and the server refusing a Node too old for it.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_NODE } from '../src/lib/node-version.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), 'signpost-package-'));
const app = join(work, 'app');
/** PATH without npm's additions (node_modules/.bin), as in a shell of the machine. */
const systemPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);
/** PATH with this test's Node (24) first. */
const node24Path = [join(process.execPath, '..'), systemPath].join(delimiter);

/** The machine's own Node when it is older than the server needs (Node 20 here), else undefined. */
function oldNode(): string | undefined {
  for (const dir of systemPath.split(delimiter)) {
    const candidate = join(dir, 'node');
    if (!existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
    if (Number(version.slice(1).split('.')[0]) < SERVER_NODE.major) return candidate;
  }
  return undefined;
}
const OLD_NODE = oldNode();
const CLIENT_NODE = OLD_NODE ?? process.execPath;

let server: ChildProcess | undefined;
let ports: { http: number; dns: number };

beforeAll(async () => {
  // prepack builds dist/ first: the tarball always holds a fresh build.
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT });
  const tarball = join(work, stdout.trim().split('\n').pop()!);
  await run('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', allowScripts: { protobufjs: false } }));
  // From the tarball; the registry's packages (fastify, grpc-js, ...) come from npm's cache when it has them.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `@grpc/grpc-js@${manifest.devDependencies['@grpc/grpc-js']}`], {
    cwd: app,
  });
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(app, name), text);
  server = spawn(process.execPath, ['server.mjs', join(work, 'data')], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(server, 'exit').then(([code]) => {
    throw new Error(`the embedded server exited (${code}) before it was ready; its error is above`);
  });
  const [line] = (await Promise.race([once(createInterface({ input: server.stdout! }), 'line'), exited])) as [string];
  ports = JSON.parse(line);
}, 300_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  rmSync(work, { recursive: true, force: true });
});

describe('installed from the tarball', () => {
  it('ships compiled JavaScript with types, and no TypeScript sources', () => {
    const installed = join(app, 'node_modules/signpost');
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/grpc/index.js', 'dist/grpc/index.d.ts', 'bin/signpost.js']) {
      expect(existsSync(join(installed, file)), file).toBe(true);
    }
    expect(existsSync(join(installed, 'src'))).toBe(false);
  });

  it('embeds the server, web console included (its files are copied beside the compiled code)', async () => {
    const page = await fetch(`http://127.0.0.1:${ports.http}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await fetch(`http://127.0.0.1:${ports.http}/ui/vendor/lit-html/lit-html.js`)).status).toBe(200);
  });

  it(`runs the client and the gRPC resolver on Node ${execFileSync(CLIENT_NODE, ['--version'], { encoding: 'utf8' }).trim()} against the embedded server`, async () => {
    const { stdout } = await run(CLIENT_NODE, ['client.mjs', `http://127.0.0.1:${ports.http}`, `127.0.0.1:${ports.dns}`], {
      cwd: app,
      env: { PATH: systemPath, SIGNPOST_URL: `http://127.0.0.1:${ports.http}` },
    });
    const result = JSON.parse(stdout) as Record<string, unknown>;
    if (OLD_NODE) expect(result.node).toMatch(/^v20\./);
    expect(result).toMatchObject({
      watched: 'register greeter/greeter-1',
      http: ['greeter-1'],
      dns: 'greeter-1 127.0.0.1',
      grpc: { message: 'hello package', from: 'greeter-1' },
      warning: 'warning',
    });
    // close() deregistered it.
    expect((await fetch(`http://127.0.0.1:${ports.http}/v1/services/greeter`)).status).toBe(404);
  });

  it('`npx signpost --version` prints the version and the Node it runs on', async () => {
    const { stdout } = await run('npx', ['signpost', '--version'], { cwd: app, env: { PATH: node24Path } });
    expect(stdout.trim()).toBe(`signpost ${manifest.version} (Node ${process.version})`);
    if (OLD_NODE) {
      const old = await run('npx', ['signpost', '-v'], { cwd: app, env: { PATH: [join(OLD_NODE, '..'), systemPath].join(delimiter) } });
      expect(old.stdout.trim()).toMatch(new RegExp(`^signpost ${manifest.version.replace(/\./g, '\\.')} \\(Node v20\\.`));
    }
  });

  it.skipIf(!OLD_NODE)('`signpost serve` on a Node too old for the server: one line, exit status 1; importing the server says why', async () => {
    const child = spawn(join(app, 'node_modules/.bin/signpost'), ['serve', '--store', 'memory', '--http', '127.0.0.1:0', '--dns', '127.0.0.1:0'], {
      cwd: app,
      env: { PATH: [join(OLD_NODE!, '..'), systemPath].join(delimiter) },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    const tooOld = `the Signpost server needs Node ${SERVER_NODE.major}\\.${SERVER_NODE.minor} or newer; this is Node v20\\.[\\d.]+ \\(the client runs on Node 20\\)`;
    expect(stderr).toMatch(new RegExp(`^signpost: ${tooOld}\\n$`));
    const embedded = await run(OLD_NODE!, ['--input-type=module', '-e', "await import('signpost').catch((error) => console.log(error.message))"], { cwd: app });
    expect(embedded.stdout).toMatch(new RegExp(`^${tooOld}\\n$`));
  });

  it('types: a consumer type-checks against the three entry points, and a wrong use is an error', async () => {
    const tsc = join(ROOT, 'node_modules/.bin/tsc');
    await run(tsc, ['-p', 'tsconfig.json'], { cwd: app });
    writeFileSync(join(app, 'wrong.ts'), `import { SignpostClient } from 'signpost/client';\nawait new SignpostClient().register({ service: 'web', id: 'web-1', address: '10.0.0.1', port: '80' });\n`);
    const failed = await run(tsc, ['-p', 'tsconfig.json'], { cwd: app }).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    expect(failed).toMatch(/wrong\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });
});

/** The consumer project's files. */
const FILES: Record<string, string> = {
  'server.mjs': `
import { startSignpost } from 'signpost';
const signpost = await startSignpost({ store: 'sqlite', dataDir: process.argv[2], dns: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'silent',
  // No overload guard: a loaded test machine would have it refuse the requests below.
  httpMaxEventLoopDelay: 0 });
console.log(JSON.stringify({ http: signpost.http.port, dns: signpost.dns.port }));
process.once('SIGTERM', () => signpost.close());
`,
  'greeter.mjs': `
import { makeGenericClientConstructor } from '@grpc/grpc-js';
const json = { serialize: (value) => Buffer.from(JSON.stringify(value)), deserialize: (bytes) => JSON.parse(bytes.toString()) };
export const service = {
  sayHello: { path: '/greeter.Greeter/SayHello', requestStream: false, responseStream: false,
    requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};
export const Greeter = makeGenericClientConstructor(service, 'Greeter');
`,
  'client.mjs': `
import { Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import { SignpostClient } from 'signpost/client';
import 'signpost/grpc';
import { Greeter, service } from './greeter.mjs';

const [url, dns] = process.argv.slice(2);
const client = new SignpostClient({ url });
const viaDns = new SignpostClient({ url, dns });
const watch = client.watch('greeter');
await watch.ready;

const server = new Server();
server.addService(service, { sayHello: (call, reply) => reply(null, { message: 'hello ' + call.request.name, from: 'greeter-1' }) });
const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
const registration = await client.register({ service: 'greeter', id: 'greeter-1', address: '127.0.0.1', port, ttl: 5 });
const event = (await watch.next()).value;
const http = (await client.resolve('greeter')).map((instance) => instance.id);
const picked = await viaDns.pick('greeter');

const caller = new Greeter('signpost:///greeter', credentials.createInsecure(), {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  'grpc.enable_http_proxy': 0,
});
const grpc = await new Promise((resolve, reject) => caller.sayHello({ name: 'package' }, (error, reply) => (error ? reject(error) : resolve(reply))));
await registration.setStatus('warning', 'from the package');
const warning = (await client.service('greeter')).instances[0].status;

caller.close();
watch.close();
await client.close();
await viaDns.close();
server.forceShutdown();
console.log(JSON.stringify({ node: process.version, watched: event.type + ' ' + event.service + '/' + event.id, http, dns: picked.id + ' ' + picked.address, grpc, warning }));
`,
  'consumer.ts': `
import { startSignpost, type Signpost } from 'signpost';
import { SignpostClient, type Registration, type ServiceInstance, type WatchEvent } from 'signpost/client';
import { registerSignpostResolver } from 'signpost/grpc';

export async function check(): Promise<void> {
  const signpost: Signpost = await startSignpost({ store: 'memory' });
  const client = new SignpostClient({ url: 'http://127.0.0.1:' + signpost.http.port, token: 'x'.repeat(16) });
  const registration: Registration = await client.register({ service: 'web', id: 'web-1', address: '10.0.0.1', port: 80, tags: ['v2'] });
  await registration.setStatus('warning', 'note');
  const instance: ServiceInstance = await client.pick('web', { tag: 'v2' });
  for await (const event of client.watch('web')) {
    const type: WatchEvent['type'] = event.type;
    console.log(type, instance.port);
  }
  registerSignpostResolver({ url: client.urls[0] });
  await signpost.close();
}
`,
  'tsconfig.json': JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
    include: ['*.ts'],
  }),
};
