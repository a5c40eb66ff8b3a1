/**
 * What every benchmark reports, the same way: each row is our figure beside
 * the baseline measured in the same run, their ratio, the target the issue
 * sets, how many samples failed or timed out (counted, never dropped), and
 * how loaded the machine was while the row was measured. The machine is
 * shared (two cores, several engineers): a ratio of one run is the figure to
 * trust, the absolute numbers are there to judge it.
 *
 * `bench/run.ts --json FILE` writes every row (and the run's machine,
 * commit and load) so two runs can be compared (`bench/compare.ts`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The machine's load over a window of the run: 1-minute load average and the share of all CPUs busy. */
export interface LoadWindow {
  readonly seconds: number;
  /** Highest 1-minute load average seen in the window. */
  readonly loadAvg1Max: number;
  /** Mean share of all CPUs not idle over the window, 0..100 (everyone's work, ours included). */
  readonly cpuBusyPercent: number;
  /** CPU this benchmark process itself used over the window, as a share of all CPUs, 0..100. */
  readonly selfCpuPercent: number;
}

export interface SampleCounts {
  readonly total: number;
  readonly failed: number;
  readonly timedOut: number;
}

export interface Row {
  readonly bench: string;
  readonly job: string;
  readonly unit: string;
  readonly ours: number;
  readonly baseline: number;
  readonly baselineName: string;
  /** ours / baseline. */
  readonly ratio: number;
  /** Whether a lower ratio is better (times, memory) or a higher one (throughput). */
  readonly better: 'lower' | 'higher';
  /** The target for the ratio, if it sets one. */
  readonly target?: number;
  readonly met?: boolean;
  readonly samples?: SampleCounts;
  readonly baselineSamples?: SampleCounts;
  readonly load: LoadWindow;
  /** Other figures of the row worth keeping (request counts, flow counts, sizes). */
  readonly detail?: Readonly<Record<string, number | string>>;
}

interface CpuTimes {
  readonly at: number;
  readonly busy: number;
  readonly total: number;
  readonly load1: number;
  readonly self: number;
}

function readCpu(): CpuTimes {
  const stat = readFileSync('/proc/stat', 'utf8');
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const load1 = Number.parseFloat(readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '');
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    busy: total - idle,
    total,
    load1,
    self: (usage.user + usage.system) / 1000,
  };
}

/** A point in the run that a row's load window starts from. */
export interface Mark {
  readonly cpu: CpuTimes;
}

/** Samples of a timed operation: successes with their times, failures and timeouts counted apart. */
export class Samples {
  readonly ms: number[] = [];
  failed = 0;
  timedOut = 0;
  readonly errors = new Map<string, number>();

  ok(ms: number): void {
    this.ms.push(ms);
  }

