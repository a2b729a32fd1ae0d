// What every client command shares: where Signpost is (--server, --dns), the token, and how a
// failure is told: one line that names what to fix, and exit status 1.
import { Command, Option } from 'commander';
import { DEFAULT_URL, SignpostClient } from '../../client/client.ts';
import { SignpostError } from '../../client/errors.ts';
import { STANDARD } from '../../config/limits.ts';

export interface ConnectionOptions {
  server: string;
  dns?: string;
  domain: string;
  token?: string;
  /** Print JSON rather than text, for commands that take --json. */
  json?: boolean;
}

/** A client command with --server and --token (and --dns/--domain when it resolves, --json when it prints JSON on request). */
export function clientCommand(name: string, description: string, { dns = false, json }: { dns?: boolean; json?: string } = {}): Command {
  const command = new Command(name)
    .description(description)
    .addOption(new Option('--server <url>', "Signpost's HTTP API; several comma-separated to fail over").env('SIGNPOST_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'bearer token (when Signpost has --token-file)').env('SIGNPOST_TOKEN'));
  if (dns) {
    command
      .addOption(new Option('--dns <host:port>', "ask Signpost's DNS listener (default: the HTTP API, which gives the same instances)").env('SIGNPOST_DNS'))
      .addOption(new Option('--domain <name>', "Signpost's --domain, for DNS names").env('SIGNPOST_DOMAIN').default(STANDARD.domain));
  }
  if (json !== undefined) command.option('--json', json);
  return command;
}

/** A client for a command's options; a bad --server or --dns ends the command with its one line. */
export function clientOf(options: ConnectionOptions): SignpostClient {
  try {
    // An empty SIGNPOST_* variable counts as unset.
    const client = new SignpostClient({
      url: options.server || DEFAULT_URL,
      dns: options.dns || undefined,
      domain: options.domain || undefined,
      token: options.token || undefined,
      // A command says soon that the server cannot be reached, rather than riding out a long outage.
      retryFor: 2_000,
    });
    client.on('error', (error: SignpostError) => console.error(`signpost: ${explain(error)}`));
    return client;
  } catch (error) {
    const message = (error as Error).message.replace(/^url:/, '--server:').replace(/^dns:/, '--dns:');
    return exit(message);
  }
}

/** Runs a command's body; any failure becomes one line on stderr and exit status 1. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await body(...args);
    } catch (error) {
      exit(error instanceof SignpostError ? explain(error) : (error as Error).message);
    }
  };
}

export function exit(message: string): never {
  console.error(message.startsWith('signpost:') ? message : `signpost: ${message}`);
  process.exit(1);
}

/** The error, and what to do about it when the server's words do not say. */
function explain(error: SignpostError): string {
  if (error.code === 'unavailable') return `${error.message} (is Signpost running there? set --server or SIGNPOST_URL)`;
  if (error.status === 401) return `${error.message}: give a token with --token or SIGNPOST_TOKEN`;
  if (error.status === 403) return `${error.message}: use a token with rights on that service`;
  return error.message;
}
