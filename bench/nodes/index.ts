/**
 * bench/nodes: pods on real kubelet + containerd nodes, the project's CNI
 * (installed by the operator, as the README tells a user) against Debian's
 * reference `bridge` + `host-local` plugins on the same two nodes, in one run.
 *
 * Per phase (N agnhost pods of one Deployment, spread evenly over both nodes;
 * N = 50, 10 in the smoke pass):
 *   - apply → all Ready: from the moment `kubectl apply` of the Deployment is
 *     started until the last of its pods reports Ready (polled every 200 ms);
 *     pods/s = pods Ready / that time. A pod not Ready by the phase deadline
 *     is counted as failed and the phase goes on.
 *   - sandbox p50/p99: per pod sandbox, containerd's own log (logs/<node>/
 *     containerd.log, containerd 1.6 at its default info level) from the CRI
 *     request line `RunPodSandbox for &PodSandboxMetadata{…Uid:<pod uid>…}` to
 *     its reply line `RunPodSandbox for &PodSandboxMetadata{…} returns sandbox
 *     id "<id>"`. That is the one CRI call during which the kubelet waits for
 *     the pod's network: in containerd 1.6 RunPodSandbox creates the sandbox
 *     container's metadata and snapshot, then the network namespace, then runs
 *     CNI ADD (the loopback plugin and the conflist's plugins, as
 *     `setupPodNetwork`), then starts the pause container through a new shim
 *     and runc, and only then replies. So it is CNI ADD as the kubelet sees it,
 *     plus the sandbox creation around it, which is the same work for both
 *     CNIs (same pause image, same runtime, same nodes).
 *   - pre-shim p50/p99: the same request line to the sandbox's shim's first
 *     own line `starting signal loop … path=…/k8s.io/<sandbox id>` (the shim's
 *     log is copied into containerd's): the part of RunPodSandbox that holds
 *     CNI ADD, without runc creating and starting the pause container (still
 *     with the metadata, snapshot, netns and the shim's process start).
 *   A RunPodSandbox that logs `failed, error` counts as a failed sandbox (the
 *   kubelet retries it; the retry is a sample of its own); a pod whose
 *   sandbox never replied counts as missing. Nothing is dropped.
 *
 * Order: the environment comes up with the project's CNI (the operator
 * installs it; the host agents, the operator and CoreDNS start their pods),
 * so both nodes are warm before anything is measured. Then the reference
 * conflist is added (`05-reference.conflist`, sorted before the project's,
 * so containerd's CRI, which loads the first one, switches to it), and each
 * phase is: a warm-up of one pod per node (not measured; it creates the
 * reference's bridge, loads the plugins, and proves which CNI now answers),
 * the measured Deployment, then delete and wait until every pod is gone
 * (for the reference also until host-local has released every address, so
 * no CNI DEL of a reference pod reaches the project's plugin). Then the
 * reference conflist is removed and the project's phase runs the same way.
 * Each pod's address is checked against the CNI it is attributed to:
 * reference pods must be in 10.244.<node index>.0/24, the project's in a
 * chunk of their node's PodIPPool; one that is not is counted as "wrong
 * CNI" and its sandbox sample left out of that phase, and it is printed.
 * The machine's load average is printed per phase: the phases run one after
 * the other, so other work on the machine can weigh on one more than the
 * other, and the ratios are only as good as that.
 *
 * Run: `npx tsx bench/run.ts [--smoke] nodes`. Needs root, the node packages
 * (containerd, runc, containernetworking-plugins) and the images of
 * e2e/images (built on first use).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { results, type Mark } from '../report.ts';
import ipaddr from 'ipaddr.js';
import { sleep, stopByState } from '../../e2e/cluster/cluster.ts';
import type { Cluster } from '../../e2e/cluster/cluster.ts';
import { nodeMounts, referencePodSubnet } from '../../e2e/cluster/node-config.ts';
import { repoRoot } from '../../e2e/support/paths.ts';
import { startRealEnvironment, type RealEnvironment } from '../../e2e/support/real-nodes.ts';
import { agnhostDeployment } from '../../e2e/support/workloads.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';

const clusterDir = path.join(repoRoot, '.cluster-bench-nodes');
const namespace = 'bench-nodes';
const pollMs = 200;

type Cni = 'reference' | 'ours';
const cniLabel: Record<Cni, string> = {
  reference: 'reference (bridge+host-local)',
  ours: 'aci-containers',
};

interface PodObject extends KubeObject {
  metadata: KubeObject['metadata'] & { uid: string };
  spec: { nodeName?: string };
  status?: {
    podIP?: string;
    phase?: string;
    conditions?: { type: string; status: string }[];
  };
}

/** One RunPodSandbox call as containerd logged it. */
interface SandboxCall {
  uid: string;
  name: string;
  node: string;
  startNs: bigint;
  endNs?: bigint;
  shimNs?: bigint;
  sandboxId?: string;
  failed?: string;
}

