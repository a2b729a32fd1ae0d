// A Consul service definition as a Signpost registration: what maps, what is refused and why.
import { isIP } from 'node:net';
import { isLabel, LIMITS } from '../config/limits.ts';
import type { CheckDefinition, Instance, Registration, ReportedStatus } from '../registry/types.ts';
import { durationField } from './decode.ts';
import { ConsulError } from './errors.ts';
import { SERVICE_CHECK_PREFIX } from './render.ts';

type Nullable<T> = T | null | undefined;
type Duration = Nullable<string | number>;

/** Consul's CheckType, as the schema lets it through. */
export interface ConsulCheck {
  CheckID?: Nullable<string>;
  Status?: Nullable<string>;
  ScriptArgs?: Nullable<string[]>;
  HTTP?: Nullable<string>;
  H2PING?: Nullable<string>;
  Header?: Nullable<Record<string, string[]>>;
  Method?: Nullable<string>;
  Body?: Nullable<string>;
  TCP?: Nullable<string>;
  UDP?: Nullable<string>;
  Interval?: Duration;
  AliasNode?: Nullable<string>;
  AliasService?: Nullable<string>;
  DockerContainerID?: Nullable<string>;
  GRPC?: Nullable<string>;
  OSService?: Nullable<string>;
  Timeout?: Duration;
  TTL?: Duration;
  SuccessBeforePassing?: Nullable<number>;
  FailuresBeforeCritical?: Nullable<number>;
  DeregisterCriticalServiceAfter?: Duration;
  [other: string]: unknown;
}

/** Consul's ServiceDefinition, as the schema lets it through. */
export interface ServiceDefinition {
  Kind?: Nullable<string>;
  ID?: Nullable<string>;
  Name?: Nullable<string>;
  Tags?: Nullable<string[]>;
  Address?: Nullable<string>;
  Meta?: Nullable<Record<string, string>>;
  Port?: Nullable<number>;
  SocketPath?: Nullable<string>;
  Check?: Nullable<ConsulCheck>;
  Checks?: Nullable<Array<ConsulCheck | null>>;
  Weights?: Nullable<{ Passing?: Nullable<number>; Warning?: Nullable<number> }>;
  Token?: Nullable<string>;
  Proxy?: Nullable<Record<string, unknown>>;
  Connect?: Nullable<Record<string, unknown>>;
  [other: string]: unknown;
}

/** Consul's default timeout of an HTTP or TCP check, seconds (shortened to the interval when that is shorter). */
const CONSUL_CHECK_TIMEOUT = 10;
const STATUSES = ['passing', 'warning', 'critical'];

/** Kinds of checks Consul runs and Signpost does not, by the field that makes a check one. */
const UNSUPPORTED_CHECKS: Array<[keyof ConsulCheck, string]> = [
  ['ScriptArgs', 'script'],
  ['GRPC', 'gRPC'],
  ['H2PING', 'H2PING'],
  ['UDP', 'UDP'],
  ['DockerContainerID', 'Docker'],
  ['AliasService', 'alias'],
  ['AliasNode', 'alias'],
  ['OSService', 'OS service'],
];

const invalid = (message: string) => new ConsulError(400, message);

/** The service name and ID a definition names (lower-cased), before anything else is checked. */
export function namesOf(definition: ServiceDefinition): { service: string; id: string } {
  const name = definition.Name ?? '';
  if (name === '') throw invalid('Missing service name');
  const id = definition.ID || name;
  if (!isLabel(name)) throw invalid(`Invalid service name "${name}": every Signpost service is a DNS name, so Name must be a DNS label (letters, digits and hyphens, 1-63 characters, not starting or ending with a hyphen)`);
  if (!isLabel(id)) throw invalid(`Invalid service ID "${id}": every Signpost instance is a DNS name (<ID>.<Name>.instance.<domain>), so ID must be a DNS label (letters, digits and hyphens, 1-63 characters, not starting or ending with a hyphen)`);
  return { service: name.toLowerCase(), id: id.toLowerCase() };
}

/**
 * The registration a definition asks for. `clientAddress` stands in for an empty `Address` (Consul
 * uses its agent's, which runs beside the service). `existing`, without `replaceChecks`, keeps its
 * checks when the definition has none (Consul keeps a service's checks the request does not name).
 */
