#!/usr/bin/env node
// `signpost serve`: flags, each also settable as SIGNPOST_<NAME> in the environment.
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULTS,
  parseCidrList,
  parseDomain,
  parseDuration,
  parseEtcdPrefix,
  parseHostPort,
  parseOptionalDuration,
  parseRecursor,
  parseStore,
  type HostPort,
  type Recursors,
  type SignpostConfig,
  type StoreKind,
} from './config.ts';
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

/** A flag with a default, settable as SIGNPOST_<FLAG> too (`--data-dir` → `SIGNPOST_DATA_DIR`). */
function option(flags: string, description: string, parse: (value: string) => unknown, fallback: string | number) {
  const option = new Option(flags, description);
  return option.env(envName(option)).argParser(parse).default(parse(String(fallback)), String(fallback));
}

function envName(option: Option): string {
  return `SIGNPOST_${option.attributeName().replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

const program = new Command('signpost').description('DNS-SRV service discovery: register over HTTP, resolve over DNS');

const serve = program
  .command('serve', { isDefault: true })
  .description('run the DNS and HTTP servers')
  .addOption(option('--dns <host:port>', 'DNS listener, UDP and TCP', hostPort('--dns'), DEFAULTS.dns))
  .addOption(option('--http <host:port>', 'HTTP API listener', hostPort('--http'), DEFAULTS.http))
  .addOption(option('--domain <name>', 'zone to be authoritative for', parseDomainArg, DEFAULTS.domain))
  .addOption(
    option('--store <kind>', 'what keeps registrations: sqlite (durable, in --data-dir), memory, or etcd://HOST:PORT[,HOST:PORT...] (shared by a cluster of nodes)', parseStoreArg, DEFAULTS.store),
  )
  .addOption(option('--etcd-prefix <prefix>', 'key prefix of everything an etcd store keeps', parseEtcdPrefixArg, DEFAULTS.etcdPrefix))
  .addOption(option('--data-dir <dir>', 'where the sqlite store keeps its files', String, DEFAULTS.dataDir))
  .addOption(option('--dns-ttl <seconds>', 'TTL of answers and of negative caching', integer(0, 86400), DEFAULTS.dnsTtl))
  .addOption(
    option('--grace-period <seconds>', 'how long an instance may stay critical before it is deleted (default of deregisterCriticalAfter)', integer(0, 86400 * 30), DEFAULTS.gracePeriod),
  )
  .addOption(
    new Option('--recursor <host[:port]>', 'upstream resolver for names outside the zone; repeatable, or comma-separated (default: the nameservers of /etc/resolv.conf)')
      .env('SIGNPOST_RECURSOR')
      .argParser(recursorList),
  )
  .addOption(new Option('--no-recursion', 'forward nothing: names outside the zone get REFUSED').env('SIGNPOST_NO_RECURSION'))
  .addOption(option('--cache-max-ttl <seconds>', 'longest a forwarded answer is cached', integer(0, 7 * 86400), DEFAULTS.cacheMaxTtl))
  .addOption(option('--cache-size <entries>', 'forwarded answers kept in the cache; 0 = no cache', integer(0, 10_000_000), DEFAULTS.cacheSize))
  .addOption(option('--forward-timeout <duration>', 'how long one try waits for an upstream (2s, 500ms)', duration('--forward-timeout'), DEFAULTS.forwardTimeout))
  .addOption(
    option('--forward-budget <duration>', 'how long a forwarded question may take in all before SERVFAIL', duration('--forward-budget'), DEFAULTS.forwardBudget),
  )
  .addOption(
    option('--forward-rate-limit <per-second>', 'questions per second one client may send upstream; 0 = no limit', integer(0, 1_000_000), DEFAULTS.forwardRateLimit),
  )
  .addOption(new Option('--only-passing', 'serve only passing instances in DNS (default: passing and warning)').env('SIGNPOST_ONLY_PASSING'))
  .addOption(
    option('--check-concurrency <n>', 'most active health checks in flight at once', integer(1, 100_000), DEFAULTS.checkConcurrency),
  )
  .addOption(option('--max-watches <n>', 'most open watches (blocking queries and event streams)', integer(0, 1_000_000), DEFAULTS.maxWatches))
  .addOption(
    option('--watch-history <events>', 'events an event stream can replay to a reconnecting client', integer(1, 10_000_000), DEFAULTS.watchHistory),
  )
  .addOption(
    new Option('--token-file <file>', 'bearer tokens, one a line: "TOKEN service-glob[,…]" (write) or "TOKEN read"; reloaded on SIGHUP (default: none, writes are open)').env(
      'SIGNPOST_TOKEN_FILE',
    ),
  )
  .addOption(new Option('--read-requires-token', 'reads (GET) need a token too').env('SIGNPOST_READ_REQUIRES_TOKEN'))
  .addOption(
    option('--dns-rate-limit <per-second>', 'identical UDP responses per second to one /24 (IPv6 /56) before they are dropped; 0 = off', integer(0, 1_000_000), DEFAULTS.dnsRateLimit),
  )
  .addOption(
    option('--dns-rate-limit-slip <n>', 'every Nth response dropped by the rate limit is sent truncated (TC) instead; 0 = none', integer(0, 100), DEFAULTS.dnsRateLimitSlip),
  )
  .addOption(
    option('--rate-limit-exempt <cidrs>', 'clients never rate-limited (DNS responses, HTTP writes); comma-separated, "" = none', cidrList, DEFAULTS.rateLimitExempt),
  )
  .addOption(
    option('--dns-tcp-max-connections <n>', 'most DNS TCP connections open at once', integer(1, 1_000_000), DEFAULTS.dnsTcpMaxConnections),
  )
  .addOption(
    option('--dns-tcp-max-per-client <n>', 'most DNS TCP connections from one client address', integer(1, 1_000_000), DEFAULTS.dnsTcpMaxPerClient),
  )
  .addOption(
    option('--dns-tcp-max-in-flight <n>', 'forwarded questions one TCP connection may have waiting', integer(1, 65535), DEFAULTS.dnsTcpMaxInFlight),
  )
  .addOption(
    option('--dns-tcp-idle-timeout <duration>', 'an idle DNS TCP connection is closed after this', duration('--dns-tcp-idle-timeout'), DEFAULTS.dnsTcpIdleTimeout),
  )
  .addOption(
    option('--dns-tcp-message-timeout <duration>', 'a DNS TCP message must arrive in full within this once started', duration('--dns-tcp-message-timeout'), DEFAULTS.dnsTcpMessageTimeout),
  )
  .addOption(option('--http-max-body <bytes>', 'largest HTTP request body; larger get 413', integer(1024, 64 * 1024 * 1024), DEFAULTS.httpMaxBody))
  .addOption(
    option('--http-max-connections <n>', 'most HTTP connections open at once', integer(1, 1_000_000), DEFAULTS.httpMaxConnections),
  )
  .addOption(
    option('--http-request-timeout <duration>', "a request's headers and body must arrive within this", duration('--http-request-timeout'), DEFAULTS.httpRequestTimeout),
  )
  .addOption(
    option('--http-keep-alive-timeout <duration>', 'an idle kept-alive HTTP connection is closed after this', duration('--http-keep-alive-timeout'), DEFAULTS.httpKeepAliveTimeout),
  )
  .addOption(
    option('--http-write-rate-limit <per-second>', 'HTTP writes per second per client address; past it, 429; 0 = no limit', integer(0, 1_000_000), DEFAULTS.httpWriteRateLimit),
  )
  .addOption(
    option('--http-max-event-loop-delay <duration>', 'HTTP answers 503 while the event loop lags more than this (DNS keeps answering); 0 = off', optionalDuration('--http-max-event-loop-delay'), DEFAULTS.httpMaxEventLoopDelay),
  )
  .addOption(
    new Option('--log-level <level>', 'log level').env('SIGNPOST_LOG_LEVEL').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default(DEFAULTS.logLevel),
  )
  .action(async (flags: SignpostConfig & RecursionFlags) => {
    try {
      const signpost = await startSignpost({ ...flags, recursors: recursorsOf(flags) });
      const stop = () => {
        void signpost.close().then(() => process.exit(0));
      };
      // Re-reads --token-file; a bad file is logged and the previous tokens stay in use.
      process.on('SIGHUP', () => signpost.reloadTokens());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    } catch (error) {
      console.error(`signpost: cannot start: ${(error as Error).message}`);
      process.exit(1);
    }
  });

// `signpost --help` shows the flags of `serve` too: it is the command almost everyone runs.
program.addHelpText('after', () => `\nsignpost serve (the default command):\n${serve.helpInformation()}`);

function duration(flag: string) {
  return (value: string): number => {
    try {
      return parseDuration(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function optionalDuration(flag: string) {
  return (value: string): number => {
    try {
      return parseOptionalDuration(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function cidrList(value: string): string[] {
  try {
    return parseCidrList(value, '--rate-limit-exempt');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function recursorList(value: string, previous: HostPort[] | undefined): HostPort[] {
  try {
    return [...(previous ?? []), ...value.split(',').filter((part) => part.trim()).map(parseRecursor)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** What commander makes of `--recursor` (repeatable) and `--no-recursion`. */
interface RecursionFlags {
  recursor?: HostPort[];
  recursion: boolean;
}

function recursorsOf({ recursor, recursion }: RecursionFlags): Recursors {
  if (!recursion) {
    if (recursor) serve.error('error: --recursor and --no-recursion contradict each other');
    return 'off';
  }
  return recursor ?? DEFAULTS.recursors;
}

function parseDomainArg(value: string): string {
  try {
    return parseDomain(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseEtcdPrefixArg(value: string): string {
  try {
    return parseEtcdPrefix(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseStoreArg(value: string): StoreKind {
  try {
    return parseStore(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

await program.parseAsync();
