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
 *  4. controller RSS, against an idle node process with the same loader.
 * The controller runs as its own process (agents/controller/main.ts, as its
 * container runs it), so its RSS and CPU are its own; the CPU of the API
 * server, etcd and kwok is printed per stage beside it, to say which one
 * was the bottleneck. Every pod whose address never reached the APIC, every
 * failed create and every failed baseline POST is counted and printed.
 * Prints each as a ratio (ours / baseline; lower is better).
 *
 * Run: `npx tsx bench/controller/index.ts [--smoke]`, or import run().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { apiVersion as aciApiVersion } from '../../crds/index.ts';
import { Cluster } from '../../e2e/cluster/cluster.ts';
import { ApicSimulator } from '../../e2e/apic-simulator/simulator.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { ApicClient } from '../../agents/controller/apic/client.ts';
import type { Mo } from '../../agents/controller/apic/mo.ts';
import type { Pod } from '../../agents/controller/caches.ts';
import { hostprotPolicyDn } from '../../agents/controller/policy/hostprot.ts';
import { harness, ScopeLabel, type Harness } from '../../e2e/support/controller/harness.ts';
import { results, Samples, SampleTimeout } from '../report.ts';

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

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function memoryMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Who used the CPU during a stage: the controller, the benchmark process (APIC simulator, informers), the cluster's processes. */
class CpuWatch {
  private constructor(private readonly pids: ReadonlyMap<string, number>) {}

  static async of(clusterDir: string, controllerPid: number): Promise<CpuWatch> {
    const state = JSON.parse(await readFile(path.join(clusterDir, 'state.json'), 'utf8')) as {
      components: Record<string, { pid: number }>;
    };
    const pids = new Map<string, number>([
      ['controller', controllerPid],
      ['bench+APIC sim', process.pid],
    ]);
    for (const [name, c] of Object.entries(state.components)) pids.set(name, c.pid);
    return new CpuWatch(pids);
  }

