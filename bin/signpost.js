#!/usr/bin/env node
// Entry point for `npx signpost`; npm puts the project's Node 24 (the `node` devDependency) first on PATH.
import '../src/cli.ts';
