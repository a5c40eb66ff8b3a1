/**
 * bench/kube: lib/kube (the project's own client and informer) against the
 * design's libraries doing the same job on the same API server in the same
 * run: @kubernetes/client-node 1.4.0 (KubernetesObjectApi server-side apply,
 * makeInformer) and kubernetes-fluent-client 3.11.6 (K8s().Apply, Watch).
 * The review asked whether lib/kube earns its place; this answers it with
 * numbers, next to the functional gaps found reading those libraries (see
 * docs/performance.md and the opening comments of lib/kube/client.ts and
 * lib/kube/informer.ts):
 *   - kubernetes-fluent-client's Apply always sends `fieldManager=pepr`: every
 *     component would share one field manager, so server-side apply could no
 *     longer tell the operator's fields from the controller's or a host
 *     agent's, which the design's one-writer-per-field rule relies on;
 *   - its Watch orders objects by `parseInt(resourceVersion)`, which the API
 *     conventions say is opaque.
 *
 * Rows: apply of N ConfigMaps (8 in flight) and the time from the first
 * create to the last add event a watch delivers for N new objects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  makeInformer,
  CoreV1Api,
  type KubernetesObject,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { Cluster } from '../../e2e/cluster/cluster.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { results, Samples, SampleTimeout } from '../report.ts';

const inFlight = 8;

function configMap(namespace: string, name: string, generation: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace },
    data: { generation: String(generation), payload: 'x'.repeat(256) },
  };
}

/** Runs `work` for 0..n-1 with `inFlight` at a time; each call is one sample. */
async function pool(n: number, work: (i: number) => Promise<unknown>): Promise<Samples> {
  const samples = new Samples();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        await samples.time(() => work(i));
      }
    }),
  );
  return samples;
}

type Applier = (object: KubeObject) => Promise<unknown>;

async function measureApply(
  name: string,
  n: number,
  namespace: string,
  apply: Applier,
): Promise<{ ms: number; samples: Samples }> {
  const t0 = performance.now();
  // Two passes: creates, then updates of every object (the steady state of a reconciler).
  const creates = await pool(n, (i) => apply(configMap(namespace, `${name}-${i}`, 1)));
  const updates = await pool(n, (i) => apply(configMap(namespace, `${name}-${i}`, 2)));
  const samples = new Samples();
  for (const s of [creates, updates]) {
    samples.ms.push(...s.ms);
    samples.failed += s.failed;
    samples.timedOut += s.timedOut;
  }
  return { ms: performance.now() - t0, samples };
}