  async sample(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [name, pid] of this.pids) out.set(name, await cpuSeconds(pid));
    return out;
  }

  /** CPU seconds per process since `before`, busiest first. */
  async since(before: Map<string, number>): Promise<Record<string, number>> {
    const now = await this.sample();
    const used = [...now].map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const);
    return Object.fromEntries(
      used
        .filter(([, s]) => Number.isFinite(s))
        .sort((a, b) => b[1] - a[1])
        .map(([name, s]) => [`cpuSeconds.${name}`, Math.round(s * 10) / 10]),
    );
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The controller process's view from outside: its /metrics. */
async function metric(port: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  if (!res?.ok) return NaN;
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

/** An idle node with the controller's loader: what any such process costs before doing anything. */
async function idleNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['--import=tsx', '-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
  });
  try {
    await sleep(3000);
    return (await memoryMiB(child.pid ?? 0)).rss;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Waits until the owned APIC objects stopped changing for `quietMs` (the controller is idle). */
async function apicQuiet(h: Harness, quietMs: number, timeoutMs: number): Promise<number> {
  let last = -1;
  let since = Date.now();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const owned = h.owned().size;
    if (owned !== last) {
      last = owned;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return owned;
    await sleep(250);
  }
  throw new Error(`benchmark timed out waiting for the APIC tree to settle (last ${last} objects)`);
}

/** Attributes the APIC sets itself: a client never sends them. */
const ApicSetAttributes = new Set([
  'dn',
  'rn',
  'status',
  'modTs',
  'childAction',
  'lcOwn',
  'uid',
  'userdom',
  'extMngdBy',
  'monPolDn',
  'configIssues',
]);

/** The owned subtrees of the simulator's tree as POST bodies, one per owned root, children nested. */
function ownedTrees(h: Harness): Mo[] {
  const dump = h.sim.tree.dump();
  const owned = h.owned();
  const byParent = new Map<string, typeof dump>();
  const parentOf = (dn: string) => {
    // The last `/` outside brackets separates the parent's dn from the rn.
    let depth = 0;
    for (let i = dn.length - 1; i >= 0; i--) {
      const c = dn[i];
      if (c === ']') depth++;
      else if (c === '[') depth--;
      else if (c === '/' && depth === 0) return dn.slice(0, i);
    }
    return '';
  };
  for (const o of dump) {
    const parent = parentOf(o.dn);
    const list = byParent.get(parent) ?? [];
    list.push(o);
    byParent.set(parent, list);
  }
  const build = (o: (typeof dump)[number]): Mo => {
    const kids = (byParent.get(o.dn) ?? []).filter(
      (c) => owned.has(c.dn) || c.cls === 'tagAnnotation',
    );
    const attributes = Object.fromEntries(
      Object.entries(o.attrs).filter(([k]) => !ApicSetAttributes.has(k)),
    );
    return {
      [o.cls]: {
        attributes: { ...attributes, rn: o.dn.slice(parentOf(o.dn).length + 1) },
        ...(kids.length > 0 ? { children: kids.map(build) } : {}),
      },
    } as Mo;
  };
  return dump
    .filter((o) => owned.has(o.dn) && !owned.has(parentOf(o.dn)))
    .map((o) => {
      const mo = build(o);
      const body = Object.values(mo)[0] as { attributes: Record<string, string> };
      const { rn: _rn, ...rest } = body.attributes;
      body.attributes = { ...rest, dn: o.dn };
      return mo;
    });
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
  const latencyTimeoutMs = 120_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-controller-'));
  console.log(
    `Controller benchmark: ${nodeCount} nodes, ${podCount} pods${opts.smoke ? ' (smoke)' : ''}`,
  );
  const cluster = await Cluster.start({ dir: path.join(dir, 'cluster'), nodes: 1 });
  let controller: ChildProcess | undefined;
  // The cluster's processes are detached: stop them on Ctrl-C / timeout too, not only on the way out of `finally`.
  const onSignal = () => {
    controller?.kill('SIGKILL');
    void cluster.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.env.ACI_CLUSTER_DIR = cluster.dir;
  process.env.KUBECONFIG = cluster.kubeconfig;
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
    const rawWrites = new Samples();
    let t0 = performance.now();
    await parallel(raw, 16, (name) =>
      rawWrites.time(() =>
        client.create({
          apiVersion: aciApiVersion,
          kind: 'PodIPPool',
          metadata: { name },
          spec: {
            chunks: [
              `10.99.${Math.floor(raw.indexOf(name) / 4)}.${(raw.indexOf(name) % 4) * 64}/26`,
            ],
            gateways: ['10.99.0.1/16'],
          },
        }),
      ),
    );
    const rawWriteMs = performance.now() - t0;
    await parallel(raw, 16, (name) =>
      client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name }).catch(() => false),
    );

    // 1b. Ours: nodes exist, the controller process starts and allocates every pool.
    const nodes = await h.addNodes(nodeCount);
    const pools = new Informer<KubeObject>(client, aciApiVersion, 'PodIPPool').start();
    await pools.waitForSync();
    const healthPort = await freePort();
    const allocateSince = results.mark();
    t0 = performance.now();
    controller = h.spawn({ healthPort });
    const pid = controller.pid ?? 0;
    const cpu = await CpuWatch.of(cluster.dir, pid);
    let cpuBefore = await cpu.sample();
    const mine = new Set(nodes);
    await until(
      () => pools.list().filter((p) => mine.has(p.metadata.name)).length === nodeCount,
      'all PodIPPools',
      600_000,
    );
    const allocateMs = performance.now() - t0;
    results.row({
      job: `PodIPPools for ${nodeCount} nodes (controller process)`,
      unit: 'ms',
      ours: allocateMs,
      baseline: rawWriteMs,
      baselineName: 'raw PodIPPool creates, 16 at a time',
      ...(opts.smoke ? {} : { target: 1.5 }),
      baselineSamples: rawWrites,
      since: allocateSince,
      detail: await cpu.since(cpuBefore),
    });

    // 2. Pod IP → hostprotRemoteIp latency under churn: every client pod that stays is a sample.
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
    const backgroundCreates = new Samples();
    await parallel(
      Array.from({ length: background }, (_, i) => `bg-${i}`),
      32,
      (name) =>
        backgroundCreates.time(() =>
          client.create({
            ...clientPod(h, name),
            metadata: { name, namespace: h.namespace, labels: { role: 'background' } },
          }),
        ),
    );
    const ruleDn = `${hostprotPolicyDn(h.config, h.namespace, 'from-clients')}/subj-networkpolicy-ingress/rule-0_0-ipv4`;
    const ipSeen = new Map<string, { ip: string; at: number }>();
    const podWatch = new Informer<Pod>(client, 'v1', 'Pod', {
      namespace: h.namespace,
      labelSelector: 'role=client',
    })
      .on((_e, p) => {
        const ip = p.status?.podIP;
        if (ip && !ipSeen.has(p.metadata.name))
          ipSeen.set(p.metadata.name, { ip, at: performance.now() });
      })
      .start();
    await podWatch.waitForSync();
    const churnSince = results.mark();
    cpuBefore = await cpu.sample();
    const latency = new Samples();
    const creates = new Samples();
    const deletes = new Samples();
    // A pod that stays must get its address onto the APIC: from its IP appearing, within the deadline.
    const measureStayer = async (name: string, createdAt: number): Promise<void> => {
      const deadline = createdAt + latencyTimeoutMs;
      while (!ipSeen.has(name)) {
        if (performance.now() > deadline)
          throw new SampleTimeout(`pod ${name} got no IP`, latencyTimeoutMs);
        await sleep(10);
      }
      const { ip, at } = ipSeen.get(name) as { ip: string; at: number };
      while (h.sim.tree.get(`${ruleDn}/ip-[${ip}/32]`) === undefined) {
        if (performance.now() > at + latencyTimeoutMs)
          throw new SampleTimeout(`remote IP ${ip} of ${name}`, latencyTimeoutMs);
        await sleep(10);
      }
      latency.ok(performance.now() - at);
    };
    const stayers: Promise<void>[] = [];
    const churnStart = performance.now();
    for (let i = 0; i < churnPods; i++) {
      // 100 pods/s: one new client pod every 10 ms, and every other one an old one goes.
      const due = churnStart + i * 10;
      if (performance.now() < due) await sleep(due - performance.now());
      const name = `c-${i}`;
      const created = creates.time(() => client.create(clientPod(h, name)));
      // Even pods are deleted right after the next one is created: they are churn, not samples.
      if (i % 2 === 1) {
        const createdAt = performance.now();
        stayers.push(
          created.then(() => measureStayer(name, createdAt)).catch((e: unknown) => latency.fail(e)),
        );
        void deletes.time(() =>
          client.delete({
            apiVersion: 'v1',
            kind: 'Pod',
            name: `c-${i - 1}`,
            namespace: h.namespace,
          }),
        );
      }
    }
    await Promise.all(stayers);
    const churnCpu = await cpu.since(cpuBefore);
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
    const rawPost = new Samples();
    for (let i = 0; i < 50; i++) {
      const dn = `${ruleDn}/ip-[10.250.0.${i}/32]`;
      await rawPost.time(() =>
        apic2.post(dn, { hostprotRemoteIp: { attributes: { dn, addr: `10.250.0.${i}/32` } } }),
      );
    }
    const churnDetail = {
      ...churnCpu,
      podCreatesFailed: creates.failed,
      podDeletesFailed: deletes.failed,
      backgroundCreatesFailed: backgroundCreates.failed,
    };
    for (const p of [50, 99])
      results.row({
        job: `pod IP → hostprotRemoteIp p${p}, ${churnPods} pods at 100/s over ${background} pods`,
        unit: 'ms',
        ours: latency.percentile(p),
        baseline: rawPost.percentile(p),
        baselineName: 'one raw hostprotRemoteIp POST',
        samples: latency,
        baselineSamples: rawPost,
        since: churnSince,
        detail: churnDetail,
      });
    for (const [what, s] of [
      ['pod creates', creates],
      ['pod deletes', deletes],
      ['background pod creates', backgroundCreates],
    ] as const)
      if (s.failed + s.timedOut > 0)
        console.log(
          `    ${what}: ${s.failed} failed, ${s.timedOut} timed out: ${s.describeErrors()}`,
        );

    // 3. Full resync after the APIC lost its state.
    const owned = await apicQuiet(h, 3000, 300_000);
    const trees = ownedTrees(h);
    const resyncSince = results.mark();
    cpuBefore = await cpu.sample();
    t0 = performance.now();
    await h.sim.inject({ restart: { keepState: false } });
    h.sim.tree.load(admin);
    // The tree is empty now: done when every owned object is back.
    await until(() => h.owned().size >= owned, 'APIC resync', 600_000, 50);
    const resyncMs = performance.now() - t0;
    const resyncCpu = await cpu.since(cpuBefore);
    await sim2.inject({ restart: { keepState: false } });
    sim2.tree.load(admin);
    const rawResync = new Samples();
    t0 = performance.now();
    await parallel(trees, 2, (mo) =>
      rawResync.time(() => {
        const body = Object.values(mo)[0] as { attributes?: { dn?: string } };
        return apic2.post(body.attributes?.dn ?? '', mo);
      }),
    );
    const rawResyncMs = performance.now() - t0;
    const restored = [...h.owned().keys()].filter((dn) => sim2.tree.get(dn) !== undefined).length;
    results.row({
      job: `full APIC resync (${owned} objects, APIC lost its state)`,
      unit: 'ms',
      ours: resyncMs,
      baseline: rawResyncMs,
      baselineName: `raw POSTs of the ${trees.length} owned trees, 2 at a time`,
      baselineSamples: rawResync,
      since: resyncSince,
      detail: { ...resyncCpu, baselineObjectsRestored: restored },
    });
    if (restored < owned)
      console.log(
        `    baseline restored ${restored} of ${owned} objects: ${rawResync.describeErrors()}`,
      );
    apic2.close();
    await started2.stop();

    // 4. RSS of the controller process.
    const memory = await memoryMiB(pid);
    results.row({
      job: `controller process RSS (${nodeCount} nodes, ${podCount} pods)`,
      unit: 'MiB',
      ours: memory.rss,
      baseline: await idleNodeRss(),
      baselineName: 'idle node with the same loader',
      detail: {
        peakMiB: Math.round(memory.peak),
        podippools: await metric(healthPort, 'aci_controller_podippools'),
        apicObjectsOwned: await metric(healthPort, 'aci_controller_apic_objects_owned'),
      },
    });
    await pools.stop();
  } finally {
    controller?.kill('SIGTERM');
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
