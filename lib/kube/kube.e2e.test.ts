/**
 * The kube layer against the real control plane: server-side apply with a
 * named field manager, an informer that survives its API server being
 * stopped and started, and Lease leader election handing over.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';
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

/**
 * A TCP relay to the API server that can stall: while stalled, bytes in
 * either direction are held, as on a dead network path. Connections stay
 * open, so a request hangs until its own deadline aborts it.
 */
async function stallableRelay(
  target: URL,
): Promise<{ url: string; stall: () => void; close: () => void }> {
  const sockets = new Set<net.Socket>();
  let stalled = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk);
      });
    relay(client, upstream);
    relay(upstream, client);
    for (const socket of [client, upstream])
      socket
        .on('error', () => {})
        .on('close', () => {
          client.destroy();
          upstream.destroy();
        });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    stall: () => {
      stalled = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test('leader election: a leader whose renewals hang stops at the renew deadline, before the standby takes over', async (t) => {
  const cluster = await testCluster();
  const direct = await testClient();
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  const server = new URL(config.getCurrentCluster()!.server);
  const relay = await stallableRelay(server);
  const relayed = new KubeConfig();
  relayed.loadFromString(
    (await readFile(cluster.kubeconfig, 'utf8')).replaceAll(server.origin, relay.url),
  );
  const lease = uniqueName('lease');
  const periods: { identity: string; from: number; to?: number }[] = [];
  const makeElector = (client: KubeClient, identity: string) =>
    new LeaderElector(client, {
      namespace,
      name: lease,
      identity,
      leaseDurationSeconds: 3,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      onStartedLeading: async (signal) => {
        const period: { identity: string; from: number; to?: number } = {
          identity,
          from: performance.now(),
        };
        periods.push(period);
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        period.to = performance.now();
      },
    });
  const relayedClient = new KubeClient(relayed);
  const first = makeElector(relayedClient, 'first').start();
  await eventually(async () => first.isLeader(), 'the first candidate to lead', 20_000, 50);
  const second = makeElector(direct, 'second').start();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.false(second.isLeader(), 'a standby must not lead while the lease is held');

  relay.stall(); // the leader's connection to the API server stops carrying anything
  const stalledAt = performance.now();
  await eventually(async () => !first.isLeader(), 'the stalled leader to step down', 10_000, 20);
  const steppedDown = performance.now() - stalledAt;
  await eventually(async () => second.isLeader(), 'the standby to take over', 20_000, 50);
  const handover = performance.now() - stalledAt;
  t.log(
    `stalled leader stepped down after ${Math.round(steppedDown)} ms, standby led after ${Math.round(handover)} ms (3 s lease, 2 s renew deadline)`,
  );
  // The last renewal before the stall started at most one retry period earlier.
  t.true(
    steppedDown <= 2000 + 500,
    'stepped down by the renew deadline, not the 30 s request timeout',
  );
  const [firstTerm, secondTerm] = periods;
  t.is(firstTerm?.identity, 'first');
  t.is(secondTerm?.identity, 'second');
  t.true(firstTerm!.to! < secondTerm!.from, 'the old term ended before the new one began');

  relay.close();
  relayedClient.close();
  await second.stop();
  await first.stop();
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

test('a write guard refuses a write before it is sent and lets reads through', async (t) => {
  const client = await testClient();
  const name = uniqueName('fenced');
  let leading = true;
  const guarded = client.withWriteGuard(() => {
    if (!leading) throw new Error('term ran out');
  });
  t.teardown(() => guarded.close());
  const sent: string[] = [];
  client.onRequest = (method) => sent.push(method);
  await guarded.apply(configMap(name, { a: '1' }), { fieldManager: 'aci-operator' });
  leading = false;
  sent.length = 0;
  await t.throwsAsync(
    guarded.apply(configMap(name, { a: '2' }), { fieldManager: 'aci-operator' }),
    {
      message: 'term ran out',
    },
  );
  await t.throwsAsync(guarded.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name }), {
    message: 'term ran out',
  });
  t.deepEqual(sent, [], 'a refused write is never counted as sent');
  const current = await guarded.read<ConfigMap>({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace,
    name,
  });
  t.deepEqual(current?.data, { a: '1' }, 'the refused apply changed nothing');
});

test('a write guard is checked again when the socket can carry the write', async (t) => {
  const client = await testClient();
  const name = uniqueName('fenced-late');
  let leading = true;
  let pauseAfterNextCheck = false;
  // The term runs out between the request being made and its socket being ready, as when the
  // process is paused while the request waits for a pooled connection.
  const guarded = client.withWriteGuard(() => {
    if (!leading) throw new Error('term ran out');
    if (pauseAfterNextCheck) leading = false;
  });
  t.teardown(() => guarded.close());
  await guarded.apply(configMap(name, { a: '1' }), { fieldManager: 'aci-operator' });
  for (const reuse of [true, false]) {
    if (!reuse) guarded.close();
    leading = true;
    pauseAfterNextCheck = true;
    await t.throwsAsync(
      guarded.apply(configMap(name, { a: '2' }), { fieldManager: 'aci-operator' }),
      { message: 'term ran out' },
      reuse ? 'on a pooled connection' : 'on a new connection',
    );
    pauseAfterNextCheck = false;
  }
  const current = await client.read<ConfigMap>({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace,
    name,
  });
  t.deepEqual(current?.data, { a: '1' }, 'neither refused apply reached the API server');
});
