import { readFileSync } from 'node:fs';

/**
 * Signpost's version, from its package.json: two levels up from this file, which holds for the
 * sources (src/lib/) and for JavaScript compiled beside them (dist/lib/).
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
