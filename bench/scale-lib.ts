// What bench/scale.ts's sections share: writing a data directory through the store, query files,
// a server launched with room for a slow start, RSS, write cost, latency probes, dig.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../src/config/limits.ts';
import type { Registration } from '../src/registry/types.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { CLOCK_TICKS_PER_SECOND, HOST, NODE, ROOT, cpuTicks, portOf, track } from './lib.ts';

/** Registrations per store commit when writing a data directory. */
export const BATCH = 20_000;
/** Durable writes (and as many deletions) timed per size. */
export const WRITES = 2_000;
export const WRITE_CONCURRENCY = 16;
/** Lines of a dnsperf query file. */
export const QUERIES = 20_000;
/** Every UNKNOWN_EVERY-th group of four lines asks for names that do not exist. */
export const UNKNOWN_EVERY = 20;
export const PINNED = os.cpus().length >= 2;
export const SERVER_CPU = 1;
export const DNSPERF_CPU = 0;

export const execFileAsync = promisify(execFile);
/** lib.ts's launch gives a server 30 s; a million instances on a loaded 2-core machine may need more. */
const START_TIMEOUT_MS = 180_000;

/** `signpost serve` on ephemeral loopback ports, as lib.ts's launchSignpost, with a longer start-up allowance. */
export async function launchSignpost(name: string, flags: string[]) {
  const startedAt = performance.now();
  const child = track(spawn(NODE, [...NODE_FLAGS, path.join(ROOT, 'src/cli/main.ts'), 'serve', '--dns', `${HOST}:0`, '--http', `${HOST}:0`, ...flags], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const recent: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => recent.push(line));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS / 1000} s:\n${recent.slice(-20).join('\n')}`)), START_TIMEOUT_MS);
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code}) before it was ready:\n${recent.slice(-20).join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 40) recent.shift();
      if (!line.includes('"signpost ready"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
  const httpPort = portOf(ready.http);
  return { child, pid: child.pid!, readyMs: performance.now() - startedAt, dnsPort: portOf(ready.dns), httpPort, url: `http://${HOST}:${httpPort}` };
}

// ---- data -------------------------------------------------------------------------------------

/** Instance k of service s: a unique address, two meta entries and a tag, as a typical registration. */
export function registration(service: string, k: number, ttl: number): Registration {
  return {
    service,
    id: `i${k}`,
    address: `10.${(k >> 16) & 0xff}.${(k >> 8) & 0xff}.${k & 0xff}`,
    port: 8000 + (k % 1000),
    weight: 100,
    priority: 0,
    ttl,
    tags: ['v2'],
    meta: { version: '2.1.0', zone: 'eu-1' },
  };
}

/** Writes `services` × `perService` registrations (and `extra`) into a fresh data directory; seconds taken. */
export async function populate(dir: string, services: number, perService: number, ttl: number, extra: Registration[] = []): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const store = await SqliteStore.open(dir);
  let batch: Promise<void>[] = [];
  let n = 0;
  for (let s = 0; s < services; s++) {
    for (let k = 0; k < perService; k++) {
      batch.push(store.put(registration(`svc${s}`, n++, ttl)));
      if (batch.length === BATCH) {
        await Promise.all(batch);
        batch = [];
      }
    }
  }
  for (const row of extra) batch.push(store.put(row));
  await Promise.all(batch);
  await store.close();
  return (performance.now() - started) / 1000;
}

