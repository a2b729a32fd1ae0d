// One process holding many registrations, for `npm run bench:client`: `batched` keeps them alive
// with signpost/client (one PUT /v1/heartbeats a tick), `single` with one PUT …/heartbeat per
// instance every ttl/3, as an application did before the client (the baseline). Prints `ready`
// once every instance is registered, then heartbeats until killed.
//
//   node bench/heartbeat-client.ts MODE URL COUNT TTL
import { SignpostClient } from '../src/client/index.ts';

const [mode, url, countText, ttlText] = process.argv.slice(2);
const count = Number(countText);
const ttl = Number(ttlText);
const instance = (i: number) => ({ service: 'bench', id: `bench-${i}`, address: '10.0.0.1', port: 1000 + i, ttl });

if (mode === 'batched') {
  const client = new SignpostClient({ url });
  client.on('error', (error: Error) => console.error(error.message));
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => client.register(instance(i + j))));
} else {
  for (let i = 0; i < count; i++) {
    const { service, id, ...body } = instance(i);
    const path = `${url}/v1/services/${service}/instances/${id}`;
    const response = await fetch(path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (response.status !== 200) throw new Error(`register ${id}: ${response.status}`);
    await response.arrayBuffer();
    // Every ttl/3 with the same 80-100% jitter the client uses.
    const beat = async () => {
      const renewed = await fetch(`${path}/heartbeat`, { method: 'PUT' }).catch((error: Error) => error);
      if (renewed instanceof Response) await renewed.arrayBuffer();
      setTimeout(beat, ((ttl * 1000) / 3) * (0.8 + 0.2 * Math.random()));
    };
    setTimeout(beat, ((ttl * 1000) / 3) * Math.random());
  }
}
setInterval(() => {}, 1 << 30);
console.log('ready');
