// Every default and limit of Signpost lives here, once. The CLI, the HTTP schemas,
// the registry and the README's flag table all read these values.

export interface SignpostConfig {
  /** DNS listener, UDP and TCP on the same address. Port 0 picks a free port. */
  dns: HostPort;
  /** HTTP listener. Port 0 picks a free port. */
  http: HostPort;
  /** The zone Signpost is authoritative for, without the trailing dot, lower case. */
  domain: string;
  /** Where the durable store keeps its files. */
  dataDir: string;
  /** TTL of every positive answer and of negative caching (the SOA minimum), in seconds. */
  dnsTtl: number;
  /** How long an expired (critical) instance is kept, visible in the API, before it is deleted, in seconds. */
  gracePeriod: number;
  /** pino log level. */
  logLevel: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export const DEFAULTS = {
  dns: '127.0.0.1:8600',
  http: '127.0.0.1:8500',
  domain: 'local',
  dataDir: './data',
  dnsTtl: 5,
  gracePeriod: 60,
  logLevel: 'info',
} as const;

/** Ranges and sizes enforced on registrations (HTTP schemas and registry alike). */
export const LIMITS = {
  port: { min: 1, max: 65535 },
  weight: { min: 0, max: 65535, default: 100 },
  priority: { min: 0, max: 65535, default: 0 },
  ttl: { min: 1, max: 86400, default: 15 },
  tagsPerInstance: 64,
  metaEntries: 64,
  metaKeyLength: 64,
  /** A meta entry is published as one TXT string `key=value`, and a TXT string holds at most 255 bytes. */
  metaEntryBytes: 255,
  /** HTTP request bodies above this get 413. */
  httpBodyBytes: 64 * 1024,
} as const;

/** DNS transport sizes (RFC 1035, RFC 6891, and the 2020 DNS flag day's 1232-byte EDNS buffer). */
export const DNS_LIMITS = {
  classicUdpBytes: 512,
  maxEdnsUdpBytes: 1232,
  maxTcpMessageBytes: 65535,
  /** A few MB so bursts are not dropped by the kernel before Node reads them (default 208 KiB loses queries under load). */
  udpReceiveBufferBytes: 4 * 1024 * 1024,
  tcpIdleTimeoutMs: 10_000,
  /** A message that started arriving must be complete within this, or the connection is closed (slowloris). */
  tcpMessageDeadlineMs: 5_000,
  tcpMaxConnections: 1024,
} as const;

/** A DNS label: what service names, instance ids and tags must be. Matched case-insensitively, stored lower case. */
export const LABEL_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';
const LABEL_RE = new RegExp(LABEL_PATTERN);

export function isLabel(value: string): boolean {
  return LABEL_RE.test(value);
}

/** Parses `HOST:PORT`, `[V6]:PORT`. Throws with a message naming the flag. */
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

/** Normalises a zone name: lower case, no trailing dot, each part a DNS label. */
export function parseDomain(value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, '');
  if (!domain || !domain.split('.').every(isLabel) || domain.length > 200) {
    throw new Error(`--domain: "${value}" is not a domain name made of DNS labels`);
  }
  return domain;
}

export function resolveConfig(partial: Partial<SignpostConfig> = {}): SignpostConfig {
  return {
    dns: partial.dns ?? parseHostPort(DEFAULTS.dns, '--dns'),
    http: partial.http ?? parseHostPort(DEFAULTS.http, '--http'),
    domain: parseDomain(partial.domain ?? DEFAULTS.domain),
    dataDir: partial.dataDir ?? DEFAULTS.dataDir,
    dnsTtl: partial.dnsTtl ?? DEFAULTS.dnsTtl,
    gracePeriod: partial.gracePeriod ?? DEFAULTS.gracePeriod,
    logLevel: partial.logLevel ?? DEFAULTS.logLevel,
  };
}
