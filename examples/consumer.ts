// Finds a service through Signpost and calls it: signpost/client picks an instance by priority,
// then weight (RFC 2782), from an answer it keeps for its DNS TTL and refreshes in the background.
//
//   npm run example:consumer            (SIGNPOST_DNS, SIGNPOST_DOMAIN, SERVICE, COUNT)
import { SignpostClient } from '../src/client/index.ts'; // in an application: from 'signpost/client'

const service = process.env.SERVICE ?? 'hello';
const count = Number(process.env.COUNT ?? 5);
// Over DNS (SRV, then the target's A/AAAA); without `dns` it would ask the HTTP API (SIGNPOST_URL).
const client = new SignpostClient({ dns: process.env.SIGNPOST_DNS ?? '127.0.0.1:8600', domain: process.env.SIGNPOST_DOMAIN });

let failures = 0;
for (let i = 1; i <= count; i++) {
  try {
    const instance = await client.pick(service);
    const host = instance.address.includes(':') ? `[${instance.address}]` : instance.address;
    const response = await fetch(`http://${host}:${instance.port}/`, { signal: AbortSignal.timeout(5_000) });
    console.log(`consumer #${i} ${instance.target} -> ${host}:${instance.port}: ${response.status} ${await response.text()}`);
  } catch (error) {
    failures++;
    console.log(`consumer #${i} ${service} failed: ${(error as Error).message}`);
  }
}
await client.close();
process.exitCode = failures > 0 ? 1 : 0;