  fail(error: unknown): void {
    if (error instanceof SampleTimeout) this.timedOut++;
    else this.failed++;
    const text = error instanceof Error ? error.message : String(error);
    const key = text.slice(0, 160);
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Times `work`; a throw is a failed sample (a SampleTimeout a timed-out one), never a lost one. */
  async time(work: () => Promise<unknown>): Promise<void> {
    const t0 = performance.now();
    try {
      await work();
      this.ok(performance.now() - t0);
    } catch (error) {
      this.fail(error);
    }
  }

  get total(): number {
    return this.ms.length + this.failed + this.timedOut;
  }

  counts(): SampleCounts {
    return { total: this.total, failed: this.failed, timedOut: this.timedOut };
  }

  /**
   * The p-th percentile over every sample, a failed or timed-out one counting
   * as slower than any success: with more failures than 100-p percent the
   * answer is Infinity, not a figure that hides them.
   */
  percentile(p: number): number {
    const n = this.total;
    if (n === 0) return NaN;
    const sorted = [...this.ms].sort((a, b) => a - b);
    const i = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
    return i < sorted.length ? (sorted[i] as number) : Infinity;
  }

  describeErrors(): string {
    return [...this.errors].map(([text, count]) => `${count}× ${text}`).join('; ');
  }
}

export class SampleTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no result within ${ms} ms`);
    this.name = 'SampleTimeout';
  }
}

export interface RowInput {
  readonly job: string;
  readonly unit: string;
  readonly ours: number;
  readonly baseline: number;
  readonly baselineName: string;
  readonly better?: 'lower' | 'higher';
  readonly target?: number;
  readonly samples?: Samples | SampleCounts;
  readonly baselineSamples?: Samples | SampleCounts;
  /** Where this row's measurement started (`results.mark()`); the bench's start if omitted. */
  readonly since?: Mark;
  readonly detail?: Readonly<Record<string, number | string>>;
}

interface BenchRun {
  readonly name: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly error?: string;
  readonly load: LoadWindow;
}

const counts = (s: Samples | SampleCounts | undefined): SampleCounts | undefined =>
  s === undefined ? undefined : s instanceof Samples ? s.counts() : s;

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  return abs >= 100 ? x.toFixed(0) : abs >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Every row of this process's run; `bench/run.ts` names the benchmark each row belongs to. */
export class Results {
  readonly rows: Row[] = [];
  readonly benches: BenchRun[] = [];
  private bench = process.argv[1]?.match(/bench\/([^/]+)\//)?.[1] ?? 'bench';
  private benchMark: Mark = this.mark();
  private readonly runMark: Mark = this.benchMark;
  /** The load average is a running figure: sampled each second so a window reports its peak, not its ends. */
  private readonly loadSamples: Array<{ at: number; load1: number }> = [];

  constructor() {
    setInterval(() => {
      const cpu = readCpu();
      this.loadSamples.push({ at: cpu.at, load1: cpu.load1 });
    }, 1000).unref();
  }

  mark(): Mark {
    return { cpu: readCpu() };
  }

  /** The load between a mark and now. */
  loadSince(mark: Mark): LoadWindow {
    const now = readCpu();
    const cores = os.availableParallelism();
    const wallMs = now.at - mark.cpu.at;
    const ticks = now.total - mark.cpu.total;
    return {
      seconds: Math.round(wallMs / 100) / 10,
      loadAvg1Max: Math.max(
        mark.cpu.load1,
        now.load1,
        ...this.loadSamples.filter((s) => s.at >= mark.cpu.at).map((s) => s.load1),
      ),
      cpuBusyPercent: ticks > 0 ? Math.round(((now.busy - mark.cpu.busy) / ticks) * 1000) / 10 : 0,
      selfCpuPercent:
        wallMs > 0 ? Math.round(((now.self - mark.cpu.self) / wallMs / cores) * 1000) / 10 : 0,
    };
  }

  beginBench(name: string): void {
    this.bench = name;
    this.benchMark = this.mark();
  }

  endBench(error?: unknown): BenchRun {
    const load = this.loadSince(this.benchMark);
    const run: BenchRun = {
      name: this.bench,
      ok: error === undefined,
      seconds: load.seconds,
      ...(error !== undefined
        ? { error: error instanceof Error ? error.message : String(error) }
        : {}),
      load,
    };
    this.benches.push(run);
    return run;
  }

  /** Records and prints one row. */
  row(input: RowInput): Row {
    const better = input.better ?? 'lower';
    const ratio = input.ours / input.baseline;
    const samples = counts(input.samples);
    const baselineSamples = counts(input.baselineSamples);
    const row: Row = {
      bench: this.bench,
      job: input.job,
      unit: input.unit,
      ours: input.ours,
      baseline: input.baseline,
      baselineName: input.baselineName,
      ratio,
      better,
      ...(input.target !== undefined
        ? {
            target: input.target,
            met: better === 'lower' ? ratio <= input.target : ratio >= input.target,
          }
        : {}),
      ...(samples ? { samples } : {}),
      ...(baselineSamples ? { baselineSamples } : {}),
      load: this.loadSince(input.since ?? this.benchMark),
      ...(input.detail ? { detail: input.detail } : {}),
    };
    this.rows.push(row);
    console.log(formatRow(row));
    const errors = [input.samples, input.baselineSamples]
      .filter((s): s is Samples => s instanceof Samples && s.errors.size > 0)
      .map((s) => s.describeErrors());
    for (const text of errors) console.log(`    failures: ${text}`);
    return row;
  }

  /** The whole run as data, for `--json`. */
  toJson(options: { smoke: boolean; args: readonly string[] }): unknown {
    return {
      date: new Date().toISOString(),
      commit: git(['rev-parse', 'HEAD']),
      dirty: git(['status', '--porcelain', '--untracked-files=no', '--', 'bench', 'agents', 'lib'])
        .split('\n')
        .filter(Boolean).length,
      smoke: options.smoke,
      args: options.args,
      machine: {
        cpus: os.availableParallelism(),
        model: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: os.release(),
        node: process.version,
      },
      load: this.loadSince(this.runMark),
      benches: this.benches,
      rows: this.rows,
    };
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

export function formatCounts(s: SampleCounts | undefined): string {
  if (!s) return '';
  return `${s.total - s.failed - s.timedOut}/${s.total} ok, ${s.failed} failed, ${s.timedOut} timed out`;
}

export function formatRow(row: Row): string {
  const target =
    row.target === undefined
      ? ''
      : `  target ${row.better === 'lower' ? '≤' : '≥'}${row.target} ${row.met ? 'met' : 'NOT met'}`;
  const samples = row.samples ? `  [ours ${formatCounts(row.samples)}]` : '';
  const baseSamples = row.baselineSamples
    ? `  [baseline ${formatCounts(row.baselineSamples)}]`
    : '';
  const load = `  load ${row.load.loadAvg1Max.toFixed(1)}, CPU ${row.load.cpuBusyPercent}% busy (${row.load.selfCpuPercent}% this process) over ${row.load.seconds}s`;
  return (
    `  ${row.job}: ${fmt(row.ours)} ${row.unit} vs ${row.baselineName} ${fmt(row.baseline)} ${row.unit}` +
    `  ratio ${fmt(row.ratio)} (${row.better} is better)${target}${samples}${baseSamples}\n   ${load}`
  );
}

/** The one collector of this process. */
export const results = new Results();
