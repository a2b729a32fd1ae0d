// Start-up from the data directory alone: how long `signpost serve` takes to be ready, and its RSS
// then, for a registry of 10,000 to 1,000,000 instances in services of 100 and of 1,000 (the
// embedded SQLite store). The Growth table of `npm run bench:scale` measures the same start-up once
// among everything else; this runs only it, several times, from data directories it can keep.
//
//   npm run bench:startup                                  every size, both shapes, 3 starts each
//   npm run bench:startup -- --keep DIR                    data directories written once into DIR and kept
//   npm run bench:startup -- --write                       also put the table into BENCHMARKS.md
//
// SCALE_SIZES (default 10000,100000,1000000), SCALE_SHAPES (instances per service, default 100,1000),
// STARTUP_RUNS (starts per size, default 3; the median is reported). A kept directory is reused when
// its instance count matches (written by `populate`, as bench:scale writes it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, NODE, cpuTicks, markdownTable, median, positiveInteger, stop, stopAll, stopAllAndRemove, stopOnInterrupt, textTable, writeSection } from './lib.ts';
import { launchSignpost, populate, rssBytes } from './scale-lib.ts';

const SECTION_HEADING = '## Scale: start-up';
const SIZES = (process.env.SCALE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const SHAPES = (process.env.SCALE_SHAPES ?? '100,1000').split(',').map(Number);
const RUNS = positiveInteger('STARTUP_RUNS', 3);
const WRITE = process.argv.includes('--write');
const keepAt = process.argv.indexOf('--keep');
const KEEP = keepAt >= 0 ? path.resolve(process.argv[keepAt + 1]) : undefined;
/** Lease of the written instances: longer than any run, so none lapses while measured. */
const TTL = 86400;

const root = KEEP ?? mkdtempSync(path.join(os.tmpdir(), 'signpost-bench-startup-'));
mkdirSync(root, { recursive: true });

interface Row {
  instances: number;
  perService: number;
  startupS: number[];
  rssReady: number[];
  /** CPU seconds at the ready line: every thread (main, database worker, GC helpers), and the main thread alone. */
  cpuS: number[];
  mainCpuS: number[];
}

/** The data directory of one size and shape, written unless a kept one already holds it. */
async function dataDir(instances: number, perService: number): Promise<string> {
  const dir = path.join(root, `startup-${instances}-${perService}`);
  const marker = path.join(dir, 'instances');
  if (existsSync(marker) && Number(readFileSync(marker, 'utf8')) === instances) return dir;
  rmSync(dir, { recursive: true, force: true });
  console.log(`writing ${instances.toLocaleString('en')} instances (${instances / perService} × ${perService})...`);
  const seconds = await populate(dir, instances / perService, perService, TTL);
  console.log(`  written in ${seconds.toFixed(1)} s`);
  writeFileSync(marker, String(instances));
  return dir;
}

async function measure(dir: string, name: string): Promise<{ startupS: number; rss: number; cpuS: number; mainCpuS: number }> {
  const server = await launchSignpost(name, ['--data-dir', dir]);
  const rss = rssBytes(server.pid);
  const cpuS = cpuTicks(server.pid) / CLOCK_TICKS_PER_SECOND;
  // The main thread is the task whose id is the process id.
  const mainCpuS = cpuTicks(`${server.pid}/task/${server.pid}`) / CLOCK_TICKS_PER_SECOND;
  await stop(server.child);
  return { startupS: server.readyMs / 1000, rss, cpuS, mainCpuS };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const emptyDir = path.join(root, 'startup-empty');
  rmSync(emptyDir, { recursive: true, force: true });
  mkdirSync(emptyDir);
  const empty = await measure(emptyDir, 'Signpost empty');
  console.log(`empty server: ready in ${empty.startupS.toFixed(2)} s, RSS ${mib(empty.rss)} MiB`);
  const rows: Row[] = [];
  for (const perService of SHAPES) {
    for (const instances of SIZES) {
      if (instances < perService) continue;
      const dir = await dataDir(instances, perService);
      const row: Row = { instances, perService, startupS: [], rssReady: [], cpuS: [], mainCpuS: [] };
      for (let run = 0; run < RUNS; run++) {
        const { startupS, rss, cpuS, mainCpuS } = await measure(dir, `Signpost ${instances}`);
        row.startupS.push(startupS);
        row.rssReady.push(rss);
        row.cpuS.push(cpuS);
        row.mainCpuS.push(mainCpuS);
        console.log(
          `${fixed(instances)} (${fixed(instances / perService)} × ${fixed(perService)}) run ${run + 1}: ready in ${startupS.toFixed(2)} s, ` +
            `CPU ${cpuS.toFixed(2)} s (main thread ${mainCpuS.toFixed(2)} s), RSS ${mib(rss)} MiB`,
        );
      }
      rows.push(row);
    }
  }
  const loadAfter = os.loadavg();
  const header = ['instances', 'services × size', 'start-up s (median; runs)', 'CPU s at ready: all threads / main thread (medians)', 'RSS ready MiB (median)', 'bytes/instance over empty'];
  const tableRows = rows.map((row) => [
    fixed(row.instances),
    `${fixed(row.instances / row.perService)} × ${fixed(row.perService)}`,
    `${fixed(median(row.startupS), 2)} (${row.startupS.map((s) => s.toFixed(2)).join(', ')})`,
    `${fixed(median(row.cpuS), 2)} / ${fixed(median(row.mainCpuS), 2)}`,
    mib(median(row.rssReady)),
    fixed((median(row.rssReady) - empty.rss) / row.instances),
  ]);
  console.log('\n' + textTable(header, tableRows));
  const load = `load average ${loadBefore[0].toFixed(2)} before, ${loadAfter[0].toFixed(2)} after (1 min)`;
  console.log(load);
  if (WRITE) {
    const command = [process.env.SCALE_SIZES && `SCALE_SIZES=${SIZES.join(',')}`, process.env.SCALE_SHAPES && `SCALE_SHAPES=${SHAPES.join(',')}`, process.env.STARTUP_RUNS && `STARTUP_RUNS=${RUNS}`, 'npm run bench:startup']
      .filter(Boolean)
      .join(' ');
    writeSection(
      SECTION_HEADING,
      [
        SECTION_HEADING,
        '',
        `Command: \`${command}\` (\`-- --write\` rewrites this section). Date: ${new Date().toISOString().slice(0, 10)}. ` +
          `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}; ${load}.`,
        '',
        `Start-up: spawn of \`signpost serve --data-dir DIR\` to its ready line, the data directory written beforehand through the store ` +
          `(as bench:scale writes it: a unique address, a tag and two meta entries per instance). RSS at the ready line; an empty server: ` +
          `${mib(empty.rss)} MiB, ready in ${empty.startupS.toFixed(2)} s. CPU: the server's CPU time at the ready line (\`/proc\`), ` +
          'less sensitive than the start-up time to what else the machine runs.',
        '',
        markdownTable(header, tableRows),
        '',
      ].join('\n'),
    );
    console.log(`\nwrote "${SECTION_HEADING}" in BENCHMARKS.md`);
  }
}

stopOnInterrupt(() => (KEEP ? stopAll() : stopAllAndRemove(root)));

try {
  await main();
} catch (error) {
  console.error(`bench: ${(error as Error).stack}`);
  process.exitCode = 1;
} finally {
  if (KEEP) await stopAll();
  else await stopAllAndRemove(root);
}
