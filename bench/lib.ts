// What every benchmark shares: child servers on the project's Node, dnsperf, /proc CPU time,
// medians, tables, and writing a section of BENCHMARKS.md. Traffic stays on 127.0.0.1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../src/config/limits.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');
export const CLI = path.join(ROOT, 'src/cli/main.ts');
export const HOST = '127.0.0.1';

const START_TIMEOUT_MS = 30_000;
/** dnsperf stops sending at -l, then waits up to its 5 s query timeout for stragglers. */
const DNSPERF_GRACE_MS = 30_000;

const children = new Set<ChildProcess>();

/** Adds a child to those `stopAll` stops (until it exits); `launch` and `dnsperf` do it themselves. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface Launched {
  child: ChildProcess;
  pid: number;
  /** The parsed JSON ready line. */
  ready: Record<string, unknown>;
  /** Milliseconds from the spawn to the ready line: the start-up time. */
  readyMs: number;
}

/**
 * Spawns `node ARGS` (the project's Node) and waits for a JSON line whose `msg` is
 * `readyMessage` (pino's "signpost ready", say). Output keeps being read afterwards: a child
 * writing to a full pipe would stall mid-benchmark.
 */
export async function launch(name: string, args: string[], readyMessage: string, startTimeoutMs = START_TIMEOUT_MS): Promise<Launched> {
  const startedAt = performance.now();
  const child = track(spawn(NODE, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
  };
  createInterface({ input: child.stderr! }).on('line', remember);
  let readyMs = 0;
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`${name} ${why}; its last output:\n${recent.join('\n')}`));
    const timer = setTimeout(() => fail(`was not ready within ${startTimeoutMs / 1000} s`), startTimeoutMs);
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      remember(line);
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof record === 'object' && record !== null && (record as { msg?: unknown }).msg === readyMessage) {
        readyMs = performance.now() - startedAt;
        clearTimeout(timer);
        resolve(record as Record<string, unknown>);
      }
    });
  });
  return { child, pid: child.pid!, ready, readyMs };
}

/** `signpost serve` on ephemeral loopback ports with extra flags (and Node flags); resolves with its ports. */
export async function launchSignpost(
  name: string,
  flags: string[],
  nodeFlags: string[] = [],
  startTimeoutMs?: number,
): Promise<Launched & { dnsPort: number; httpPort: number; url: string }> {
  const launched = await launch(name, [...NODE_FLAGS, ...nodeFlags, CLI, 'serve', '--dns', `${HOST}:0`, '--http', `${HOST}:0`, ...flags], 'signpost ready', startTimeoutMs);
  const httpPort = portOf(launched.ready.http);
  return { ...launched, dnsPort: portOf(launched.ready.dns), httpPort, url: `http://${HOST}:${httpPort}` };
}

/** Stops one child by PID: SIGTERM, then SIGKILL if it is still running 5 s later. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Stops every child this process started. Call it in `finally` and on SIGINT. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stop));
}

/** `stopAll`, then removes the benchmark's scratch directory. */
export async function stopAllAndRemove(dir: string): Promise<void> {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

/** The port of a `HOST:PORT` field of a ready line. */
export function portOf(hostPort: unknown): number {
  const match = /:(\d+)$/.exec(String(hostPort));
  if (!match) throw new Error(`expected HOST:PORT in the ready line, got ${JSON.stringify(hostPort)}`);
  return Number(match[1]);
}

/**
 * Binds every thread of process `pid` to CPU `cpu` (`taskset -a -p`): with the load generator on
 * another CPU, neither takes the other's time, and qps measures what the server can do on one core.
 */
export function pinToCpu(pid: number, cpu: number): void {
  const result = spawnSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`taskset -a -cp ${cpu} ${pid} failed: ${result.stderr || result.error}`);
}

/** utime + stime of a process (or of one thread, given as `PID/task/TID`), in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuTicks(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is parenthesised and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** Clock ticks per second of /proc times (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface DnsperfResult {
  qps: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  latencyMs: number;
  /** dnsperf's average response size, bytes. */
  responseBytes: number;
}