interface PhaseResult {
  cni: Cni;
  pods: number;
  ready: number;
  /** apply → last Ready, ms; NaN when no pod got Ready. */
  elapsedMs: number;
  notReady: string[];
  wrongCni: string[];
  sandboxMs: number[];
  preShimMs: number[];
  sandboxFailed: number;
  sandboxMissing: number;
  perNode: Record<string, number>;
  /** The machine's 1-minute load average when the Deployment was applied and when the phase ended. */
  load: [number, number];
}

/** Other work on this 2-core machine (another cluster, a build) skews both phases unevenly: print it. */
async function loadAverage(): Promise<number> {
  const text = await readFile('/proc/loadavg', 'utf8').catch(() => '');
  return Number.parseFloat(text.split(' ')[0] ?? '') || NaN;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/** `2026-12-01T22:40:32.488234156Z` → ns since the epoch (Date keeps only ms). */
export function parseLogTime(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(seconds) * 1_000_000n + BigInt(fraction);
}

const timeRe = /^time="([^"]+)"/;
const requestRe =
  /msg="RunPodSandbox for &PodSandboxMetadata\{Name:([^,]*),Uid:([^,]*),Namespace:([^,]*),Attempt:(\d+),\}(.*)$/;
const returnsRe = /^ returns sandbox id \\"([0-9a-f]+)\\""/;
const shimRe = /msg="starting signal loop".* path=\S*\/k8s\.io\/([0-9a-f]{64})\b/;

/**
 * The RunPodSandbox calls of `namespace` in a stretch of containerd's log:
 * each request line opens a call for its pod uid, the next reply or failure
 * line for that uid closes it (the kubelet runs one call per pod at a time),
 * and the shim's signal-loop line is joined by sandbox id.
 */
export function parseSandboxCalls(text: string, node: string, ns: string): SandboxCall[] {
  const calls: SandboxCall[] = [];
  const pending = new Map<string, SandboxCall>();
  const shimById = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const time = timeRe.exec(line)?.[1];
    const t = time ? parseLogTime(time) : undefined;
    if (t === undefined) continue;
    const shim = shimRe.exec(line);
    if (shim?.[1]) {
      shimById.set(shim[1], t);
      continue;
    }
    const m = requestRe.exec(line);
    if (!m || m[3] !== ns) continue;
    const [, name = '', uid = '', , , rest = ''] = m;
    const returns = returnsRe.exec(rest);
    if (rest === '"') {
      const call: SandboxCall = { uid, name, node, startNs: t };
      calls.push(call);
      pending.set(uid, call);
    } else if (returns || rest.startsWith(' failed')) {
      const call = pending.get(uid);
      if (!call) continue;
      pending.delete(uid);
      call.endNs = t;
      if (returns?.[1]) call.sandboxId = returns[1];
      else call.failed = /error="([^"]*)/.exec(rest)?.[1] ?? 'failed';
    }
  }
  for (const call of calls) {
    if (call.sandboxId) {
      const shimNs = shimById.get(call.sandboxId);
      if (shimNs !== undefined) call.shimNs = shimNs;
    }
  }
  return calls;
}

