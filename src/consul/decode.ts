// Reading request bodies as Consul's decoder (Go's encoding/json) does: field names match
// case-insensitively, a few snake_case aliases are accepted, and durations are Go durations.
import { decodeFailed } from './errors.ts';

interface ObjectSchema {
  properties?: Record<string, Schema>;
}
interface Schema extends ObjectSchema {
  items?: Schema;
}

/** snake_case names Consul's structs also accept (their `alias` tags), lower-cased. */
const ALIASES: Record<string, string> = {
  tagged_addresses: 'TaggedAddresses',
  enable_tag_override: 'EnableTagOverride',
  deregister_critical_service_after: 'DeregisterCriticalServiceAfter',
  script_args: 'ScriptArgs',
  args: 'ScriptArgs',
  tls_server_name: 'TLSServerName',
  tls_skip_verify: 'TLSSkipVerify',
  docker_container_id: 'DockerContainerID',
  service_id: 'ServiceID',
  success_before_passing: 'SuccessBeforePassing',
  failures_before_warning: 'FailuresBeforeWarning',
  failures_before_critical: 'FailuresBeforeCritical',
  output_max_size: 'OutputMaxSize',
  grpc_use_tls: 'GRPCUseTLS',
  h2ping_use_tls: 'H2PingUseTLS',
  disable_redirects: 'DisableRedirects',
};

const lookups = new WeakMap<ObjectSchema, Map<string, string>>();

/** The schema's property names by lower-cased name and alias. */
function lookupOf(schema: ObjectSchema): Map<string, string> {
  let lookup = lookups.get(schema);
  if (!lookup) {
    lookup = new Map();
    const names = Object.keys(schema.properties ?? {});
    for (const name of names) lookup.set(name.toLowerCase(), name);
    for (const [alias, name] of Object.entries(ALIASES)) if (names.includes(name)) lookup.set(alias, name);
    lookups.set(schema, lookup);
  }
  return lookup;
}

/**
 * `value` with every object key that names one of the schema's properties case-insensitively (or
 * by alias) renamed to the property's own name, recursively; other keys are left for the schema
 * to refuse. Maps (`Meta`, `Header`: schemas without properties) keep their keys.
 */
export function canonicalKeys(value: unknown, given: object): unknown {
  const schema = given as Schema;
  if (Array.isArray(value)) return schema.items ? value.map((item) => canonicalKeys(item, schema.items!)) : value;
  if (value === null || typeof value !== 'object' || !schema.properties) return value;
  const lookup = lookupOf(schema);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const name = lookup.get(key.toLowerCase()) ?? key;
    if (name in out) throw decodeFailed(`json: duplicate field "${name}"`);
    out[name] = canonicalKeys(item, schema.properties[name] ?? {});
  }
  return out;
}

const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const GO_DURATION = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;

/** A Go duration (`15s`, `1m30s`, `120000ms`, `0`) in seconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  let rest = text;
  let seconds = 0;
  if (rest === '') return undefined;
  while (rest !== '') {
    const match = GO_DURATION.exec(rest);
    if (!match || match[1] === '' || match[1] === '.') return undefined;
    seconds += Number(match[1]) * GO_UNITS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return seconds;
}

/** A duration field of a body: a Go duration string or a number of nanoseconds, in seconds. */
export function durationField(value: string | number | null | undefined, field: string): number {
  if (value === null || value === undefined || value === '') return 0;
  if (typeof value === 'number') return value / 1e9;
  const seconds = parseGoDuration(value);
  if (seconds === undefined) throw decodeFailed(`${field}: time: invalid duration "${value}"`);
  return seconds;
}

/** Go's time.Duration.String() of `seconds`, as Consul renders check intervals: `10s`, `1m30s`, `500ms`; "" for 0. */
export function formatGoDuration(seconds: number): string {
  if (seconds === 0) return '';
  if (seconds < 1) return `${Math.round(seconds * 1000 * 1000) / 1000}ms`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = Math.round((seconds % 60) * 1000) / 1000;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}
