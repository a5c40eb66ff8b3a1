/**
 * `npm run bench [-- --smoke] [-- name...]`: runs every bench/<name>/index.ts
 * (each exports `run({ smoke })` and prints its own ratios against a
 * baseline measured in the same run). CI runs the smoke pass only.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Benchmark {
  run(options: { smoke: boolean }): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const only = args.filter((a) => !a.startsWith('--'));
const names = (await readdir(here, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && (only.length === 0 || only.includes(entry.name)))
  .map((entry) => entry.name)
  .sort();

let failed = 0;
for (const name of names) {
  const started = Date.now();
  console.log(`\n=== bench/${name}${smoke ? ' (smoke)' : ''}`);
  try {
    const bench = (await import(
      pathToFileURL(path.join(here, name, 'index.ts')).href
    )) as Benchmark;
    await bench.run({ smoke });
    console.log(`=== bench/${name} done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (error) {
    failed++;
    console.error(`=== bench/${name} failed:`, error);
  }
}
process.exit(failed > 0 ? 1 : 0);