/** Creates n objects with lib/kube and waits until `seen` reports all of them; a watch that misses one times out. */
async function measureWatch(
  client: KubeClient,
  namespace: string,
  n: number,
  start: (seen: Set<string>) => Promise<() => unknown>,
): Promise<{ ms: number; samples: Samples }> {
  const seen = new Set<string>();
  const stop = await start(seen);
  const samples = new Samples();
  const t0 = performance.now();
  try {
    await pool(n, (i) =>
      client.apply(configMap(namespace, `w-${i}`, 1), { fieldManager: 'bench-kube' }),
    );
    const deadline = Date.now() + 60_000;
    while (seen.size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    if (seen.size < n) samples.fail(new SampleTimeout(`watch saw ${seen.size}/${n}`, 60_000));
    else samples.ok(performance.now() - t0);
  } finally {
    await stop();
  }
  return { ms: performance.now() - t0, samples };
}

export async function run(options: { smoke: boolean }): Promise<void> {
  const n = options.smoke ? 100 : 1000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-kube-'));
  const cluster = await Cluster.start({ dir: path.join(dir, 'cluster'), nodes: 0 });
  try {
    process.env.KUBECONFIG = cluster.kubeconfig;
    // kubernetes-fluent-client reads the kubeconfig when it is first imported.
    const { K8s, kind } = await import('kubernetes-fluent-client');
    const ours = KubeClient.fromFile(cluster.kubeconfig);
    const config = new KubeConfig();
    config.loadFromFile(cluster.kubeconfig);
    const objects = KubernetesObjectApi.makeApiClient(config);
    const core = config.makeApiClient(CoreV1Api);

    const appliers: [string, Applier][] = [
      ['lib/kube', (o) => ours.apply(o, { fieldManager: 'bench-kube', force: true })],
      [
        '@kubernetes/client-node',
        (o) =>
          objects.patch(
            o as KubernetesObject,
            undefined,
            undefined,
            'bench-kube',
            true,
            PatchStrategy.ServerSideApply,
          ),
      ],
      [
        'kubernetes-fluent-client',
        (o) => K8s(kind.ConfigMap).Apply(o as unknown as V1ConfigMap, { force: true }),
      ],
    ];
    const applied = new Map<string, { ms: number; samples: Samples }>();
    for (const [name, apply] of appliers) {
      const namespace = `apply-${applied.size}`;
      await ours.apply(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
        { fieldManager: 'bench-kube' },
      );
      applied.set(name, await measureApply(name.replace(/[^a-z]/g, ''), n, namespace, apply));
    }
    const oursApply = applied.get('lib/kube');
    if (!oursApply) throw new Error('lib/kube apply was not measured');
    for (const [name, m] of applied) {
      if (name === 'lib/kube') continue;
      results.row({
        job: `server-side apply of ${n} ConfigMaps ×2 (${inFlight} in flight)`,
        unit: 'ms',
        ours: oursApply.ms,
        baseline: m.ms,
        baselineName: name,
        samples: oursApply.samples,
        baselineSamples: m.samples,
        detail: { p50Ours: oursApply.samples.percentile(50), p50Base: m.samples.percentile(50) },
      });
    }

    type StartWatch = (namespace: string, seen: Set<string>) => Promise<() => unknown>;
    const watchers: [string, StartWatch][] = [
      [
        'lib/kube',
        async (namespace, seen) => {
          const informer = new Informer<KubeObject>(ours, 'v1', 'ConfigMap', { namespace });
          informer.on((event, object) => {
            if (event === 'add') seen.add(object.metadata.name);
          });
          informer.start();
          await informer.waitForSync();
          return () => informer.stop();
        },
      ],
      [
        '@kubernetes/client-node',
        async (namespace, seen) => {
          const informer = makeInformer<V1ConfigMap>(
            config,
            `/api/v1/namespaces/${namespace}/configmaps`,
            () => core.listNamespacedConfigMap({ namespace }),
          );
          informer.on('add', (object) => seen.add(object.metadata?.name ?? ''));
          await informer.start();
          return () => informer.stop();
        },
      ],
      [
        'kubernetes-fluent-client',
        async (namespace, seen) => {
          const watcher = K8s(kind.ConfigMap, { namespace }).Watch((object, phase) => {
            if (phase === 'ADDED') seen.add(object.metadata?.name ?? '');
          });
          await watcher.start();
          return () => watcher.close();
        },
      ],
    ];
    const watched = new Map<string, { ms: number; samples: Samples }>();
    for (const [name, start] of watchers) {
      const namespace = `watch-${watched.size}`;
      await ours.apply(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
        { fieldManager: 'bench-kube' },
      );
      watched.set(name, await measureWatch(ours, namespace, n, (seen) => start(namespace, seen)));
    }
    const oursWatch = watched.get('lib/kube');
    if (!oursWatch) throw new Error('lib/kube watch was not measured');
    for (const [name, m] of watched) {
      if (name === 'lib/kube') continue;
      results.row({
        job: `watch delivers ${n} new ConfigMaps (create → last add event)`,
        unit: 'ms',
        ours: oursWatch.ms,
        baseline: m.ms,
        baselineName: name,
        samples: oursWatch.samples,
        baselineSamples: m.samples,
      });
    }
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
