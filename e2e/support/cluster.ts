/**
 * What e2e test files share: the run's cluster (started by e2e/run-tests.ts),
 * a client for it, the CRDs installed once, unique names, and polling for
 * convergence (a deadline for "eventually", never a timing assertion).
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { Cluster } from '../cluster/cluster.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { repoRoot } from './paths.ts';

export async function testCluster(): Promise<Cluster> {
  const dir = process.env.ACI_CLUSTER_DIR;
  if (!dir)
    throw new Error(
      'ACI_CLUSTER_DIR is not set: run the e2e tests through `npm test`, which starts the cluster',
    );
  return Cluster.attach(dir);
}

export async function testClient(): Promise<KubeClient> {
  return KubeClient.fromFile((await testCluster()).kubeconfig);
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `Timed out after ${timeoutMs}ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

export async function readYamlDocuments(file: string): Promise<KubeObject[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split(/^---$/m)
    .map((doc) => parse(doc) as KubeObject | null)
    .filter((doc): doc is KubeObject => doc !== null && typeof doc === 'object');
}

export async function crdObjects(): Promise<KubeObject[]> {
  const dir = path.join(repoRoot, 'crds');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return (await Promise.all(files.map((f) => readYamlDocuments(path.join(dir, f))))).flat();
}

/** Installs the generated CRDs (server-side apply, idempotent) and waits until they are Established. */
export async function ensureCrds(client: KubeClient): Promise<void> {
  for (const crd of await crdObjects()) {
    await client.apply(crd, { fieldManager: 'aci-e2e', force: true });
  }
  for (const crd of await crdObjects()) {
    await eventually(async () => {
      const current = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: crd.metadata.name,
      });
      return current.status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      );
    }, `CRD ${crd.metadata.name} Established`);
  }
}
