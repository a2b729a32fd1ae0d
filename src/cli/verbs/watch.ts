// `signpost watch [SERVICE]`: one line per change as it happens, until Ctrl-C.
import type { WatchEvent } from '../../client/types.ts';
import { formatHostPort } from '../../config/parse.ts';
import { action, clientCommand, clientOf, type ConnectionOptions } from './connection.ts';
import { noteOf } from './format.ts';

function describe(event: WatchEvent): string {
  switch (event.type) {
    case 'register':
      return `register ${event.service}/${event.id} ${formatHostPort({ host: event.instance.address, port: event.instance.port })} ${event.instance.status}`;
    case 'deregister':
      return `deregister ${event.service}/${event.id} (${event.reason === 'request' ? 'deregistered' : 'critical too long'})`;
    case 'health': {
      const note = noteOf(event.instance);
      return `health ${event.service}/${event.id} ${event.previous} -> ${event.instance.status}${note ? ` (${note})` : ''}`;
    }
    case 'settings':
      return `settings ${event.service} ${JSON.stringify(event.settings)}`;
    case 'reset':
      return 'reset: the server could not replay what happened while disconnected; signpost ls shows the current state';
  }
}

export function watchCommand() {
  return clientCommand('watch', 'print changes as they happen (all services, or one) until Ctrl-C', { json: 'one JSON event a line' })
    .argument('[service]', 'only this service')
    .action(
      action(async (service: string | undefined, flags: ConnectionOptions) => {
        const client = clientOf(flags);
        // Fail now, in one line, if the server cannot be reached or refuses the token; later outages are retried.
        await client.services();
        const stop = () => void client.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const watch = client.watch(service);
        await watch.ready;
        console.error(`signpost: watching ${service ?? 'every service'} (Ctrl-C stops)`);
        for await (const event of watch) {
          console.log(flags.json ? JSON.stringify(event) : `${new Date().toISOString()} ${describe(event)}`);
        }
      }),
    );
}
