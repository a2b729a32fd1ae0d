// The one Consul node a Signpost server is: its identity and the node-level parts of answers.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface ConsulNodeOptions {
  name: string;
  datacenter: string;
  /** The HTTP listener's host: the node's address unless it listens on every interface. */
  httpHost: string;
  /** The index the node (and its serfHealth check) was created at. */
  index: number;
}

/** The Consul version whose API shapes the answers follow, as `/v1/agent/self` reports it. */
export const CONSUL_API_VERSION = '1.20.0';

export class ConsulNode {
  readonly name: string;
  readonly datacenter: string;
  readonly address: string;
  /** A UUID derived from the name: the same across restarts. */
  readonly id: string;
  readonly index: number;
  /** The `Node` object of health entries and `/v1/catalog/nodes`, built once. */
  readonly json: Readonly<Record<string, unknown>>;
  /** The node's `serfHealth` check: always passing, the node is the server answering. */
  readonly serfHealth: Readonly<Record<string, unknown>>;

  constructor({ name, datacenter, httpHost, index }: ConsulNodeOptions) {
    this.name = name;
    this.datacenter = datacenter;
    this.address = nodeAddress(httpHost);
    this.index = index;
    const hex = createHash('sha256').update(name).digest('hex');
    this.id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
    const family = isIP(this.address) === 6 ? 'ipv6' : 'ipv4';
    this.json = Object.freeze({
      ID: this.id,
      Node: name,
      Address: this.address,
      Datacenter: datacenter,
      TaggedAddresses: { lan: this.address, [`lan_${family}`]: this.address, wan: this.address, [`wan_${family}`]: this.address },
      Meta: {},
      CreateIndex: index,
      ModifyIndex: index,
    });
    this.serfHealth = Object.freeze({
      Node: name,
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: 'Agent alive and reachable',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      Interval: '',
      Timeout: '',
      ExposedPort: 0,
      Definition: {},
      CreateIndex: index,
      ModifyIndex: index,
    });
  }
}

/** The listener's address, or the first non-loopback IPv4 address when it listens on all of them. */
function nodeAddress(httpHost: string): string {
  if (httpHost === 'localhost') return '127.0.0.1';
  if (isIP(httpHost) !== 0 && httpHost !== '0.0.0.0' && httpHost !== '::') return httpHost;
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (external) return external.address;
  }
  return '127.0.0.1';
}
