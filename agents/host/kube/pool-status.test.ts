import test from 'ava';
import type { PoolStatusSummary } from '../ipam/index.ts';
import type { PodIPPoolObject } from './objects.ts';
import { buildPoolStatus, NeedsChunksCondition, PoolReason } from './pool-status.ts';

const pool = (status?: PodIPPoolObject['status']): PodIPPoolObject => ({
  apiVersion: 'aci.cni.dev/v1alpha1',
  kind: 'PodIPPool',
  metadata: { name: 'node-1', generation: 3 },
  spec: { chunks: ['10.2.0.0/28'], gateways: ['10.2.0.1/16'] },
  ...(status ? { status } : {}),
});

const summary = (used: number, capacity: number, needsMore = false): PoolStatusSummary => ({
  capacity,
  used,
  allocated: Array.from({ length: used }, (_, i) => `10.2.0.${20 - i}`),
  needsMore,
});

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T01:00:00Z');
const ready = (s: ReturnType<typeof buildPoolStatus>) =>
  s.conditions?.find((c) => c.type === 'Ready');

test('status carries capacity, used, sorted addresses and the observed generation', (t) => {
  const status = buildPoolStatus(summary(2, 14), pool(), 1, t0);
  t.is(status.capacity, 14);
  t.is(status.used, 2);
  t.deepEqual(status.allocated, ['10.2.0.19', '10.2.0.20']);
  t.is(status.observedGeneration, 3);
  t.like(ready(status), { status: 'True', reason: PoolReason.Available, observedGeneration: 3 });
});

const readyCases: [string, PoolStatusSummary, number, string, string][] = [
  ['no chunk yet', summary(0, 0, true), 0, 'False', PoolReason.NoChunks],
  ['every address used', summary(14, 14, true), 1, 'False', PoolReason.Exhausted],
  ['free addresses', summary(3, 14), 1, 'True', PoolReason.Available],
];
for (const [title, s, chunks, status, reason] of readyCases) {
  test(`Ready reflects ${title}`, (t) => {
    t.like(ready(buildPoolStatus(s, pool(), chunks, t0)), { status, reason });
  });
}

test('NeedsChunks tells the controller to assign another chunk', (t) => {
  const status = buildPoolStatus(summary(12, 14, true), pool(), 1, t0);
  t.like(
    status.conditions?.find((c) => c.type === NeedsChunksCondition),
    { status: 'True' },
  );
});

test('an unchanged condition keeps its transition time, so an idle agent computes the same status', (t) => {
  const first = buildPoolStatus(summary(1, 14), pool(), 1, t0);
  const second = buildPoolStatus(summary(2, 14), pool(first), 1, t1);
  t.is(ready(second)?.lastTransitionTime, ready(first)?.lastTransitionTime);
  const exhausted = buildPoolStatus(summary(14, 14, true), pool(second), 1, t1);
  t.is(ready(exhausted)?.lastTransitionTime, '2026-01-01T01:00:00Z');
});
