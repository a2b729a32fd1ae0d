// Client address sets (CIDR lists): who is exempt from the rate limits, who may use forwarding.
import { BlockList, isIPv4 } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

/** The word for "every network of this host's interfaces, loopback included", as in BIND's ACLs. */
export const LOCAL_NETWORKS = 'localnets';
/** The word for "every address". */
export const ANY_ADDRESS = 'any';

/**
 * A predicate "is this client address in one of `cidrs`" (`ADDRESS/PREFIX`, as parseCidrList
 * returns them). IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) count as their IPv4 address, and
 * an IPv6 zone index (`fe80::1%eth0`) is ignored.
 */
export function addressMatcher(cidrs: readonly string[]): (address: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const slash = cidr.lastIndexOf('/');
    const address = cidr.slice(0, slash);
    list.addSubnet(address, Number(cidr.slice(slash + 1)), isIPv4(address) ? 'ipv4' : 'ipv6');
  }
  return (given) => {
    const percent = given.indexOf('%');
    const address = percent < 0 ? given : given.slice(0, percent);
    if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return list.check(address.slice(7), 'ipv4');
    return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  };
}

/**
 * The CIDRs of a client list as flags give it: CIDRs as they are, `localnets` as the network of
 * every address of this host's interfaces (loopback included), `any` as every address.
 */
export function expandClientList(list: readonly string[], interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const cidrs = new Set<string>();
  for (const entry of list) {
    if (entry === ANY_ADDRESS) {
      cidrs.add('0.0.0.0/0').add('::/0');
    } else if (entry === LOCAL_NETWORKS) {
      for (const addresses of Object.values(interfaces)) {
        for (const info of addresses ?? []) if (info.cidr) cidrs.add(networkOf(info.cidr));
      }
    } else {
      cidrs.add(entry);
    }
  }
  return [...cidrs];
}

/** `192.0.2.2/24` → `192.0.2.0/24`, `fd00::2/64` → `fd00::/64`: the network, for logs that say who is meant. */
function networkOf(cidr: string): string {
  const [address, prefix] = cidr.split('/');
  const bits = Number(prefix);
  const v4 = isIPv4(address);
  const width = v4 ? 32 : 128;
  const value = v4 ? address.split('.').reduce((sum, octet) => (sum << 8n) | BigInt(octet), 0n) : ipv6Value(address.replace(/%.*$/, ''));
  const network = (value >> BigInt(width - bits)) << BigInt(width - bits);
  if (v4) return `${[24n, 16n, 8n, 0n].map((shift) => (network >> shift) & 255n).join('.')}/${bits}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((network >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups (two or more) becomes `::` (RFC 5952).
  const run = /(?:^|:)0(?::0)+(?::|$)/g;
  let longest = '';
  for (const match of groups.join(':').matchAll(run)) if (match[0].length > longest.length) longest = match[0];
  return `${longest ? groups.join(':').replace(longest, '::') : groups.join(':')}/${bits}`;
}

function ipv6Value(address: string): bigint {
  const [head, tail] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((sum, group) => (sum << 16n) | BigInt(`0x${group}`), 0n);
}

/** Memoised answers kept before the memo is cleared (client addresses are few in practice). */
const MEMO_MAX = 4096;

/**
 * Membership in an address set, asked per query: the last address asked is answered by one string
 * comparison (a burst from one client: a resolver, a load balancer), others from a memo, so the
 * BlockList is consulted once per address.
 */
export class AddressSet {
  readonly #match: (address: string) => boolean;
  readonly #memo = new Map<string, boolean>();
  #lastAddress = '';
  #lastResult = false;

  constructor(match: (address: string) => boolean) {
    this.#match = match;
  }

  has(address: string): boolean {
    if (address === this.#lastAddress) return this.#lastResult;
    let result = this.#memo.get(address);
    if (result === undefined) {
      if (this.#memo.size >= MEMO_MAX) this.#memo.clear();
      result = this.#match(address);
      this.#memo.set(address, result);
    }
    this.#lastAddress = address;
    this.#lastResult = result;
    return result;
  }
}
