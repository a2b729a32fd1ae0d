// `signpost deregister SERVICE ID`: removes an instance at once (whoever registered it).
import { action, clientCommand, clientOf, exit, type ConnectionOptions } from './connection.ts';

export function deregisterCommand() {
  return clientCommand('deregister', 'remove an instance now')
    .argument('<service>', 'service name')
    .argument('<id>', 'instance id (signpost ls SERVICE lists them)')
    .action(
      action(async (service: string, id: string, flags: ConnectionOptions) => {
        const client = clientOf(flags);
        if (!(await client.deregister(service, id))) exit(`${service}/${id} is not registered (signpost ls ${service} lists the instances)`);
        console.log(`deregistered ${service.toLowerCase()}/${id.toLowerCase()}`);
        await client.close();
      }),
    );
}
