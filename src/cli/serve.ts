// `signpost serve`: one commander option per entry of FLAGS, each also settable as SIGNPOST_<FLAG>.
// The server is imported only when it starts, after checking that this Node can run it: every
// other command works on Node 20, which cannot even load the server's modules.
import { Command, InvalidArgumentError, Option } from 'commander';
import { envName, flagName, FLAGS, type Flag, type FlagKey, type SignpostConfig } from '../config/flags.ts';
import { serverNodeProblem } from '../lib/node-version.ts';

/** Markdown of a flag's help as --help prints it: no backticks, links as their text. */
function plain(markdown: string): string {
  return markdown.replaceAll('\u0060', '').replace(/\[([^\]]+)\]\([^)]+\)/g, '$1');
}

/** commander wants InvalidArgumentError for a bad value, to print it as `error: option '…' argument '…' is invalid. …`. */
function parser<T>(spec: Flag<T>, name: string) {
  return (text: string, previous: T | undefined): T => {
    try {
      return spec.parse(text, name, previous);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function optionOf(key: FlagKey, spec: Flag<unknown>): Option {
  const name = flagName(key);
  const option = new Option(spec.value ? `${name} <${spec.value.toLowerCase()}>` : name, plain(spec.help)).env(envName(name));
  if (spec.value === undefined) return option;
  option.argParser(parser(spec, name));
  if (spec.default !== undefined) option.default(spec.parse(spec.default, name), spec.defaultText ? plain(spec.defaultText) : spec.default);
  else if (spec.defaultText !== undefined) option.default(undefined, plain(spec.defaultText));
  return option;
}

export function serveCommand(): Command {
  const serve = new Command('serve').description('run the DNS and HTTP servers');
  for (const [key, spec] of Object.entries(FLAGS) as Array<[FlagKey, Flag<unknown>]>) {
    serve.addOption(optionOf(key, spec));
    if (spec.negation) serve.addOption(new Option(spec.negation.name, plain(spec.negation.help)).env(envName(spec.negation.name)));
  }
  serve.action(async () => {
    const config = configOf(serve);
    const tooOld = serverNodeProblem();
    if (tooOld !== null) {
      console.error(`signpost: ${tooOld}`);
      process.exit(1);
    }
    quietIpServerNameWarning();
    try {
      const { startSignpost } = await import('../server.ts');
      const signpost = await startSignpost(config);
      const stop = () => {
        void signpost.close().then(() => process.exit(0));
      };
      // Re-reads --token-file and the HTTPS certificates; a bad file is logged and the previous ones stay in use.
      process.on('SIGHUP', () => {
        if (config.tokenFile !== undefined || config.tlsCert === undefined) signpost.reloadTokens();
        if (config.tlsCert !== undefined) signpost.reloadCertificates();
      });
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    } catch (error) {
      console.error(`signpost: cannot start: ${(error as Error).message}`);
      process.exit(1);
    }
  });
  return serve;
}

/** commander's name for an option's value: the flag in camel case, without `no-` (`--no-recursion` → `recursion`). */
function attribute(name: string): string {
  return name.replace(/^--(no-)?/, '').replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * The configuration commander parsed, by config key. A negation flag (`--no-recursion`, false
 * when given) sets its flag's value, and contradicts that flag given too.
 */
function configOf(serve: Command): SignpostConfig {
  const options = serve.opts();
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(FLAGS) as Array<[FlagKey, Flag<unknown>]>) {
    const name = attribute(flagName(key));
    config[key] = options[name];
    if (!spec.negation || options[attribute(spec.negation.name)] !== false) continue;
    const source = serve.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') serve.error(`error: ${flagName(key)} and ${spec.negation.name} contradict each other`);
    config[key] = spec.parse(spec.negation.to, flagName(key));
  }
  return config as SignpostConfig;
}

/**
 * grpc-js (under the etcd client) names the server it connects to over TLS by its host, an IP
 * address in `--store etcd://10.0.0.1:2379`, and Node warns about that once (DEP0123, RFC 6066: a
 * TLS server name is a host name). Nothing a person running Signpost can act on, and it would break
 * the one line a start-up failure is: that one warning is dropped, every other is printed as before.
 */
function quietIpServerNameWarning(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code === 'DEP0123') return;
    for (const print of printers) print(warning);
  });
}
