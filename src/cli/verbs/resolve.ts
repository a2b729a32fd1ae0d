// `signpost resolve SERVICE`: the instances DNS answers with, in the order a client following
// RFC 2782 would try them (priority, then a weighted draw), over DNS with --dns, else the HTTP API.
import { pickOrder } from '../../client/pick.ts';
import { formatHostPort } from '../../config/parse.ts';
import { action, clientCommand, clientOf, exit, type ConnectionOptions } from './connection.ts';
import { table } from './format.ts';

export function resolveCommand() {
  return clientCommand('resolve', 'the healthy instances of a service, in pick order', { dns: true, json: 'print the instances as JSON' })
    .argument('<service>', 'service name')
    .option('--tag <tag>', 'only instances with this tag')
    .action(
      action(async (service: string, flags: ConnectionOptions & { tag?: string }) => {
        const client = clientOf(flags);
        const instances = pickOrder(await client.resolve(service, { tag: flags.tag }));
        if (instances.length === 0) exit(`no healthy instance of service ${service.toLowerCase()}${flags.tag ? ` with tag ${flags.tag.toLowerCase()}` : ''}`);
        if (flags.json) console.log(JSON.stringify(instances, null, 2));
        else {
          const rows = instances.map((instance) => [String(instance.priority), String(instance.weight), formatHostPort({ host: instance.address, port: instance.port }), instance.target]);
          console.log(table([['PRIORITY', 'WEIGHT', 'ADDRESS', 'TARGET'], ...rows]));
        }
        await client.close();
      }),
    );
}
