// The Node the server needs: node:module's findPackageJSON (22.14, the web console finds its vendor
// files with it), node:sqlite without a flag (22.13), dns2 (22). The client and the CLI's client
// commands need only Node 20; this is checked where the server starts.
export const SERVER_NODE = { major: 22, minor: 14 } as const;

/** Null when this Node can run the server, else why not, in one sentence. */
export function serverNodeProblem(version = process.versions.node): string | null {
  const [major, minor] = version.split('.').map(Number);
  if (major > SERVER_NODE.major || (major === SERVER_NODE.major && minor >= SERVER_NODE.minor)) return null;
  return `the Signpost server needs Node ${SERVER_NODE.major}.${SERVER_NODE.minor} or newer; this is Node v${version} (the client runs on Node 20)`;
}
