/**
 * `npx tsx bench/compare.ts OLD.json NEW.json`: the rows of two
 * `npm run bench -- --json` runs side by side, matched by benchmark and job.
 * Compares ratios (each against its own run's baseline), since the absolute
 * figures of a shared machine move with its load; both loads are printed.
 */
import { readFile } from 'node:fs/promises';
import type { Row } from './report.ts';

interface Run {
  date: string;
  commit: string;
  smoke: boolean;
  load: { loadAvg1Max: number; cpuBusyPercent: number };
  rows: Row[];
}

const [oldFile, newFile] = process.argv.slice(2);
if (!oldFile || !newFile) {
  console.error('usage: npx tsx bench/compare.ts OLD.json NEW.json');
  process.exit(2);
}
const load = async (file: string): Promise<Run> => JSON.parse(await readFile(file, 'utf8')) as Run;
const [before, after] = await Promise.all([load(oldFile), load(newFile)]);
for (const [label, run] of [
  ['old', before],
  ['new', after],
] as const)
  console.log(
    `${label}: ${run.date} ${run.commit.slice(0, 12)}${run.smoke ? ' (smoke)' : ''}, load ≤${run.load.loadAvg1Max}, CPU ${run.load.cpuBusyPercent}% busy`,
  );
const key = (r: Row): string => `${r.bench} / ${r.job}`;
const olds = new Map(before.rows.map((r) => [key(r), r]));
const seen = new Set<string>();
for (const row of after.rows) {
  const old = olds.get(key(row));
  seen.add(key(row));
  const change = old
    ? row.better === 'lower'
      ? row.ratio / old.ratio
      : old.ratio / row.ratio
    : NaN;
  const verdict = !old ? 'new row' : change < 0.95 ? 'better' : change > 1.05 ? 'worse' : 'same';
  console.log(
    `  ${key(row).padEnd(60)} ×${old ? old.ratio.toFixed(2) : '-'} → ×${row.ratio.toFixed(2)}  ${verdict}` +
      `  (ours ${old ? old.ours.toFixed(1) : '-'} → ${row.ours.toFixed(1)} ${row.unit})`,
  );
}
for (const [k] of olds) if (!seen.has(k)) console.log(`  ${k.padEnd(60)} missing from the new run`);
