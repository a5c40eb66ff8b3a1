/**
 * Controller benchmark, on its own control plane (etcd, kube-apiserver,
 * kwok) and APIC simulator. With 1,000 kwok nodes and 30,000 pods (smoke:
 * 20 nodes, 200 pods) it measures, each against a baseline taken in the same
 * run:
 *  1. time to allocate every PodIPPool, against the raw API-server write
 *     rate for the same number of objects (PodIPPools created directly, 16
 *     at a time — what the controller's writes cost without any IPAM);
 *  2. pod-add → hostprotRemoteIp latency (from the pod getting its IP to the
 *     address being on the APIC) p50/p99 under 100 pods/s churn, against a
 *     raw APIC POST of one hostprotRemoteIp;
 *  3. full APIC resync (the APIC lost its state; everything rewritten),
 *     against POSTing the same object trees directly, 2 at a time;
 *  4. controller RSS, against the benchmark process before it started.
 * Prints each as a ratio (ours / baseline; lower is better).
 *
 * Run: `npx tsx bench/controller/index.ts [--smoke]`, or import run().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { apiVersion as aciApiVersion } from '../../crds/index.ts';
import { Cluster } from '../../e2e/cluster/cluster.ts';
import { ApicSimulator } from '../../e2e/apic-simulator/simulator.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { ApicClient } from '../../agents/controller/apic/client.ts';
import { moAttrs, type Mo } from '../../agents/controller/apic/mo.ts';
import type { Pod } from '../../agents/controller/caches.ts';
import { hostprotPolicyDn } from '../../agents/controller/policy/hostprot.ts';
import { harness, ScopeLabel, type Harness } from '../../agents/controller/testing/harness.ts';

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(intervalMs);
  }
  throw new Error(`benchmark timed out waiting for ${what}`);
}

async function parallel<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

function report(name: string, ours: number, baseline: number, unit: string): void {
  console.log(
    `${name.padEnd(44)} ours ${ours.toFixed(1).padStart(9)} ${unit}  baseline ${baseline.toFixed(1).padStart(9)} ${unit}  ratio ${(ours / baseline).toFixed(2)}`,
  );
}

function clientPod(h: Harness, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: h.namespace, labels: { role: 'client' } },
    spec: {
      nodeSelector: { [ScopeLabel]: h.id },
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'app', image: 'fake' }],
    },
  };
}

export async function run(opts: { smoke: boolean }): Promise<void> {
  const nodeCount = opts.smoke ? 20 : 1000;
  const podCount = opts.smoke ? 200 : 30_000;
  const churnPods = opts.smoke ? 100 : 1000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-controller-'));
  console.log(
    `Controller benchmark: ${nodeCount} nodes, ${podCount} pods${opts.smoke ? ' (smoke)' : ''}`,
  );
  const cluster = await Cluster.start({ dir: path.join(dir, 'cluster'), nodes: 1 });
  // The cluster's processes are detached: stop them on Ctrl-C / timeout too, not only on the way out of `finally`.
  const onSignal = () => void cluster.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.env.ACI_CLUSTER_DIR = cluster.dir;
  process.env.KUBECONFIG = cluster.kubeconfig;
  const rssBefore = process.memoryUsage().rss;
  const h = await harness({ slot: 30, chunkSize: 64 });
  try {
    const { client } = h;
    // 1a. Baseline: raw PodIPPool writes.
    const raw = Array.from({ length: nodeCount }, (_, i) => `raw-${h.id}-${i}`);
    // Warm-up: the first writes of a fresh CRD pay for its storage set-up.
    for (let i = 0; i < 3; i++) {
      const name = `warm-${h.id}-${i}`;
      await client.create({
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        metadata: { name },
        spec: { chunks: [], gateways: [] },
      });
      await client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name });
    }
    let t0 = performance.now();
    await parallel(raw, 16, (name) =>
      client.create({
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        metadata: { name },
        spec: {
          chunks: [`10.99.${Math.floor(raw.indexOf(name) / 4)}.${(raw.indexOf(name) % 4) * 64}/26`],
          gateways: ['10.99.0.1/16'],
        },
      }),
    );
    const rawWriteMs = performance.now() - t0;
    await parallel(raw, 16, (name) =>
      client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name }),
    );

    // 1b. Ours: nodes exist, the controller starts and allocates every pool.
    const nodes = await h.addNodes(nodeCount);
    const pools = new Informer<KubeObject>(client, aciApiVersion, 'PodIPPool').start();
    await pools.waitForSync();
    t0 = performance.now();
    const controller = await h.start({ apicTuning: { writesPerSecond: 1000 } });
    const mine = new Set(nodes);
    await until(
      () => pools.list().filter((p) => mine.has(p.metadata.name)).length === nodeCount,
      'all PodIPPools',
      600_000,
    );
    const allocateMs = performance.now() - t0;
    report('time to allocate all PodIPPools', allocateMs, rawWriteMs, 'ms');

    // 2. Pod IP → hostprotRemoteIp latency under churn.
    await client.apply(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'from-clients', namespace: h.namespace },
        spec: {
          podSelector: {},
          ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
        },
      },
      { fieldManager: 'bench' },
    );
    const background = podCount - churnPods;
    await parallel(
      Array.from({ length: background }, (_, i) => `bg-${i}`),
      32,
      (name) =>
        client.create({
          ...clientPod(h, name),
          metadata: { name, namespace: h.namespace, labels: { role: 'background' } },
        }),
    );
    const ruleDn = `${hostprotPolicyDn(h.config, h.namespace, 'from-clients')}/subj-networkpolicy-ingress/rule-0_0-ipv4`;
    const ipSeen = new Map<string, number>();
    const podWatch = new Informer<Pod>(client, 'v1', 'Pod', {
      namespace: h.namespace,
      labelSelector: 'role=client',
    })
      .on((_e, p) => {
        const ip = p.status?.podIP;
        if (ip && !ipSeen.has(ip)) ipSeen.set(ip, performance.now());
      })
      .start();
    await podWatch.waitForSync();
    const latencies: number[] = [];
    const pending = new Set<string>();
    const poller = setInterval(() => {
      for (const [ip, at] of ipSeen) {
        if (pending.has(ip)) continue;
        pending.add(ip);
        void until(
          () => h.sim.tree.get(`${ruleDn}/ip-[${ip}/32]`) !== undefined,
          `remote IP ${ip}`,
          120_000,
          10,
        )
          .then(() => latencies.push(performance.now() - at))
          .catch(() => undefined);
      }
    }, 10);
    const churnStart = performance.now();
    for (let i = 0; i < churnPods; i++) {
      // 100 pods/s: one new client pod every 10 ms, and every other one an old one goes.
      const due = churnStart + i * 10;
      if (performance.now() < due) await sleep(due - performance.now());
      void client.create(clientPod(h, `c-${i}`));
      if (i % 2 === 1)
        void client.delete({
          apiVersion: 'v1',
          kind: 'Pod',
          name: `c-${i - 1}`,
          namespace: h.namespace,
        });
    }
    await until(
      () => latencies.length >= Math.floor(churnPods / 2),
      'remote IP latencies',
      300_000,
      100,
    );
    clearInterval(poller);
    await podWatch.stop();
    // Baselines against a second simulator holding a copy of the tree, so they do not disturb ours.
    const admin = h.sim.tree
      .dump()
      .filter((o) => !h.owned().has(o.dn) && o.cls !== 'tagAnnotation');
    const sim2 = new ApicSimulator({ users: { admin: 'secret-pw' } });
    const started2 = await sim2.start({ port: 0 });
    sim2.tree.load(h.sim.tree.dump());
    const apic2 = new ApicClient({
      hosts: [started2.url],
      user: 'admin',
      password: 'secret-pw',
      caPem: started2.caPem,
    });
    const rawPost: number[] = [];
    for (let i = 0; i < 50; i++) {
      const s = performance.now();
      await apic2.post(`${ruleDn}/ip-[10.250.0.${i}/32]`, {
        hostprotRemoteIp: {
          attributes: { dn: `${ruleDn}/ip-[10.250.0.${i}/32]`, addr: `10.250.0.${i}/32` },
        },
      });
      rawPost.push(performance.now() - s);
    }
    report(
      'pod IP → hostprotRemoteIp p50',
      percentile(latencies, 50),
      percentile(rawPost, 50),
      'ms',
    );
    report(
      'pod IP → hostprotRemoteIp p99',
      percentile(latencies, 99),
      percentile(rawPost, 99),
      'ms',
    );

    // 3. Full resync after the APIC lost its state.
    const session = controller.session();
    if (!session) throw new Error('controller lost leadership during the benchmark');
    await session.apic.sync.waitIdle(300_000);
    const owned = h.owned().size;
    const trees = new Map<string, Mo[]>();
    t0 = performance.now();
    await h.sim.inject({ restart: { keepState: false } });
    h.sim.tree.load(admin);
    // The tree is empty now: done when every owned object is back.
    await until(() => h.owned().size >= owned, 'APIC resync', 600_000, 50);
    const resyncMs = performance.now() - t0;
    for (const [key, mos] of session.apic.desired()) trees.set(key, mos);
    await sim2.inject({ restart: { keepState: false } });
    sim2.tree.load(admin);
    const roots = [...trees.entries()]
      .sort(([a], [b]) => (a === 'static' ? -1 : b === 'static' ? 1 : a < b ? -1 : 1))
      .flatMap(([, mos]) => mos);
    t0 = performance.now();
    for (const mo of roots.slice(0, 1)) await apic2.post(moAttrs(mo).dn ?? '', mo);
    await parallel(roots.slice(1), 2, (mo) =>
      apic2.post(moAttrs(mo).dn ?? '', mo).catch(() => undefined),
    );
    const rawResyncMs = performance.now() - t0;
    report(`full APIC resync (${owned} objects)`, resyncMs, rawResyncMs, 'ms');
    apic2.close();
    await started2.stop();

    // 4. RSS.
    const rss = process.memoryUsage().rss;
    report('controller RSS (process, MiB)', rss / 2 ** 20, rssBefore / 2 ** 20, 'MiB');
    await pools.stop();
  } finally {
    await h.cleanup().catch((error: unknown) => console.error('cleanup failed', error));
    await cluster.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run({ smoke: process.argv.includes('--smoke') });
  process.exit(0);
}