export function toRegistration(
  definition: ServiceDefinition,
  names: { service: string; id: string },
  clientAddress: string,
  existing: Instance | undefined,
  replaceChecks: boolean,
): Registration {
  if (definition.Kind) throw invalid(`Invalid service: Kind "${definition.Kind}" is not supported: Signpost registers plain services, not Connect proxies or gateways`);
  if (definition.SocketPath) throw invalid('Invalid service: SocketPath is not supported: DNS answers carry an address and a port');
  if (definition.Proxy && Object.keys(definition.Proxy).length > 0) throw invalid('Invalid service: Proxy (Connect) is not supported');
  if (definition.Connect && Object.keys(definition.Connect).length > 0) throw invalid('Invalid service: Connect is not supported');
  const address = addressOf(definition.Address || clientAddress);
  const port = definition.Port ?? 0;
  if (port < LIMITS.port.min || port > LIMITS.port.max) {
    throw invalid(`Invalid service port ${port}: Port must be ${LIMITS.port.min}-${LIMITS.port.max}, as every Signpost instance is an SRV target`);
  }
  const registration: Registration = {
    ...names,
    address,
    port,
    ...weightsOf(definition.Weights),
    priority: LIMITS.priority.default,
    ttl: 0,
    tags: [...new Set(definition.Tags ?? [])],
    meta: metaOf(definition.Meta ?? {}),
  };
  const checks = [definition.Check, ...(definition.Checks ?? [])].filter((check): check is ConsulCheck => !isEmptyCheck(check));
  if (checks.length === 0 && existing && !replaceChecks) return { ...registration, ...healthOf(existing) };
  if (checks.length > 1) {
    throw invalid('Invalid check: Signpost keeps one check per service registered through the Consul API: a TTL check (heartbeats) or an HTTP/TCP check');
  }
  if (checks.length === 1) Object.assign(registration, checkOf(checks[0], names.id));
  return registration;
}

/** The health part of a registration: what an existing instance keeps when re-registered without checks. */
function healthOf(instance: Instance): Partial<Registration> {
  const { ttl, check, initialStatus, deregisterCriticalAfter } = instance;
  return { ttl, ...(check ? { check } : {}), ...(initialStatus ? { initialStatus } : {}), ...(deregisterCriticalAfter !== undefined ? { deregisterCriticalAfter } : {}) };
}

function addressOf(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (bare === '0.0.0.0' || bare === '::') throw invalid('Invalid service address');
  if (isIP(bare) === 0 || bare.includes('%')) {
    throw invalid(`Invalid service address "${address}": Address must be an IPv4 or IPv6 address, as DNS answers with it (Signpost does not resolve host names)`);
  }
  return bare.toLowerCase();
}

function weightsOf(weights: ServiceDefinition['Weights']): { weight: number; warningWeight: number } {
  // Consul's default when no Weights are given.
  if (!weights) return { weight: 1, warningWeight: 1 };
  const passing = weights.Passing ?? 0;
  const warning = weights.Warning ?? 0;
  if (passing < 1) throw invalid('Invalid Weights: Passing must be greater than 0');
  if (warning < 0) throw invalid('Invalid Weights: Warning must be greater or equal than 0');
  if (passing > LIMITS.weight.max || warning > LIMITS.weight.max) throw invalid('Invalid Weights: DNS Weight must be between 0 and 65535');
  return { weight: passing, warningWeight: warning };
}

function metaOf(meta: Record<string, string>): Record<string, string> {
  const entries = Object.entries(meta);
  if (entries.length > LIMITS.metaEntries) throw invalid(`Invalid Service Meta: at most ${LIMITS.metaEntries} entries`);
  for (const [key, value] of entries) {
    if (!new RegExp(`^[A-Za-z0-9_.-]{1,${LIMITS.metaKeyLength}}$`).test(key)) {
      throw invalid(`Invalid Service Meta: Meta.${key}: keys are 1-${LIMITS.metaKeyLength} characters of A-Z a-z 0-9 _ . -`);
    }
    if (key.startsWith('consul-')) throw invalid(`Invalid Service Meta: Meta.${key}: the "consul-" prefix is reserved`);
    if (Buffer.byteLength(`${key}=${value}`) > LIMITS.metaEntryBytes) {
      throw invalid(`Invalid Service Meta: Meta.${key}: "key=value" must fit in ${LIMITS.metaEntryBytes} bytes (DNS publishes it as one TXT string)`);
    }
  }
  return meta;
}

