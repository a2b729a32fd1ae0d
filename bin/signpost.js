#!/usr/bin/env -S node --min-semi-space-size=16 --max-semi-space-size=16
// Entry point for `npx signpost`; npm puts the project's Node 24 (the `node` devDependency) first on PATH.
// The flags are NODE_FLAGS in src/config/limits.ts (why: see there).
import '../src/cli/main.ts';
