// `npm run build` (and `prepack`, so a packed tarball always holds a fresh build): the package's
// dist/, compiled from src/ afresh (nothing left from an earlier build), and the web console's
// files, which the compiler does not copy, beside the compiled plugin that serves them.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ASSET_DIRECTORY } from '../src/ui/plugin.ts';

const root = new URL('../', import.meta.url);
rmSync(new URL('dist/', root), { recursive: true, force: true });
execFileSync(fileURLToPath(new URL('node_modules/.bin/tsc', root)), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
cpSync(ASSET_DIRECTORY, new URL('dist/ui/assets/', root), { recursive: true });
