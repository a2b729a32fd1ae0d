// Writes the generated parts of README.md (the flag table, from src/config/flags.ts).
// test/config.test.ts fails when README.md is stale; run `npm run docs` after changing a flag.
import { readFileSync, writeFileSync } from 'node:fs';
import { withFlagTable } from '../src/config/readme.ts';

const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withFlagTable(before);
if (after !== before) writeFileSync(file, after);
console.log(after === before ? 'README.md is up to date' : 'README.md: flag table rewritten');
