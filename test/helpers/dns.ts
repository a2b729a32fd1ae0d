// Asking a DNS server on loopback as an application would, through Node's resolver.
import { Resolver } from 'node:dns/promises';

/** The A records of `name` from the DNS server at 127.0.0.1:`port`, sorted; [] for NXDOMAIN or no data. */
export async function addresses(port: number, name: string, timeoutMs = 2_000): Promise<string[]> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  try {
    return (await resolver.resolve4(name)).sort();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw error;
  }
}
