/**
 * `npm run bench [-- --smoke] [-- --json FILE] [-- name...]`: runs every
 * bench/<name>/index.ts (each exports `run({ smoke })` and records its rows,
 * each against a baseline measured in the same run, through
 * bench/report.ts). Ends with every row in one table: ratio, absolute
 * figures, failed and timed-out samples, and the machine's load while the
 * row was measured. `--json FILE` writes the same figures, with the commit
 * and the machine, for `npx tsx bench/compare.ts OLD.json NEW.json`.
 * CI runs the smoke pass only.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatCounts, results } from './report.ts';

interface Benchmark {
  run(options: { smoke: boolean }): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const { values, positionals: only } = parseArgs({
  args,
  options: { smoke: { type: 'boolean', default: false }, json: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
const smoke = values.smoke ?? false;
const names = (await readdir(here, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && (only.length === 0 || only.includes(entry.name)))
  .map((entry) => entry.name)
  .sort();
const unknown = only.filter((name) => !names.includes(name));
if (unknown.length > 0) {
  console.error(`no benchmark named ${unknown.join(', ')} (have: bench/*/index.ts)`);
  process.exit(2);
}

let failed = 0;
for (const name of names) {
  console.log(`\n=== bench/${name}${smoke ? ' (smoke)' : ''}`);
  results.beginBench(name);
  try {
    const bench = (await import(
      pathToFileURL(path.join(here, name, 'index.ts')).href
    )) as Benchmark;
    await bench.run({ smoke });
    const run = results.endBench();
    console.log(`=== bench/${name} done in ${run.seconds}s`);
  } catch (error) {
    failed++;
    results.endBench(error);
    console.error(`=== bench/${name} failed:`, error);
  }
}

console.log(`\n=== summary${smoke ? ' (smoke)' : ''}: ratio = ours / same-run baseline`);
for (const row of results.rows) {
  const target =
    row.target === undefined
      ? ''
      : ` target ${row.better === 'lower' ? '≤' : '≥'}${row.target} ${row.met ? 'met' : 'NOT met'}`;
  const samples = row.samples ? ` (${formatCounts(row.samples)})` : '';
  console.log(
    `  ${row.bench.padEnd(10)} ${row.job.padEnd(52)} ×${row.ratio.toFixed(2)}${target}${samples}  load ≤${row.load.loadAvg1Max.toFixed(1)}, CPU ${row.load.cpuBusyPercent}% busy`,
  );
}
for (const run of results.benches.filter((b) => !b.ok))
  console.log(`  ${run.name.padEnd(10)} FAILED after ${run.seconds}s: ${run.error ?? ''}`);

if (values.json) {
  await writeFile(values.json, JSON.stringify(results.toJson({ smoke, args }), null, 2) + '\n');
  console.log(`figures written to ${values.json}`);
}
process.exit(failed > 0 ? 1 : 0);
