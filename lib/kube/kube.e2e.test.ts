/**
 * The kube layer against the real control plane: server-side apply with a
 * named field manager, an informer that survives its API server being
 * stopped and started, and Lease leader election handing over.
 */
import test from 'ava';
import { eventually, testClient, testCluster, uniqueName } from '../../e2e/support/cluster.ts';
import { KubeClient } from './client.ts';
import { Informer } from './informer.ts';
import { LeaderElector } from './leader.ts';
import type { KubeObject } from './types.ts';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const namespace = uniqueName('kube-layer');

test.before(async () => {
  const client = await testClient();
  await client.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'aci-e2e' },
  );
});

test.after.always(async () => {
  const client = await testClient();
  await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
});

function configMap(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

test('server-side apply records the named field manager and removes fields it stops sending', async (t) => {
  const client = await testClient();
  const name = uniqueName('ssa');
  await client.apply(configMap(name, { a: '1', b: '2' }), { fieldManager: 'aci-operator' });
  await client.apply(configMap(name, { c: '3' }), { fieldManager: 'someone-else' });
  const applied = await client.apply<ConfigMap>(configMap(name, { a: '1' }), {
    fieldManager: 'aci-operator',
  });
  t.deepEqual(applied.data, { a: '1', c: '3' });
  const managers = applied.metadata.managedFields?.map((m) => `${m.manager}/${m.operation}`).sort();
  t.deepEqual(managers, ['aci-operator/Apply', 'someone-else/Apply']);
  const ours = applied.metadata.managedFields?.find((m) => m.manager === 'aci-operator');
  t.deepEqual(Object.keys((ours?.fieldsV1?.['f:data'] as Record<string, unknown>) ?? {}), ['f:a']);
});

test('server-side apply reports a conflict with another manager unless forced', async (t) => {
  const client = await testClient();
  const name = uniqueName('conflict');
  await client.apply(configMap(name, { a: '1' }), { fieldManager: 'aci-operator' });
  const error = await t.throwsAsync(
    client.apply(configMap(name, { a: '2' }), { fieldManager: 'intruder' }),
  );
  t.regex(error?.message ?? '', /conflict/i);
  const forced = await client.apply<ConfigMap>(configMap(name, { a: '2' }), {
    fieldManager: 'intruder',
    force: true,
  });
  t.is(forced.data?.a, '2');
});

test.serial(
  'an informer survives an API server restart and delivers the changes made meanwhile',
  async (t) => {
    const cluster = await testCluster();
    const writer = await testClient();
    // A second API server of the same cluster, so stopping it disturbs no other test.
    const extra = await cluster.addApiServer(uniqueName('informer'));
    t.teardown(() => cluster.removeComponent(extra.component));
    const reader = KubeClient.fromFile(extra.kubeconfig);
    t.teardown(() => reader.close());

    const before = uniqueName('before');
    const changed = uniqueName('changed');
    const deleted = uniqueName('deleted');
    const created = uniqueName('created');
    for (const name of [before, changed, deleted])
      await writer.apply(configMap(name, { v: '1' }), { fieldManager: 'aci-e2e' });

    const events: string[] = [];
    const informer = new Informer<ConfigMap>(reader, 'v1', 'ConfigMap', {
      namespace,
      backoff: { initialMs: 100, maxMs: 1000 },
    }).on((event, object) =>
      events.push(`${event}:${object.metadata.name}:${object.data?.v ?? ''}`),
    );
    informer.start();
    t.teardown(() => informer.stop());
    await informer.waitForSync();
    t.truthy(informer.get(`${namespace}/${changed}`));

    await cluster.stopComponent(extra.component);
    await writer.apply(configMap(changed, { v: '2' }), { fieldManager: 'aci-e2e' });
    await writer.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: deleted });
    await writer.apply(configMap(created, { v: '1' }), { fieldManager: 'aci-e2e' });
    await cluster.startComponent(extra.component);

    await eventually(
      async () =>
        informer.get(`${namespace}/${changed}`)?.data?.v === '2' &&
        informer.get(`${namespace}/${created}`) !== undefined &&
        informer.get(`${namespace}/${deleted}`) === undefined,
      'the informer to catch up after the restart',
    );
    t.true(events.includes(`update:${changed}:2`));
    t.true(events.includes(`add:${created}:1`));
    t.true(events.some((e) => e.startsWith(`delete:${deleted}`)));
    t.truthy(informer.get(`${namespace}/${before}`));
  },
);

test('leader election: one leader at a time, and a standby takes over within the lease duration', async (t) => {
  const client = await testClient();
  const lease = uniqueName('lease');
  const leading = new Set<string>();
  let overlap = false;
  const makeElector = (identity: string) =>
    new LeaderElector(client, {
      namespace,
      name: lease,
      identity,
      leaseDurationSeconds: 3,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      onStartedLeading: async (signal) => {
        if (leading.size > 0) overlap = true;
        leading.add(identity);
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        leading.delete(identity);
      },
    });
  const first = makeElector('first').start();
  await eventually(async () => first.isLeader(), 'the first candidate to lead', 20_000, 50);
  const second = makeElector('second').start();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.false(second.isLeader(), 'a standby must not lead while the lease is held');

  // A crashed leader: it stops renewing without releasing. Simulated by freezing its renewals.
  (first as unknown as { tryAcquireOrRenew: () => Promise<boolean> }).tryAcquireOrRenew =
    async () => false;
  const stoppedAt = Date.now();
  await eventually(async () => second.isLeader(), 'the standby to take over', 20_000, 50);
  const handover = Date.now() - stoppedAt;
  t.log(`handover after ${handover} ms with a 3 s lease`);
  t.false(overlap, 'two leaders at once');
  // The standby may only take over once the lease expired, so handover is bounded below by the remaining lease and
  // above by lease + retry period; the upper bound is what the issue asks, checked with generous slack for CI load.
  t.true(handover < 3000 + 300 + 5000);

  await second.stop();
  await first.stop();
  t.is(leading.size, 0);
});

test('leader election: a leader that stops gracefully releases the lease at once', async (t) => {
  const client = await testClient();
  const lease = uniqueName('release');
  const options = {
    namespace,
    name: lease,
    leaseDurationSeconds: 60,
    renewDeadlineMs: 40_000,
    retryPeriodMs: 200,
    onStartedLeading: () => {},
  };
  const first = new LeaderElector(client, { ...options, identity: 'first' }).start();
  await eventually(async () => first.isLeader(), 'first to lead', 20_000, 50);
  const second = new LeaderElector(client, { ...options, identity: 'second' }).start();
  await first.stop();
  // With a 60 s lease, only the release lets the standby in within this deadline.
  await eventually(
    async () => second.isLeader(),
    'the standby to take over after release',
    10_000,
    50,
  );
  await second.stop();
  t.pass();
});
