// The package's version and what the parts of the command need of Node.
import { readFileSync } from 'node:fs';

/** From package.json, two levels up from src/cli/ and from dist/cli/ alike. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `signpost --version`: the version and the Node it runs on. */
export const VERSION_LINE = `signpost ${VERSION} (Node ${process.version})`;

/** The server needs node:sqlite without a flag (Node 22.13) and dns2 (Node 22); the client verbs run on Node 20. */
export const SERVER_NODE = { major: 22, minor: 13 } as const;

/** Null when this Node can run the server, else the one line that says why not. */
export function serverNodeProblem(version = process.versions.node): string | null {
  const [major, minor] = version.split('.').map(Number);
  if (major > SERVER_NODE.major || (major === SERVER_NODE.major && minor >= SERVER_NODE.minor)) return null;
  return `signpost: the server needs Node ${SERVER_NODE.major}.${SERVER_NODE.minor} or newer; this is Node v${version} (the client and the other commands run on Node 20)`;
}
