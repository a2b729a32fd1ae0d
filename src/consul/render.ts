// Signpost instances as Consul shows services, checks and catalog entries.
import type { Instance } from '../registry/types.ts';
import { formatGoDuration } from './decode.ts';
import type { ConsulNode } from './node.ts';

/** The check id prefix of a service's own checks, and of its maintenance check (Consul's names). */
export const SERVICE_CHECK_PREFIX = 'service:';
export const MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';
const DEFAULT_MAINTENANCE_NOTE = 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

const EMPTY_PROXY = Object.freeze({ Mode: '', MeshGateway: {}, Expose: {} });

export function weightsOf(instance: Instance): { Passing: number; Warning: number } {
  return { Passing: instance.weight, Warning: instance.warningWeight ?? instance.weight };
}

/** The `AgentService` of `/v1/agent/services` and `/v1/agent/service/:id`. */
export function agentService(instance: Instance, node: ConsulNode) {
  return {
    ID: instance.id,
    Service: instance.service,
    Tags: instance.tags,
    Meta: instance.meta,
    Port: instance.port,
    Address: instance.address,
    Weights: weightsOf(instance),
    EnableTagOverride: false,
    Datacenter: node.datacenter,
  };
}

/** The `Service` (NodeService) of a health entry. */
export function nodeService(instance: Instance) {
  return {
    ID: instance.id,
    Service: instance.service,
    Tags: instance.tags,
    Address: instance.address,
    Meta: instance.meta,
    Port: instance.port,
    Weights: weightsOf(instance),
    EnableTagOverride: false,
    Proxy: EMPTY_PROXY,
    Connect: {},
    PeerName: '',
    CreateIndex: instance.index,
    ModifyIndex: instance.index,
  };
}

/** An entry of `/v1/catalog/service/:name` (ServiceNode): the node's fields and the service's, flat. */
export function serviceNode(instance: Instance, node: ConsulNode) {
  const { ID, Node, Address, Datacenter, TaggedAddresses, Meta } = node.json;
  return {
    ID,
    Node,
    Address,
    Datacenter,
    TaggedAddresses,
    NodeMeta: Meta,
    ServiceKind: '',
    ServiceID: instance.id,
    ServiceName: instance.service,
    ServiceTags: instance.tags,
    ServiceAddress: instance.address,
    ServiceWeights: weightsOf(instance),
    ServiceMeta: instance.meta,
    ServicePort: instance.port,
    ServiceSocketPath: '',
    ServiceEnableTagOverride: false,
    ServiceProxy: EMPTY_PROXY,
    ServiceConnect: {},
    ServiceLocality: null,
    CreateIndex: instance.index,
    ModifyIndex: instance.index,
  };
}

/** An entry of `/v1/health/service/:name`: the node, the service, the node's checks and the service's. */
export function healthEntry(instance: Instance, node: ConsulNode) {
  return { Node: node.json, Service: nodeService(instance), Checks: [node.serfHealth, ...serviceChecks(instance, node)] };
}

/**
 * The id of the TTL check of an instance: heartbeats are its lease. `service:<ID>` as Consul names
 * a service's only check; `service:<ID>:1` when it also has an HTTP/TCP check (then `:2`).
 */
export function ttlCheckId(instance: Instance): string {
  return instance.check ? `${SERVICE_CHECK_PREFIX}${instance.id}:1` : `${SERVICE_CHECK_PREFIX}${instance.id}`;
}

/**
 * The service's checks as Consul shows them: its lease as a TTL check (while it has one: ttl 0
 * has none, and an instance with an active check has one only once it heartbeated), its HTTP or
 * TCP check, and the maintenance check while in maintenance.
 */
export function serviceChecks(instance: Instance, node: ConsulNode) {
  const checks = [];
  const base = {
    Node: node.name,
    ServiceID: instance.id,
    ServiceName: instance.service,
    ServiceTags: instance.tags,
    ExposedPort: 0,
    Definition: {},
    CreateIndex: instance.index,
    ModifyIndex: instance.index,
  };
  const name = `Service '${instance.service}' check`;
  const { lease, check, maintenance } = instance.health;
  if (lease) {
    checks.push({ ...base, CheckID: ttlCheckId(instance), Name: name, Status: lease.status, Notes: '', Output: lease.note, Type: 'ttl', Interval: '', Timeout: '' });
  }
  if (check && instance.check) {
    const CheckID = lease ? `${SERVICE_CHECK_PREFIX}${instance.id}:2` : `${SERVICE_CHECK_PREFIX}${instance.id}`;
    const Type = instance.check.http ? 'http' : 'tcp';
    const Interval = formatGoDuration(instance.check.interval);
    const Timeout = formatGoDuration(instance.check.timeout);
    checks.push({ ...base, CheckID, Name: name, Status: check.status, Notes: '', Output: check.note, Type, Interval, Timeout });
  }
  if (maintenance) {
    checks.push({
      ...base,
      CheckID: `${MAINTENANCE_CHECK_PREFIX}${instance.id}`,
      Name: 'Service Maintenance Mode',
      Status: 'critical',
      Notes: maintenance.note || DEFAULT_MAINTENANCE_NOTE,
      Output: '',
      Type: '',
      Interval: '',
      Timeout: '',
    });
  }
  return checks;
}

/** Consul compares tags case-insensitively in `?tag=` filters: an instance must carry every one asked for. */
export function hasTags(instance: Instance, wanted: readonly string[]): boolean {
  return wanted.every((tag) => instance.tags.some((own) => own.toLowerCase() === tag.toLowerCase()));
}
