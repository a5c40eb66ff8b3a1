/**
 * bench/operator: time from applying an AciFabric to Ready, against the
 * baseline of `kubectl apply --server-side` of the same rendered objects
 * followed by waiting for the same rollouts, at 3, 100 and 500 kwok nodes,
 * in one cluster of this run. Also the operator's peak RSS and API requests
 * per reconcile at the largest size.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { AciFabricSpec, type AciFabricSpecInput } from '../../crds/index.ts';
import { Cluster, sleep } from '../../e2e/cluster/cluster.ts';
import { ensureCrds, eventually } from '../../e2e/support/cluster.ts';
import { repoRoot } from '../../e2e/support/paths.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { renderFabric } from '../../operator/render/index.ts';
import { ControllerName, HostAgentName, OpenvswitchName } from '../../operator/render/names.ts';
import { results } from '../report.ts';

interface Fabric extends KubeObject {
  spec: AciFabricSpecInput;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

async function sample(namespace: string): Promise<Fabric> {
  const fabric = parse(
    await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
  ) as Fabric;
  return { ...fabric, metadata: { name: 'bench' }, spec: { ...fabric.spec, namespace } };
}

async function secrets(client: KubeClient, namespace: string): Promise<void> {
  await client.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'bench' },
  );
  for (const [name, data] of [
    ['aci-apic-credentials', { username: 'u', privateKey: 'k' }],
    ['aci-apic-ca', { 'ca.crt': 'c' }],
  ] as const) {
    await client.apply(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data },
      { fieldManager: 'bench' },
    );
  }
}

async function rollouts(cluster: Cluster, namespace: string): Promise<void> {
  for (const target of [
    `deployment/${ControllerName}`,
    `daemonset/${HostAgentName}`,
    `daemonset/${OpenvswitchName}`,
  ]) {
    await cluster.kubectl(['rollout', 'status', '-n', namespace, target, '--timeout=600s']);
  }
}

async function baseline(cluster: Cluster, client: KubeClient, namespace: string): Promise<number> {
  await secrets(client, namespace);
  const fabric = await sample(namespace);
  const objects = renderFabric({
    fabric: { name: 'bench', uid: 'none' },
    spec: AciFabricSpec.parse(fabric.spec),
  }).objects.map((o) => {
    // No owner exists for the baseline; an owner reference to nothing would be garbage-collected.
    const { ownerReferences: _owners, ...metadata } = o.metadata;
    return { ...o, metadata };
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-baseline-'));
  const file = path.join(dir, 'objects.yaml');
  await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
  const started = performance.now();
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
  await rollouts(cluster, namespace);
  const elapsed = performance.now() - started;
  await cluster.kubectl(['delete', '--wait=true', '--ignore-not-found', '-f', file]);
  await rm(dir, { recursive: true, force: true });
  return elapsed;
}

function metric(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${port}/metrics`, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

async function withOperator(cluster: Cluster, client: KubeClient, namespace: string) {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'operator', 'main.ts'),
      `--kubeconfig=${cluster.kubeconfig}`,
      '--no-leader-elect',
      // The operator manages the one namespace it is installed for (its Role lives there).
      `--fabric-namespace=${namespace}`,
      `--health-port=${port}`,
      '--log-level=warn',
      '--cleanup-timeout=5',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // The operator's warnings and errors, kept for the message of a failed sample.
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  await eventually(
    async () => (await scrape(port)).length > 0,
    'the operator metrics endpoint',
    60_000,
  );
  await secrets(client, namespace);
  const fabric = await sample(namespace);
  const started = performance.now();
  await client.apply(fabric, { fieldManager: 'bench' });
  let last: Fabric | undefined;
  await eventually(
    async () => {
      last = await client.read<Fabric>({
        apiVersion: 'aci.cni.dev/v1alpha1',
        kind: 'AciFabric',
        name: 'bench',
      });
      return last?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    'the AciFabric to be Ready',
    600_000,
    100,
  ).catch((error: unknown) => {
    // A failed sample says why: the fabric's own conditions are the operator's account of it.
    throw new Error(
      `${(error as Error).message}; last status: ${JSON.stringify(last?.status?.conditions ?? 'none')}; operator output: ${output}`,
    );
  });
  const elapsed = performance.now() - started;
  const metrics = await scrape(port);
  const requests = metric(metrics, 'aci_operator_api_requests_total');
  const reconciles = metric(metrics, 'aci_operator_reconcile_total');
  const rss = await peakRss(child.pid ?? 0);
  await client.delete({ apiVersion: 'aci.cni.dev/v1alpha1', kind: 'AciFabric', name: 'bench' });
  // The bench has no controller to confirm APIC cleanup; the operator waits up to its timeout.
  await eventually(
    async () =>
      (await client.read({
        apiVersion: 'aci.cni.dev/v1alpha1',
        kind: 'AciFabric',
        name: 'bench',
      })) === undefined,
    'deletion',
    300_000,
  );
  child.kill('SIGTERM');
  return { elapsed, requests, reconciles, rss };
}

export async function run({ smoke }: { smoke: boolean }): Promise<void> {
  const sizes = smoke ? [3] : [3, 100, 500];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-operator-'));
  const cluster = await Cluster.start({ dir, nodes: sizes[0] ?? 3 });
  const client = KubeClient.fromFile(cluster.kubeconfig);
  try {
    await ensureCrds(client);
    for (const size of sizes) {
      const missing = size - cluster.nodes.length;
      if (missing > 0) {
        await cluster.addNodes(missing);
        await cluster.waitForNodesReady(600_000);
      }
      const since = results.mark();
      const base = await baseline(cluster, client, `bench-baseline-${size}`);
      await sleep(500);
      const op = await withOperator(cluster, client, `bench-operator-${size}`);
      results.row({
        job: `operator, ${size} kwok nodes, apply → Ready`,
        unit: 'ms',
        ours: op.elapsed,
        baseline: base,
        baselineName: 'kubectl apply --server-side + rollout status',
        ...(size >= 500 ? { target: 1.05 } : {}),
        since,
        detail: {
          operatorPeakRssMiB: Math.round(op.rss / 2 ** 20),
          apiRequests: op.requests,
          reconciles: op.reconciles,
        },
      });
    }
  } finally {
    client.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1]))
  await run({ smoke: process.argv.includes('--smoke') });
