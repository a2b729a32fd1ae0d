// `signpost ls [SERVICE]`: the services with their counts, or one service's instances with their health.
import type { InstanceRecord } from '../../client/types.ts';
import { formatHostPort } from '../../config/parse.ts';
import { action, clientCommand, clientOf, exit, type ConnectionOptions } from './connection.ts';
import { noteOf, table } from './format.ts';

function expiresIn(instance: InstanceRecord, now: number): string {
  if (instance.expiresAt === null) return '-';
  const seconds = Math.round((Date.parse(instance.expiresAt) - now) / 1000);
  // Held by another node of a cluster, which counts the heartbeats it takes: this one knows a lower bound.
  if (instance.leaseHolder) return seconds > 0 ? `>=${seconds}s on ${instance.leaseHolder}` : `on ${instance.leaseHolder}`;
  return seconds >= 0 ? `${seconds}s` : 'lapsed';
}

export function lsCommand() {
  return clientCommand('ls', 'list the services, or the instances of one', { json: 'print the API answer as JSON' })
    .argument('[service]', 'a service: list its instances, healthy or not')
    .action(
      action(async (service: string | undefined, flags: ConnectionOptions) => {
        const client = clientOf(flags);
        if (service === undefined) {
          const services = await client.services();
          if (flags.json) console.log(JSON.stringify(services, null, 2));
          else if (services.length === 0) console.log('no services registered');
          else console.log(table([['SERVICE', 'INSTANCES', 'HEALTHY'], ...services.map((each) => [each.name, String(each.instances), String(each.healthy)])]));
          return;
        }
        const record = await client.service(service);
        if (record === undefined) exit(`service ${service.toLowerCase()} has no registered instances`);
        if (flags.json) {
          console.log(JSON.stringify(record, null, 2));
          return;
        }
        const now = Date.now();
        const rows = record.instances.map((instance) => [
          instance.id,
          formatHostPort({ host: instance.address, port: instance.port }),
          String(instance.priority),
          instance.effectiveWeight === instance.weight ? String(instance.weight) : `${instance.effectiveWeight}/${instance.weight}`,
          instance.status,
          expiresIn(instance, now),
          instance.tags.join(',') || '-',
          noteOf(instance),
        ]);
        console.log(table([['ID', 'ADDRESS', 'PRIORITY', 'WEIGHT', 'STATUS', 'EXPIRES', 'TAGS', 'NOTE'], ...rows]));
        if (record.protection.tripped) console.log(`protection threshold tripped (healthy share ${record.protection.healthyShare}): DNS serves every instance not in maintenance`);
      }),
    );
}