/** Runs dnsperf against 127.0.0.1:port with a query file and parses its report. */
export async function dnsperf(
  port: number,
  file: string,
  seconds: number,
  {
    clients = 4,
    outstanding = 200,
    qps,
    cpu,
  }: {
    clients?: number;
    outstanding?: number;
    /** dnsperf -Q: at most this many queries a second. */
    qps?: number;
    /** Run dnsperf on this CPU only (`taskset`); see `pinToCpu`. */
    cpu?: number;
  } = {},
): Promise<DnsperfResult> {
  const args = ['-s', HOST, '-p', String(port), '-d', file, '-c', String(clients), '-q', String(outstanding), '-l', String(seconds)];
  if (qps !== undefined) args.push('-Q', String(qps));
  const command = cpu === undefined ? ['dnsperf', ...args] : ['taskset', '-c', String(cpu), 'dnsperf', ...args];
  const child = track(spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + DNSPERF_GRACE_MS);
  const [code] = await once(child, 'close');
  clearTimeout(timer);
  if (code !== 0) throw new Error(`dnsperf ${args.join(' ')} exited with ${code}:\n${output}`);
  const field = (pattern: RegExp) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`dnsperf output does not match ${pattern}:\n${output}`);
    return Number(match[1]);
  };
  const rcodes: Record<string, number> = {};
  for (const [, rcode, count] of (/Response codes:\s+(.*)/.exec(output)?.[1] ?? '').matchAll(/(\w+) (\d+)/g)) {
    rcodes[rcode] = Number(count);
  }
  return {
    qps: field(/Queries per second:\s+([\d.]+)/),
    completed: field(/Queries completed:\s+(\d+)/),
    lost: field(/Queries lost:\s+(\d+)/),
    rcodes,
    latencyMs: field(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    responseBytes: field(/Average packet size:\s+request \d+, response (\d+)/),
  };
}

export interface DnsperfRun extends DnsperfResult {
  /** The server process's CPU time (utime + stime) over the run, per completed query, µs. */
  cpuUsPerQuery: number;
}

/** `dnsperf`, also reading the CPU time the server process `pid` spent on the run from /proc. */
export async function dnsperfWithCpu(pid: number, ...args: Parameters<typeof dnsperf>): Promise<DnsperfRun> {
  const before = cpuTicks(pid);
  const result = await dnsperf(...args);
  const cpuSeconds = (cpuTicks(pid) - before) / CLOCK_TICKS_PER_SECOND;
  return { ...result, cpuUsPerQuery: (cpuSeconds * 1e6) / result.completed };
}

/** The median of each measure over several runs. */
export function medianRun(runs: DnsperfRun[]): Omit<DnsperfRun, 'completed' | 'rcodes'> {
  return {
    qps: median(runs.map((run) => run.qps)),
    lost: median(runs.map((run) => run.lost)),
    latencyMs: median(runs.map((run) => run.latencyMs)),
    responseBytes: median(runs.map((run) => run.responseBytes)),
    cpuUsPerQuery: median(runs.map((run) => run.cpuUsPerQuery)),
  };
}

/** dnsperf's response codes as `NOERROR 950, NXDOMAIN 50`. */
export function rcodeList(rcodes: Record<string, number>): string {
  return Object.entries(rcodes)
    .map(([rcode, count]) => `${rcode} ${count}`)
    .join(', ');
}

/** The installed dnsperf's version, for the report. */
export function dnsperfVersion(): string {
  const help = spawnSync('dnsperf', ['-h'], { encoding: 'utf8' });
  return /Version (\S+)/.exec(help.stdout + help.stderr)?.[1] ?? 'unknown';
}

/** Replaces the section that starts with `heading` in BENCHMARKS.md (up to the next `## `), or appends it. */
export function writeSection(heading: string, section: string): void {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n') : ['# Benchmarks'];
  const start = lines.indexOf(heading);
  let end = lines.length;
  if (start >= 0) {
    const next = lines.findIndex((line, i) => i > start && line.startsWith('## '));
    if (next >= 0) end = next;
  }
  const body = section.trimEnd().split('\n');
  if (start >= 0) lines.splice(start, end - start, ...body, ...(end < lines.length ? [''] : []));
  else lines.push('', ...body);
  writeFileSync(file, lines.join('\n') + '\n');
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (row: string[]) => `| ${row.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1, got "${raw}"`);
  return value;
}

/** Stops every child on Ctrl-C (or SIGTERM) before exiting, with the shell's 128 + signal number. */
export function stopOnInterrupt(cleanUp: () => Promise<void> = stopAll): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping the servers`);
      void cleanUp().finally(() => process.exit(128 + os.constants.signals[signal]));
    });
  }
}
