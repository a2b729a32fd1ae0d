// Finds a service through Signpost's DNS with nothing but Node's stub resolver: SRV for the
// instances, A/AAAA for the chosen target, then an ordinary HTTP call.
//
//   npm run example:consumer            (SIGNPOST_DNS, SIGNPOST_DOMAIN, SERVICE, COUNT)
import { promises as dns, type SrvRecord } from 'node:dns';

const server = process.env.SIGNPOST_DNS ?? '127.0.0.1:8600';
const domain = process.env.SIGNPOST_DOMAIN ?? 'local';
const service = process.env.SERVICE ?? 'hello';
const count = Number(process.env.COUNT ?? 5);
const name = `_${service}._tcp.service.${domain}`;

const resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
// `host:port` and `[v6]:port` are both accepted as is.
resolver.setServers([server]);

let failures = 0;
for (let i = 1; i <= count; i++) {
  try {
    // A fresh query every time: the resolver does not cache, so instances that come and go show up.
    const target = pick(await resolver.resolveSrv(name));
    const address = await resolveAddress(target.name);
    const host = address.includes(':') ? `[${address}]` : address;
    const response = await fetch(`http://${host}:${target.port}/`, { signal: AbortSignal.timeout(5_000) });
    console.log(`consumer #${i} ${target.name} -> ${host}:${target.port}: ${response.status} ${await response.text()}`);
  } catch (error) {
    failures++;
    console.log(`consumer #${i} ${name} failed: ${reason(error)}`);
  }
}
process.exitCode = failures > 0 ? 1 : 0;

/**
 * RFC 2782 selection: only the lowest priority is eligible; within it, choose at random in
 * proportion to weight. Zero weights go first so they keep the small chance the RFC gives them.
 */
function pick(records: SrvRecord[]): SrvRecord {
  if (records.length === 0) throw new Error('no instances');
  const best = Math.min(...records.map((record) => record.priority));
  const tier = records.filter((record) => record.priority === best).sort((a, b) => Number(a.weight > 0) - Number(b.weight > 0));
  const total = tier.reduce((sum, record) => sum + record.weight, 0);
  const draw = Math.floor(Math.random() * (total + 1)); // uniform over 0..total, inclusive
  let running = 0;
  for (const record of tier) {
    running += record.weight;
    if (running >= draw) return record;
  }
  return tier[tier.length - 1];
}

/** The target's IPv4 address, else its IPv6 one: an instance registers exactly one of them. */
async function resolveAddress(target: string): Promise<string> {
  try {
    return (await resolver.resolve4(target))[0];
  } catch (error) {
    if ((error as { code?: string }).code !== dns.NODATA) throw error;
    return (await resolver.resolve6(target))[0];
  }
}

/** Resolver errors carry a code (ENOTFOUND: no such service); fetch hides its reason in `cause`. */
function reason(error: unknown): string {
  const { code, cause } = error as { code?: string; cause?: { code?: string } };
  return code ?? cause?.code ?? (error as Error).message;
}