async function readFrom(file: string, offset: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.max(0, size - offset);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

function containerdLog(cluster: Cluster, node: string): string {
  return path.join(cluster.logDir, node, 'containerd.log');
}

async function logOffsets(cluster: Cluster): Promise<Map<string, number>> {
  const offsets = new Map<string, number>();
  for (const node of cluster.realNodes) {
    const size = await stat(containerdLog(cluster, node.name)).then(
      (s) => s.size,
      () => 0,
    );
    offsets.set(node.name, size);
  }
  return offsets;
}

async function podsOfApp(client: KubeClient, app: string): Promise<PodObject[]> {
  const { items } = await client.list<PodObject>('v1', 'Pod', {
    namespace,
    labelSelector: `app=${app}`,
  });
  return items;
}

const isReady = (pod: PodObject): boolean =>
  !pod.metadata.deletionTimestamp &&
  (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

interface Cidr {
  text: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

function cidr(text: string): Cidr {
  return { text, range: ipaddr.parseCIDR(text) };
}

function inCidr(ip: string, range: Cidr): boolean {
  try {
    const address = ipaddr.parse(ip);
    return address.kind() === range.range[0].kind() && address.match(range.range);
  } catch {
    return false;
  }
}

/** Where each node's pods must get their addresses from under `cni`. */
async function expectedRanges(env: RealEnvironment, cni: Cni): Promise<Map<string, Cidr[]>> {
  const ranges = new Map<string, Cidr[]>();
  if (cni === 'reference') {
    for (const node of env.cluster.realNodes) {
      ranges.set(node.name, [cidr(referencePodSubnet(node))]);
    }
    return ranges;
  }
  const pools = JSON.parse(await env.kubectl(['get', 'podippools', '-o', 'json'])) as {
    items: { metadata: { name: string }; spec?: { chunks?: string[] } }[];
  };
  for (const pool of pools.items) {
    ranges.set(pool.metadata.name, (pool.spec?.chunks ?? []).map(cidr));
  }
  return ranges;
}

function attributedTo(pod: PodObject, ranges: Map<string, Cidr[]>): boolean {
  const ip = pod.status?.podIP;
  const node = pod.spec.nodeName;
  if (!ip || !node) return false;
  return (ranges.get(node) ?? []).some((range) => inCidr(ip, range));
}

function describe(pod: PodObject): string {
  return `${pod.metadata.name} on ${pod.spec.nodeName ?? '?'} at ${pod.status?.podIP ?? 'no IP'}`;
}

/** Applies an N-pod Deployment and waits until every pod is Ready or the deadline passes. */
async function rollOut(
  env: RealEnvironment,
  app: string,
  replicas: number,
  deadlineMs: number,
): Promise<{ pods: PodObject[]; readyAt: Map<string, number>; started: number }> {
  const deployment = agnhostDeployment(namespace, app, replicas, env.images.agnhost.ref);
  const started = performance.now();
  await env.kubectl(['apply', '-f', '-'], JSON.stringify(deployment));
  const readyAt = new Map<string, number>();
  let pods: PodObject[] = [];
  while (performance.now() - started < deadlineMs) {
    pods = await podsOfApp(env.client, app);
    const now = performance.now();
    for (const pod of pods) {
      if (isReady(pod) && !readyAt.has(pod.metadata.uid)) readyAt.set(pod.metadata.uid, now);
    }
    if (pods.length >= replicas && pods.every(isReady)) break;
    await sleep(pollMs);
  }
  return { pods, readyAt, started };
}

/** Deletes the Deployment and waits until its pods are gone from the API (the kubelets killed them). */
async function tearDown(env: RealEnvironment, app: string, timeoutMs: number): Promise<void> {
  await env.kubectl([
    '-n',
    namespace,
    'delete',
    'deployment',
    app,
    '--ignore-not-found',
    '--wait=false',
  ]);
  const deadline = Date.now() + timeoutMs;
  let left: PodObject[] = [];
  while (Date.now() < deadline) {
    left = await podsOfApp(env.client, app);
    if (left.length === 0) return;
    await sleep(500);
  }
  console.log(
    `  warning: ${left.length} pods of ${app} still there after ${timeoutMs / 1000} s: ${left.map(describe).join(', ')}`,
  );
}

/** Waits until host-local holds no address of the reference network on any node (every CNI DEL ran). */
async function referenceReleased(env: RealEnvironment, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let held: string[] = [];
  while (Date.now() < deadline) {
    held = [];
    for (const node of env.cluster.realNodes) {
      const cniState = nodeMounts(node).find((m) => m.target === '/var/lib/cni')?.source;
      if (!cniState) throw new Error(`node ${node.name} has no private /var/lib/cni`);
      // host-local keeps one file per address in <dataDir>/<network name>/.
      const dir = path.join(cniState, 'networks', 'reference');
      const entries = await readdir(dir).catch(() => [] as string[]);
      held.push(...entries.filter((e) => ipaddr.isValid(e)).map((e) => `${node.name}:${e}`));
    }
    if (held.length === 0) return;
    await sleep(500);
  }
  console.log(`  warning: host-local still holds ${held.join(', ')}`);
}

/** One pod per node, not measured: warms the CNI up and proves it is the one that answers. */
async function warmUp(env: RealEnvironment, cni: Cni): Promise<void> {
  const app = `warm-${cni === 'reference' ? 'ref' : 'aci'}`;
  const nodes = env.cluster.realNodes.length;
  const { pods } = await rollOut(env, app, nodes, 180_000);
  const ranges = await expectedRanges(env, cni);
  const bad = pods.filter((p) => !isReady(p) || !attributedTo(p, ranges));
  if (pods.length < nodes || bad.length > 0) {
    throw new Error(
      `warm-up for ${cniLabel[cni]}: ${pods.length}/${nodes} pods, not Ready or not from ${[
        ...ranges.values(),
      ]
        .flat()
        .map((r) => r.text)
        .join(',')}: ${bad.map(describe).join('; ')}`,
    );
  }
  await tearDown(env, app, 180_000);
}

async function phase(
  env: RealEnvironment,
  cni: Cni,
  n: number,
  deadlineMs: number,
): Promise<PhaseResult> {
  await warmUp(env, cni);
  if (cni === 'reference') await referenceReleased(env, 60_000);
  const app = cni === 'reference' ? 'ref' : 'aci';
  const offsets = await logOffsets(env.cluster);
  const loadBefore = await loadAverage();
  const { pods, readyAt, started } = await rollOut(env, app, n, deadlineMs);
  const ranges = await expectedRanges(env, cni);
  const byUid = new Map(pods.map((p) => [p.metadata.uid, p]));
  const wrong = new Set(
    pods.filter((p) => p.status?.podIP && !attributedTo(p, ranges)).map((p) => p.metadata.uid),
  );
  const readyTimes = [...readyAt.entries()]
    .filter(([uid]) => byUid.has(uid) && !wrong.has(uid))
    .map(([, t]) => t);
  const notReady = pods.filter((p) => !readyAt.has(p.metadata.uid)).map(describe);
  // A replica the ReplicaSet never got to create by the deadline is a failure too.
  for (let i = pods.length; i < n; i++) notReady.push('(pod not created)');

  const calls: SandboxCall[] = [];
  for (const node of env.cluster.realNodes) {
    const text = await readFrom(containerdLog(env.cluster, node.name), offsets.get(node.name) ?? 0);
    calls.push(
      ...parseSandboxCalls(text, node.name, namespace).filter(
        (c) => byUid.has(c.uid) && !wrong.has(c.uid),
      ),
    );
  }
  const sandboxMs: number[] = [];
  const preShimMs: number[] = [];
  let sandboxFailed = 0;
  let sandboxMissing = 0;
  for (const call of calls) {
    if (call.failed) sandboxFailed++;
    else if (call.endNs === undefined) sandboxMissing++;
    else {
      sandboxMs.push(Number(call.endNs - call.startNs) / 1e6);
      if (call.shimNs !== undefined) preShimMs.push(Number(call.shimNs - call.startNs) / 1e6);
    }
  }
  // Pods whose sandbox request never reached containerd (in this stretch of its log).
  const withCall = new Set(calls.map((c) => c.uid));
  sandboxMissing += pods.filter(
    (p) => !withCall.has(p.metadata.uid) && !wrong.has(p.metadata.uid),
  ).length;
  const perNode: Record<string, number> = {};
  for (const pod of pods) {
    const node = pod.spec.nodeName ?? '(unscheduled)';
    perNode[node] = (perNode[node] ?? 0) + 1;
  }
  const result: PhaseResult = {
    cni,
    pods: n,
    ready: readyTimes.length,
    elapsedMs: readyTimes.length > 0 ? Math.max(...readyTimes) - started : NaN,
    notReady,
    wrongCni: pods.filter((p) => wrong.has(p.metadata.uid)).map(describe),
    sandboxMs: sandboxMs.sort((a, b) => a - b),
    preShimMs: preShimMs.sort((a, b) => a - b),
    sandboxFailed,
    sandboxMissing,
    perNode,
    load: [loadBefore, await loadAverage()],
  };
  await tearDown(env, app, 180_000);
  if (cni === 'reference') await referenceReleased(env, 60_000);
  return result;
}

const ms = (x: number): string => (Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-';
const podsPerSecond = (r: PhaseResult): number => r.ready / (r.elapsedMs / 1000);

function report(
  phases: readonly PhaseResult[],
  nodes: number,
  n: number,
  smoke: boolean,
  since: Mark,
): void {
  console.log(`\nnodes: ${nodes} real nodes, ${n} pods per phase${smoke ? ' (smoke)' : ''}`);
  const width = Math.max(...phases.map((r) => cniLabel[r.cni].length)) + 2;
  for (const r of phases) {
    const ready =
      r.ready === r.pods
        ? `apply->all Ready ${(r.elapsedMs / 1000).toFixed(1)} s`
        : `apply->${r.ready}/${r.pods} Ready ${(r.elapsedMs / 1000).toFixed(1)} s`;
    console.log(
      `  ${`${cniLabel[r.cni]}:`.padEnd(width)}${ready} (${podsPerSecond(r).toFixed(1)} pods/s), ` +
        `sandbox p50 ${ms(percentile(r.sandboxMs, 50))} p99 ${ms(percentile(r.sandboxMs, 99))}, ` +
        `pre-shim p50 ${ms(percentile(r.preShimMs, 50))} p99 ${ms(percentile(r.preShimMs, 99))}, ` +
        `failed ${r.notReady.length + r.wrongCni.length}`,
    );
    console.log(
      `  ${''.padEnd(width)}pods per node ${Object.entries(r.perNode)
        .map(([node, count]) => `${node}=${count}`)
        .join(' ')}, sandbox samples ${r.sandboxMs.length} (pre-shim ${r.preShimMs.length}), ` +
        `RunPodSandbox failed ${r.sandboxFailed}, no reply ${r.sandboxMissing}, ` +
        `not Ready ${r.notReady.length}, wrong CNI ${r.wrongCni.length}, ` +
        `load avg ${r.load[0].toFixed(1)} -> ${r.load[1].toFixed(1)}`,
    );
    for (const pod of r.notReady) console.log(`    not Ready: ${pod}`);
    for (const pod of r.wrongCni) console.log(`    wrong CNI: ${pod}`);
  }
  const ref = phases.find((r) => r.cni === 'reference');
  const ours = phases.find((r) => r.cni === 'ours');
  if (!ref || !ours) return;
  console.log(
    `  ratio ours/reference: pods/s ${ratio(podsPerSecond(ours), podsPerSecond(ref))}, ` +
      `sandbox p50 ${ratio(percentile(ours.sandboxMs, 50), percentile(ref.sandboxMs, 50))}, ` +
      `p99 ${ratio(percentile(ours.sandboxMs, 99), percentile(ref.sandboxMs, 99))}; ` +
      `pre-shim p50 ${ratio(percentile(ours.preShimMs, 50), percentile(ref.preShimMs, 50))}, ` +
      `p99 ${ratio(percentile(ours.preShimMs, 99), percentile(ref.preShimMs, 99))}`,
  );
  console.log('  (pods/s: higher is faster; latencies: higher is slower)');
  const counts = (r: PhaseResult) => ({
    total: r.pods,
    failed: r.notReady.length + r.wrongCni.length + r.sandboxFailed,
    timedOut: r.sandboxMissing,
  });
  results.row({
    job: `${nodes} real nodes, ${n} pods, apply → all Ready`,
    unit: 'pods/s',
    ours: podsPerSecond(ours),
    baseline: podsPerSecond(ref),
    baselineName: cniLabel.reference,
    better: 'higher',
    samples: counts(ours),
    baselineSamples: counts(ref),
    since,
  });
  for (const p of [50, 99])
    results.row({
      job: `${nodes} real nodes, RunPodSandbox (CNI ADD) p${p}`,
      unit: 'ms',
      ours: percentile(ours.sandboxMs, p),
      baseline: percentile(ref.sandboxMs, p),
      baselineName: cniLabel.reference,
      samples: counts(ours),
      baselineSamples: counts(ref),
      since,
    });
}

export async function run({ smoke }: { smoke: boolean }): Promise<void> {
  const n = smoke ? 10 : 50;
  const deadlineMs = 60_000 + n * 4_000;
  const started = Date.now();
  const log = (line: string): void =>
    console.log(`  [${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);
  let env: RealEnvironment | undefined;
  try {
    env = await startRealEnvironment({ dir: clusterDir, log });
    log('environment up: operator, AciFabric Ready, CoreDNS');
    await env.kubectl(['create', 'namespace', namespace]);
    const phases: PhaseResult[] = [];
    const since = results.mark();
    await env.cluster.useReferenceCni();
    log('reference CNI (05-reference.conflist) on every node');
    phases.push(await phase(env, 'reference', n, deadlineMs));
    log('reference phase done');
    await env.cluster.removeReferenceCni();
    log('reference CNI removed: the operator-installed conflist answers');
    phases.push(await phase(env, 'ours', n, deadlineMs));
    log('aci-containers phase done');
    report(phases, env.cluster.realNodes.length, n, smoke, since);
  } catch (error) {
    if (env) console.log(await env.cluster.logTails(30));
    throw error;
  } finally {
    env?.client.close();
    await stopByState(clusterDir);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run({ smoke: process.argv.includes('--smoke') });
}
