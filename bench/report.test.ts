import test from 'ava';
import { Results, Samples, SampleTimeout, formatRow } from './report.ts';

test('a failed or timed-out sample is counted and is slower than any success in a percentile', async (t) => {
  const s = new Samples();
  for (const ms of [10, 20, 30, 40, 50, 60, 70, 80, 90]) s.ok(ms);
  await s.time(() => Promise.reject(new Error('ADD failed')));
  t.deepEqual(s.counts(), { total: 10, failed: 1, timedOut: 0 });
  t.is(s.percentile(50), 50);
  t.is(s.percentile(90), 90);
  t.is(s.percentile(99), Infinity);
  s.fail(new SampleTimeout('remote IP', 1000));
  t.deepEqual(s.counts(), { total: 11, failed: 1, timedOut: 1 });
  t.regex(s.describeErrors(), /1× ADD failed; 1× remote IP: no result within 1000 ms/);
});

test('an empty sample set has no percentile rather than a made-up one', (t) => {
  t.true(Number.isNaN(new Samples().percentile(50)));
});

test('a row carries the ratio, whether its target was met in its direction, and the load', (t) => {
  const results = new Results();
  const lower = results.row({
    job: 'time',
    unit: 'ms',
    ours: 30,
    baseline: 20,
    baselineName: 'raw',
    target: 1.5,
  });
  t.is(lower.ratio, 1.5);
  t.true(lower.met);
  const higher = results.row({
    job: 'throughput',
    unit: 'Gbit/s',
    ours: 4,
    baseline: 5,
    baselineName: 'one NORMAL flow',
    better: 'higher',
    target: 0.9,
  });
  t.false(higher.met);
  t.true(higher.load.cpuBusyPercent >= 0 && higher.load.cpuBusyPercent <= 100);
  t.regex(formatRow(higher), /target ≥0\.9 NOT met/);
  const json = results.toJson({ smoke: true, args: [] }) as {
    rows: unknown[];
    machine: { cpus: number };
  };
  t.is(json.rows.length, 2);
  t.true(json.machine.cpus > 0);
});
