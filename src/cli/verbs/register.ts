// `signpost register SERVICE HOST:PORT`: registers an instance and keeps it alive until Ctrl-C
// (or SIGTERM), then deregisters it. For instances that cannot register themselves, and for trying things out.
import { isIP } from 'node:net';
import { InvalidArgumentError, Option } from 'commander';
import type { Registration } from '../../client/registration.ts';
import { formatHostPort, parseHostPort, parseInteger } from '../../config/parse.ts';
import { LIMITS } from '../../config/limits.ts';
import { action, clientCommand, clientOf, exit, type ConnectionOptions } from './connection.ts';

interface RegisterFlags extends ConnectionOptions {
  id?: string;
  weight?: number;
  priority?: number;
  ttl?: number;
  tag: string[];
  meta: Record<string, string>;
}

/** A whole-number option; commander prints an InvalidArgumentError as its usual one-line error. */
const integer = (flag: string, limits: { min: number; max: number }) => (text: string) => {
  try {
    return parseInteger(text, flag, limits.min, limits.max);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

/** `10.0.0.1:8080` → `10-0-0-1-8080`: an instance id (a DNS label) that says where the instance is. */
function defaultId(host: string, port: number): string {
  return `${host.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '')}-${port}`;
}

export function registerCommand() {
  return clientCommand('register', 'register an instance and keep it alive until Ctrl-C, then deregister it')
    .argument('<service>', 'service name (a DNS label)')
    .argument('<host:port>', 'where the instance listens: an IPv4 or IPv6 address ([::1]:8080) and port')
    .option('--id <id>', 'instance id (default: from the address, 10-0-0-1-8080)')
    .addOption(new Option('--weight <n>', 'share of traffic within its priority (default 100)').argParser(integer('--weight', LIMITS.weight)))
    .addOption(new Option('--priority <n>', 'lower is preferred (default 0)').argParser(integer('--priority', LIMITS.priority)))
    .addOption(new Option('--ttl <seconds>', 'lease; heartbeats go about every ttl/3 (default 15)').argParser(integer('--ttl', LIMITS.ttl)))
    .option('--tag <tag>', 'a tag (repeatable)', (tag: string, tags: string[]) => [...tags, tag], [])
    .option('--meta <key=value>', 'a meta entry (repeatable)', (entry: string, meta: Record<string, string>) => {
      const equals = entry.indexOf('=');
      if (equals < 1) exit(`--meta: expected KEY=VALUE, got "${entry}"`);
      return { ...meta, [entry.slice(0, equals)]: entry.slice(equals + 1) };
    }, {})
    .action(
      action(async (service: string, where: string, flags: RegisterFlags) => {
        let host: string;
        let port: number;
        try {
          ({ host, port } = parseHostPort(where, 'HOST:PORT'));
        } catch (error) {
          return exit((error as Error).message);
        }
        if (isIP(host) === 0) exit(`HOST:PORT: "${host}" is not an IP address; Signpost publishes addresses, not names`);
        const client = clientOf(flags);
        const registration = await client.register({
          service,
          id: flags.id ?? defaultId(host, port),
          address: host,
          port,
          tags: flags.tag,
          meta: flags.meta,
          ...(flags.weight === undefined ? {} : { weight: flags.weight }),
          ...(flags.priority === undefined ? {} : { priority: flags.priority }),
          ...(flags.ttl === undefined ? {} : { ttl: flags.ttl }),
        });
        const name = `${registration.service}/${registration.id}`;
        console.log(`registered ${name} at ${formatHostPort({ host, port })} (ttl ${registration.ttl} s); Ctrl-C deregisters it`);
        client.on('reregister', (again: Registration) => console.log(`${again.service}/${again.id} was forgotten by the server: registered again`));
        // Heartbeat timers do not hold a process; this does, until a signal.
        const alive = setInterval(() => {}, 1 << 30);
        const stop = async () => {
          clearInterval(alive);
          await registration.deregister();
          console.log(`deregistered ${name}`);
          await client.close();
        };
        await new Promise<void>((resolve, reject) => {
          const onSignal = () => void stop().then(resolve, reject);
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
        });
      }),
    );
}
