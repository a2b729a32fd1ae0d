#!/usr/bin/env node
// `signpost serve`: flags, each also settable as SIGNPOST_<NAME> in the environment.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULTS, parseDomain, parseHostPort, type SignpostConfig } from './config.ts';
import { startSignpost } from './server.ts';

function integer(min: number, max: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return number;
  };
}

function hostPort(flag: string) {
  return (value: string) => {
    try {
      return parseHostPort(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function option(flags: string, description: string, env: string, parse: (value: string) => unknown, fallback: string | number) {
  return new Option(flags, description).env(env).argParser(parse).default(parse(String(fallback)), String(fallback));
}

const program = new Command('signpost').description('DNS-SRV service discovery: register over HTTP, resolve over DNS');

const serve = program
  .command('serve', { isDefault: true })
  .description('run the DNS and HTTP servers')
  .addOption(option('--dns <host:port>', 'DNS listener, UDP and TCP', 'SIGNPOST_DNS', hostPort('--dns'), DEFAULTS.dns))
  .addOption(option('--http <host:port>', 'HTTP API listener', 'SIGNPOST_HTTP', hostPort('--http'), DEFAULTS.http))
  .addOption(option('--domain <name>', 'zone to be authoritative for', 'SIGNPOST_DOMAIN', parseDomainArg, DEFAULTS.domain))
  .addOption(option('--data-dir <dir>', 'where the durable store keeps its files', 'SIGNPOST_DATA_DIR', String, DEFAULTS.dataDir))
  .addOption(option('--dns-ttl <seconds>', 'TTL of answers and of negative caching', 'SIGNPOST_DNS_TTL', integer(0, 86400), DEFAULTS.dnsTtl))
  .addOption(
    option('--grace-period <seconds>', 'how long an expired instance is kept (critical) before deletion', 'SIGNPOST_GRACE_PERIOD', integer(0, 86400 * 30), DEFAULTS.gracePeriod),
  )
  .addOption(
    new Option('--log-level <level>', 'log level').env('SIGNPOST_LOG_LEVEL').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default(DEFAULTS.logLevel),
  )
  .action(async (flags: SignpostConfig) => {
    try {
      const signpost = await startSignpost(flags);
      const stop = () => {
        void signpost.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    } catch (error) {
      console.error(`signpost: cannot start: ${(error as Error).message}`);
      process.exit(1);
    }
  });

// `signpost --help` shows the flags of `serve` too: it is the command almost everyone runs.
program.addHelpText('after', () => `\nsignpost serve (the default command):\n${serve.helpInformation()}`);

function parseDomainArg(value: string): string {
  try {
    return parseDomain(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

await program.parseAsync();
