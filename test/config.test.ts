// The one declaration of the flags (src/config/flags.ts) and what is derived from it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaults, envName, flagName, FLAGS, resolveConfig, type FlagKey } from '../src/config/flags.ts';
import { parseDuration, parseRecursors } from '../src/config/parse.ts';
import { flagTable, withFlagTable } from '../src/config/readme.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('flags', () => {
  it("README.md's flag table is the one the declaration renders (run `npm run docs` after changing a flag)", () => {
    expect(withFlagTable(readme)).toBe(readme);
    for (const key of Object.keys(FLAGS) as FlagKey[]) expect(flagTable()).toContain(`\`${flagName(key)}`);
  });

  it('derives each flag and environment variable from its config key', () => {
    expect(flagName('dataDir')).toBe('--data-dir');
    expect(envName(flagName('dataDir'))).toBe('SIGNPOST_DATA_DIR');
    expect(flagName('recursors')).toBe('--recursor');
    expect(envName('--no-recursion')).toBe('SIGNPOST_NO_RECURSION');
  });

  it('every default parses, and the library defaults differ only where embedding code must opt in', () => {
    const cli = defaults('cli');
    const library = defaults('library');
    expect(cli.store).toBe('sqlite');
    expect(library.store).toBe('memory');
    expect(cli.recursors).toBe('resolv.conf');
    expect(library.recursors).toBe('off');
    expect(cli.tokenFile).toBeUndefined();
    const differing = (Object.keys(FLAGS) as FlagKey[]).filter((key) => JSON.stringify(cli[key]) !== JSON.stringify(library[key]));
    expect(differing.sort()).toEqual(['recursors', 'store']);
    expect(cli.forwardTimeout).toBe(2000);
    expect(cli.dns).toEqual({ host: '127.0.0.1', port: 8600 });
  });

  it('resolveConfig fills what is not given and normalises the zone', () => {
    const config = resolveConfig({ domain: 'Corp.Internal.', dnsTtl: 30 });
    expect(config.domain).toBe('corp.internal');
    expect(config.dnsTtl).toBe(30);
    expect(config.gracePeriod).toBe(defaults('library').gracePeriod);
  });

  it('--recursor repeats and takes comma-separated lists', () => {
    const first = parseRecursors('10.0.0.2', '--recursor', 'resolv.conf');
    expect(parseRecursors('10.0.0.3:5353,[::1]:53', '--recursor', first)).toEqual([
      { host: '10.0.0.2', port: 53 },
      { host: '10.0.0.3', port: 5353 },
      { host: '::1', port: 53 },
    ]);
    expect(() => FLAGS.recursors.parse('example.com', '--recursor')).toThrow(/--recursor: expected an IP address/);
  });

  it('bad values are refused with a message naming the flag', () => {
    expect(() => FLAGS.dnsTtl.parse('-3', '--dns-ttl')).toThrow(/--dns-ttl: expected a whole number from 0 to 86400/);
    expect(() => FLAGS.logLevel.parse('loud', '--log-level')).toThrow(/--log-level: expected one of fatal, error/);
    expect(() => parseDuration('2 minutes', '--forward-timeout')).toThrow(/--forward-timeout/);
    expect(() => FLAGS.store.parse('redis', '--store')).toThrow(/--store: expected one of sqlite, memory or etcd/);
  });
});
