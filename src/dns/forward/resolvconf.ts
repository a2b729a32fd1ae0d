// The default upstreams: the `nameserver` lines of /etc/resolv.conf, read once at start-up.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import { FORWARD_LIMITS } from '../../config/limits.ts';
import type { HostPort } from '../../config/parse.ts';

export const RESOLV_CONF = '/etc/resolv.conf';

/**
 * The nameservers of a resolv.conf text (port 53, as resolv.conf has no port), in order, less any
 * that is Signpost's own DNS listener `self`: a machine whose resolv.conf names Signpost must not
 * have Signpost forward to itself.
 */
export function nameserversOf(text: string, self: HostPort): HostPort[] {
  const servers: HostPort[] = [];
  for (const line of text.split('\n')) {
    const [keyword, address] = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (keyword !== 'nameserver' || !address || !isIP(address.replace(/%.*$/, ''))) continue;
    const server = { host: address, port: FORWARD_LIMITS.defaultPort };
    if (!isSelf(server, self)) servers.push(server);
  }
  return servers;
}

/** `nameserversOf` the machine's resolv.conf; none when it cannot be read. */
export function systemNameservers(self: HostPort, path = RESOLV_CONF): HostPort[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return nameserversOf(text, self);
}

/** Is `server` the listener `self`? A wildcard listener is every address of this machine. */
export function isSelf(server: HostPort, self: HostPort): boolean {
  if (server.port !== self.port) return false;
  if (server.host === self.host) return true;
  return (self.host === '0.0.0.0' || self.host === '::') && isLocalAddress(server.host);
}

function isLocalAddress(address: string): boolean {
  if (address === '::1' || address.startsWith('127.')) return true;
  return Object.values(os.networkInterfaces()).some((interfaces) => interfaces?.some((entry) => entry.address === address));
}