function isEmptyCheck(check: ConsulCheck | null | undefined): boolean {
  return !check || Object.values(check).every((value) => value === null || value === undefined || value === '' || value === false || value === 0);
}

/** One Consul check as Signpost's health: a TTL check is the lease, an HTTP or TCP check an active check. */
function checkOf(check: ConsulCheck, id: string): Partial<Registration> {
  const expectedId = `${SERVICE_CHECK_PREFIX}${id}`;
  if (check.CheckID && check.CheckID.toLowerCase() !== expectedId) {
    throw invalid(`Invalid check: CheckID "${check.CheckID}": Signpost names a service's check "${expectedId}", as Consul does when none is given`);
  }
  for (const [field, kind] of UNSUPPORTED_CHECKS) {
    if (check[field]) throw invalid(`Invalid check: ${kind} checks are not supported (${field}): Signpost runs TTL, HTTP and TCP checks`);
  }
  const status = check.Status || undefined;
  if (status !== undefined && !STATUSES.includes(status)) throw invalid("Status for checks must 'passing', 'warning', 'critical'");
  const ttl = durationField(check.TTL, 'TTL');
  const interval = durationField(check.Interval, 'Interval');
  const timeout = durationField(check.Timeout, 'Timeout');
  const deregisterAfter = durationField(check.DeregisterCriticalServiceAfter, 'DeregisterCriticalServiceAfter');
  const health: Partial<Registration> = {};
  if (deregisterAfter > 0) {
    health.deregisterCriticalAfter = Math.min(LIMITS.deregisterCriticalAfter.max, Math.max(LIMITS.deregisterCriticalAfter.min, Math.ceil(deregisterAfter)));
  }
  if (ttl > 0) {
    if (interval > 0) throw invalid('Invalid check: Interval and TTL cannot both be specified');
    if (check.HTTP || check.TCP) throw invalid('Invalid check: a check is a TTL check or an HTTP/TCP check, not both');
    if (ttl > LIMITS.ttl.max) throw invalid(`Invalid check: TTL must be at most ${LIMITS.ttl.max}s`);
    // A TTL check starts critical, as in Consul, unless it says otherwise.
    return { ...health, ttl: Math.ceil(ttl), initialStatus: (status ?? 'critical') as ReportedStatus };
  }
  if (!check.HTTP && !check.TCP) throw invalid('Invalid check: TTL must be > 0 for TTL checks');
  if (check.HTTP && check.TCP) throw invalid('Invalid check: give HTTP or TCP, not both');
  if (interval <= 0) throw invalid('Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks');
  if (check.Method && check.Method.toUpperCase() !== 'GET') throw invalid(`Invalid check: Method "${check.Method}" is not supported: Signpost's HTTP check sends GET`);
  if (check.Header && Object.keys(check.Header).length > 0) throw invalid("Invalid check: Header is not supported: Signpost's HTTP check sends no custom headers");
  if (check.Body) throw invalid("Invalid check: Body is not supported: Signpost's HTTP check sends GET without a body");
  return { ...health, ttl: 0, check: activeCheck(check, interval, timeout) };
}

function activeCheck(check: ConsulCheck, interval: number, timeout: number): CheckDefinition {
  const bounds = LIMITS.check;
  const clamp = (value: number, { min, max }: { min: number; max: number }) => Math.min(max, Math.max(min, value));
  const checkInterval = clamp(interval, bounds.interval);
  const target: Pick<CheckDefinition, 'http' | 'tcp'> = check.HTTP ? { http: httpTarget(check.HTTP) } : { tcp: tcpTarget(check.TCP!) };
  return {
    ...target,
    interval: checkInterval,
    timeout: Math.min(checkInterval, clamp(timeout > 0 ? timeout : CONSUL_CHECK_TIMEOUT, bounds.timeout)),
    successBeforePassing: clamp(check.SuccessBeforePassing || 1, bounds.threshold),
    failuresBeforeCritical: clamp(check.FailuresBeforeCritical || 1, bounds.threshold),
  };
}

function httpTarget(url: string): string {
  if (!/^https?:\/\/\S+$/.test(url) || url.length > 2048) throw invalid(`Invalid check: HTTP "${url}" must be an http:// or https:// URL without spaces`);
  return url;
}

function tcpTarget(target: string): string {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(target)) throw invalid(`Invalid check: TCP "${target}" must be HOST:PORT`);
  return target;
}
