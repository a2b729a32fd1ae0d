// The package's version, as `signpost --version` prints it.
import { readFileSync } from 'node:fs';

/** From package.json, two levels up from src/cli/ and from dist/cli/ alike. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `signpost --version`: the version and the Node it runs on. */
export const VERSION_LINE = `signpost ${VERSION} (Node ${process.version})`;
