// Runs `signpost serve` as a real child process and learns its ports from the "signpost ready" log line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { NODE_FLAGS } from '../../src/config/limits.ts';

export interface SignpostProcess {
  child: ChildProcess;
  dnsPort: number;
  httpPort: number;
  url: string;
  /** Every line the process printed so far (stdout and stderr). */
  output: string[];
  /** Sends `signal` and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const NODE = process.execPath;
const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/**
 * Starts `node src/cli/main.ts serve ARGS` (or `command` if given) and resolves once it printed its
 * ready line; rejects with its output if it exits first.
 */
export async function spawnSignpost(
  args: string[],
  options: { env?: Record<string, string>; command?: [string, ...string[]] } = {},
): Promise<SignpostProcess> {
  const [file, ...prefix] = options.command ?? [NODE, ...NODE_FLAGS, CLI, 'serve'];
  const child = spawn(file, [...prefix, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() reaches every process under it (npm → sh → node).
    detached: true,
  });
  const output: string[] = [];
  const exited = once(child, 'exit');
  const ready = new Promise<{ dns: string; http: string }>((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (!line.includes('"signpost ready"')) return;
        const parsed = JSON.parse(line) as { dns: string; http: string };
        resolve(parsed);
      });
    }
    void exited.then(([code]) => reject(new Error(`signpost exited with ${code} before ready:\n${output.join('\n')}`)));
  });
  const { dns, http } = await ready;
  const port = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    child,
    dnsPort: port(dns),
    httpPort: port(http),
    url: `http://${http}`,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      process.kill(-child.pid!, signal);
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** Runs the CLI to completion (for `--help` and start-up failures). */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(NODE, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}
