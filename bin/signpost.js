#!/usr/bin/env -S node --min-semi-space-size=16 --max-semi-space-size=16
// The `signpost` command (`npx signpost`). The flags are NODE_FLAGS in src/config/limits.ts (why: see there).
// Plain JavaScript that any Node parses, importing nothing before it has checked that this Node
// can run the command: the client commands need Node 20, `serve` says itself what it needs.
// In the repository the TypeScript sources run directly (npm and npx put the project's Node 24
// first on PATH); an installed package has only the compiled dist/.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (!(major >= 20)) {
  process.stderr.write('signpost: needs Node 20 or newer; this is Node ' + process.version + '\n');
  process.exit(1);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source) && !process.features.typescript) {
  process.stderr.write('signpost: the sources need a Node that runs TypeScript (this is ' + process.version + '): run `npx signpost`, which uses the project\'s Node 24\n');
  process.exit(1);
}
await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