/** dnsperf input over `services` services: half A, a quarter `_svc._tcp` SRV, a quarter SRV, 5% unknown names. */
export function queryFile(file: string, services: number, prefix = 'svc'): string {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % services;
  };
  const lines: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const n = next();
    const service = Math.floor(i / 4) % UNKNOWN_EVERY === UNKNOWN_EVERY - 1 ? `nosuch${n}` : `${prefix}${n}`;
    if (i % 4 === 1) lines.push(`_${service}._tcp.service.local SRV`);
    else if (i % 4 === 3) lines.push(`${service}.service.local SRV`);
    else lines.push(`${service}.service.local A`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

// ---- measures ---------------------------------------------------------------------------------

export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

/** The server's CPU per write: WRITES registrations into existing services, then their deregistrations. */
export async function writeCost(pid: number, url: string, services: number): Promise<{ cpuUs: number; wallMs: number }> {
  const jobs: Array<() => Promise<void>> = [];
  const send = async (method: string, pathname: string, body?: unknown) => {
    const response = await fetch(`${url}${pathname}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) throw new Error(`${method} ${pathname}: HTTP ${response.status} ${await response.text()}`);
  };
  for (let i = 0; i < WRITES; i++) {
    const service = `svc${(i * 7919) % services}`;
    const { address, port, weight, ttl, tags, meta } = registration(service, 0xff0000 + i, 86400);
    jobs.push(() => send('PUT', `/v1/services/${service}/instances/w${i}`, { address, port, weight, ttl, tags, meta }));
  }
  const run = async (list: Array<() => Promise<void>>) => {
    const queue = [...list];
    await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }));
  };
  const ticks = cpuTicks(pid);
  const started = performance.now();
  await run(jobs);
  await run(Array.from({ length: WRITES }, (_, i) => () => send('DELETE', `/v1/services/svc${(i * 7919) % services}/instances/w${i}`)));
  const wallMs = performance.now() - started;
  const cpuSeconds = (cpuTicks(pid) - ticks) / CLOCK_TICKS_PER_SECOND;
  return { cpuUs: (cpuSeconds * 1e6) / (2 * WRITES), wallMs: wallMs / (2 * WRITES) };
}

/** Runs bench/scale-probe.ts (a UDP client timing each answer to `name`) for `seconds`, in its own process. */
export async function latencyProbe(port: number, name: string, intervalMs: number, seconds: number): Promise<{ count: number; p50: number; p99: number; max: number }> {
  const { stdout } = await execFileAsync(NODE, [path.join(ROOT, 'bench/scale-probe.ts'), String(port), name, String(intervalMs), String(seconds)]);
  return JSON.parse(stdout.trim());
}

/** One query over TCP from this process (no child to spawn): resolves with the answer's time, ms, and size. */
export async function tcpQuery(port: number, name: string, qtype: number): Promise<{ ms: number; bytes: number }> {
  const query = encodeQuery(name, qtype);
  const started = performance.now();
  const socket = net.connect(port, HOST);
  socket.write(Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query]));
  const chunks: Buffer[] = [];
  let length = -1;
  for await (const chunk of socket) {
    chunks.push(chunk as Buffer);
    const all = Buffer.concat(chunks);
    if (length < 0 && all.length >= 2) length = all.readUInt16BE(0);
    if (length >= 0 && all.length >= 2 + length) break;
  }
  const ms = performance.now() - started;
  socket.destroy();
  return { ms, bytes: length };
}

export function encodeQuery(name: string, qtype: number): Buffer {
  const labels = name.split('.').flatMap((label) => [Buffer.from([label.length]), Buffer.from(label)]);
  return Buffer.concat([Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1])]);
}

/** dnsperf through `file` once (every line asked, however long that takes), on dnsperf's CPU. */
export async function dnsperfOnce(port: number, file: string): Promise<void> {
  const args = ['-s', HOST, '-p', String(port), '-d', file, '-c', '4', '-q', '200', '-n', '1'];
  await execFileAsync(PINNED ? 'taskset' : 'dnsperf', PINNED ? ['-c', String(DNSPERF_CPU), 'dnsperf', ...args] : args, { timeout: 600_000 });
}

export function dig(port: number, ...args: string[]): string {
  return execFileSync('dig', [`@${HOST}`, '-p', String(port), '+time=5', '+tries=1', ...args], { encoding: 'utf8', timeout: 20_000 });
}

/** dig's answer count, flags, message size and query time. */
export function digFacts(output: string) {
  return {
    answers: Number(/ANSWER: (\d+)/.exec(output)?.[1] ?? -1),
    truncated: / flags:[^;]*\btc\b/.test(output),
    bytes: Number(/MSG SIZE\s+rcvd: (\d+)/.exec(output)?.[1] ?? -1),
    ms: Number(/Query time: (\d+) msec/.exec(output)?.[1] ?? -1),
  };
}
