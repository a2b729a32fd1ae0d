// The value types of Signpost's flags and how each is read from text. Every parser throws an
// Error whose message names the flag and what it expects, so the CLI can print it as one line.
import { isIP } from 'node:net';
import { ANY_ADDRESS, LOCAL_NETWORKS } from '../lib/addresses.ts';
import { FORWARD_LIMITS, isLabel } from './limits.ts';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * `off`: questions outside the zone are REFUSED. `resolv.conf`: they go to the nameservers of
 * /etc/resolv.conf as read at start-up, less Signpost itself. A list: to these upstreams only.
 */
export type Recursors = 'off' | 'resolv.conf' | HostPort[];

/**
 * `sqlite`: durable, in the data directory. `memory`: forgotten on exit. `etcd://HOST:PORT[,HOST:PORT…]`:
 * shared by every Signpost node pointed at the same etcd cluster (see src/store/etcd/).
 */
export type StoreKind = 'sqlite' | 'memory' | `etcd://${string}`;
const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'memory'];

/** Parses `HOST:PORT`, `[V6]:PORT`. */
export function parseHostPort(value: string, flag: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) throw new Error(`${flag}: expected HOST:PORT (or [IPv6]:PORT), got "${value}"`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`${flag}: port ${port} is out of range 0-65535`);
  return { host: match[1] ?? match[2], port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses one upstream resolver: an IP literal, with an optional port (`10.0.0.2`, `10.0.0.2:5353`, `::1`, `[::1]:5353`). */
export function parseRecursor(value: string, flag = '--recursor'): HostPort {
  const text = value.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(text);
  const match = bracketed ?? v4 ?? (text.includes(':') ? [text, text, undefined] : null);
  const host = match?.[1];
  if (!host || !isIP(host.replace(/%.*$/, ''))) {
    throw new Error(`${flag}: expected an IP address with an optional port (10.0.0.2, 10.0.0.2:5353, [::1]:5353), got "${value}"`);
  }
  const port = match[2] === undefined ? FORWARD_LIMITS.defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`${flag}: port ${port} is out of range 1-65535`);
  return { host, port };
}

/** Upstreams, comma-separated; added to the ones already given (the flag repeats). */
export function parseRecursors(value: string, flag: string, previous: Recursors | undefined): Recursors {
  const given = value
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => parseRecursor(part, flag));
  return [...(Array.isArray(previous) ? previous : []), ...given];
}

/** A Consul node or datacenter name: 1-128 letters, digits, `.`, `_` and `-`. */
export function parseConsulName(value: string, flag: string): string {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) throw new Error(`${flag}: expected 1-128 letters, digits, ".", "_" or "-", got "${value}"`);
  return value;
}

/** A whole number in [min, max]. */
export function parseInteger(value: string, flag: string, min: number, max: number): number {
  const number = Number(value.trim());
  if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
    throw new Error(`${flag}: expected a whole number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** A duration in milliseconds: `2s`, `1.5s`, `500ms`; a bare number is seconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  const ms = match ? Math.round(Number(match[1]) * (match[2] === 'ms' ? 1 : 1000)) : NaN;
  if (!(ms >= 1 && ms <= 600_000)) throw new Error(`${flag}: expected a duration from 1ms to 600s such as 2s or 500ms, got "${value}"`);
  return ms;
}

/** A duration where 0 means off. */
export function parseOptionalDuration(value: string, flag: string): number {
  return /^0+(?:\.0*)?(ms|s)?$/.test(value.trim()) ? 0 : parseDuration(value, flag);
}

/**
 * A comma-separated list of CIDRs (`10.0.0.0/8,::1/128`; a bare address is one host), returned
 * normalised as `ADDRESS/PREFIX`. An empty string is an empty list.
 */
export function parseCidrList(value: string, flag: string): string[] {
  return cidrList(value, flag, '');
}

function cidrList(value: string, flag: string, orWords: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const [address, prefix, ...rest] = part.split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
      if (family === 0 || rest.length > 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
        throw new Error(`${flag}: expected IP addresses or CIDRs such as 10.0.0.0/8 or ::1/128${orWords}, comma-separated, got "${part}"`);
      }
      return `${address}/${bits}`;
    });
}

/**
 * Clients, as `--allow-recursion` takes them: CIDRs (as parseCidrList), and the words `localnets`
 * (this host's networks, loopback included, expanded at start-up) and `any`. `""` is nobody.
 */
export function parseClientList(value: string, flag: string): string[] {
  const words = [LOCAL_NETWORKS, ANY_ADDRESS];
  const parts = value.split(',').map((part) => part.trim().toLowerCase());
  const cidrs = cidrList(parts.filter((part) => !words.includes(part)).join(','), flag, `, or ${words.join(' or ')}`);
  return [...new Set(parts.filter((part) => words.includes(part))), ...cidrs];
}

export function parseStore(value: string, flag: string): StoreKind {
  const etcd = /^etcd:\/\/(.+)$/i.exec(value.trim());
  if (etcd) {
    const hosts = etcd[1].split(',').map((host) => formatHostPort(parseHostPort(host, `${flag} etcd://`)));
    return `etcd://${hosts.join(',')}`;
  }
  const kind = STORE_KINDS.find((known) => known === value.trim().toLowerCase());
  if (!kind) throw new Error(`${flag}: expected one of ${STORE_KINDS.join(', ')} or etcd://HOST:PORT[,HOST:PORT...], got "${value}"`);
  return kind;
}

/** The `HOST:PORT`s of an `etcd://` store, or undefined for another kind. */
export function etcdHosts(store: StoreKind): string[] | undefined {
  return store.startsWith('etcd://') ? store.slice('etcd://'.length).split(',') : undefined;
}

/** An etcd key prefix: starts and ends with `/`. */
export function parseEtcdPrefix(value: string, flag: string): string {
  const prefix = value.trim();
  if (!/^\/[\x21-\x7e]*$/.test(prefix)) throw new Error(`${flag}: expected a key prefix starting with "/", got "${value}"`);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** A zone name: lower case, no trailing dot, each part a DNS label. */
export function parseDomain(value: string, flag: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, '');
  if (!domain || !domain.split('.').every(isLabel) || domain.length > 200) {
    throw new Error(`${flag}: "${value}" is not a domain name made of DNS labels`);
  }
  return domain;
}

/** One of a fixed set of words. */
export function parseChoice<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  const choice = choices.find((known) => known === value.trim());
  if (choice === undefined) throw new Error(`${flag}: expected one of ${choices.join(', ')}, got "${value}"`);
  return choice;
}
