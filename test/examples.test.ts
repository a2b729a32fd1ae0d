// Runs the examples (provider and consumer, the gRPC greeter's server and client) as real processes against an in-process Signpost.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../src/registry/types.ts';
import { startSignpost, type Signpost } from '../src/server.ts';

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}.ts`, import.meta.url));

let signpost: Signpost;
const children: ChildProcess[] = [];

/** Starts an example with the Node running this test (24, not whatever `node` is on PATH), in a clean environment. */
function run(name: string, env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [example(name)], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return Object.assign(child, { output: () => output });
}

/** The next registry event of `type`: subscribe before causing it. */
function nextEvent<T extends RegistryEvent['type']>(type: T): Promise<Extract<RegistryEvent, { type: T }>> {
  return new Promise((resolve) => {
    const stop = signpost.registry.onEvent((event) => {
      if (event.type !== type) return;
      stop();
      resolve(event as Extract<RegistryEvent, { type: T }>);
    });
  });
}

/** The registration of instance `id` (subscribe before causing it). */
function registered(id: string): Promise<RegistryEvent> {
  return new Promise((resolve) => {
    const stop = signpost.registry.onEvent((event) => {
      if (event.type !== 'register' || event.instance.id !== id) return;
      stop();
      resolve(event);
    });
  });
}

/** `promise`, unless `child` exits first: then fail at once, with its output, instead of at the test timeout. */
function beforeExit<T>(promise: Promise<T>, child: ReturnType<typeof run>): Promise<T> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${child.spawnargs[1]} exited (${code}) first:\n${child.output()}`);
  });
  return Promise.race([promise, exited]);
}

beforeAll(async () => {
  signpost = await startSignpost({ dns: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'silent' });
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  }
  await signpost?.close();
});

describe('examples', () => {
  it('provider registers, consumer finds and calls it over DNS-SRV, provider deregisters on SIGTERM', async () => {
    const registered = nextEvent('register');
    const provider = run('provider', { SIGNPOST_URL: `http://127.0.0.1:${signpost.http.port}`, PORT: '0', SERVICE: 'hello' });
    const { instance } = await beforeExit(registered, provider);
    expect(instance).toMatchObject({ service: 'hello', address: '127.0.0.1', ttl: 10 });
    expect(instance.id).toBe(`hello-${instance.port}`);

    const consumer = run('consumer', { SIGNPOST_DNS: `127.0.0.1:${signpost.dns.port}`, SERVICE: 'hello', COUNT: '3' });
    const [consumerCode] = await once(consumer, 'exit');
    const reply = JSON.stringify({ service: 'hello', id: instance.id, port: instance.port });
    expect(consumer.output().split(reply).length - 1, consumer.output()).toBe(3);
    expect(consumerCode).toBe(0);

    const deregistered = nextEvent('deregister');
    const exited = once(provider, 'exit');
    provider.kill('SIGTERM');
    const { instance: gone, reason } = await beforeExit(deregistered, provider);
    expect(gone.id).toBe(instance.id);
    expect(reason).toBe('request');
    expect(await exited, provider.output()).toEqual([0, null]);
  });

  it('greeter servers register themselves; the greeter client reaches each of them round-robin through the signpost: resolver', async () => {
    const env = { SIGNPOST_URL: `http://127.0.0.1:${signpost.http.port}` };
    const servers = ['one', 'two'].map((name) => ({ name, registered: registered(name), process: run('greeter-server', { ...env, NAME: name }) }));
    for (const server of servers) await beforeExit(server.registered, server.process);
    expect((signpost.registry.instances('greeter') ?? []).map((instance) => instance.id).sort()).toEqual(['one', 'two']);

    const caller = run('greeter-client', { ...env, COUNT: '6' });
    const [code] = await once(caller, 'exit');
    expect(code, caller.output()).toBe(0);
    const from = [...caller.output().matchAll(/greeter-client #\d+: hello call \d+ \(from (\w+)\)/g)].map((match) => match[1]);
    expect(from).toHaveLength(6);
    expect(new Set(from)).toEqual(new Set(['one', 'two']));

    for (const server of servers) {
      const deregistered = nextEvent('deregister');
      const exited = once(server.process, 'exit');
      server.process.kill('SIGTERM');
      expect((await beforeExit(deregistered, server.process)).instance.id).toBe(server.name);
      expect(await exited, server.process.output()).toEqual([0, null]);
    }
  });
});
