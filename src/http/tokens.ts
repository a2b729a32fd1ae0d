// Bearer tokens: who may write which services, and who may read.
//
// A token file holds one token a line: `TOKEN service-glob[,service-glob…]` gives write rights
// (and read) on the services matching any glob (`*`, `pay*`, `web-?`); `TOKEN read` may only
// read. Blank lines and lines starting with `#` are ignored. Tokens are kept only as SHA-256
// digests and compared in constant time (the digest of the presented token against every
// configured digest, all of them, every time), so neither a token's bytes nor its length leak
// through timing. Tokens never appear in errors or logs: a bad line is named by its number.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ABUSE_LIMITS } from '../config/limits.ts';
import { reasonOf } from '../lib/system-errors.ts';

/** What one token may do. */
export interface Grant {
  /** Globs of the services it may write; empty for a `read` token. */
  services: readonly string[];
  /** Compiled `services`. */
  matchers: readonly RegExp[];
}

interface Entry {
  digest: Buffer;
  grant: Grant;
}

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A service-name glob: `*` any run of characters, `?` one; everything else literal, case-insensitive. */
const GLOB_RE = /^[A-Za-z0-9*?-]+$/;

function compileGlob(glob: string): RegExp {
  const body = glob.replace(/[*?]/g, (wildcard) => (wildcard === '*' ? '.*' : '.'));
  return new RegExp(`^${body}$`, 'i');
}

export class TokenSet {
  readonly #entries: readonly Entry[];

  constructor(entries: readonly Entry[]) {
    this.#entries = entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The grant of `token`, or null when no configured token matches. Constant time in the token's content. */
  lookup(token: string): Grant | null {
    const digest = digestOf(token);
    let found: Grant | null = null;
    // No early exit: every comparison is made whatever matched, so timing says nothing about which.
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.grant;
    }
    return found;
  }
}

/** May `grant` write `service` (lower case)? */
export function canWrite(grant: Grant, service: string): boolean {
  return grant.matchers.some((matcher) => matcher.test(service));
}

/** Parses a token file's text. Throws naming the line (never its token) on a malformed one. */
export function parseTokens(text: string, source = 'token file'): TokenSet {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source}, line ${index + 1}`;
    const [token, scopes, ...extra] = line.split(/\s+/);
    if (scopes === undefined) throw new Error(`${where}: expected "TOKEN service-glob[,service-glob…]" or "TOKEN read"`);
    if (extra.length > 0) throw new Error(`${where}: expected two fields (the token and its rights), found ${extra.length + 2}; write globs comma-separated without spaces`);
    if (token.length < ABUSE_LIMITS.minTokenLength) throw new Error(`${where}: the token is shorter than ${ABUSE_LIMITS.minTokenLength} characters`);
    const hex = digestOf(token).toString('hex');
    if (seen.has(hex)) throw new Error(`${where}: the same token appears on an earlier line`);
    seen.add(hex);
    let services: string[] = [];
    if (scopes.toLowerCase() !== 'read') {
      services = scopes.split(',').filter((glob) => glob !== '');
      const bad = services.find((glob) => !GLOB_RE.test(glob) || glob.toLowerCase() === 'read');
      if (services.length === 0 || bad !== undefined) {
        throw new Error(`${where}: "${bad ?? scopes}" is not a service glob (letters, digits, -, * and ?) nor "read"`);
      }
    }
    entries.push({ digest: digestOf(token), grant: { services, matchers: services.map(compileGlob) } });
  });
  return new TokenSet(entries);
}

/** Reads and parses a token file. Throws (with the path, never a token) when it cannot. */
export function loadTokenFile(file: string): TokenSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`--token-file ${file}: cannot read it: ${reasonOf(error)}`);
  }
  return parseTokens(text, file);
}
