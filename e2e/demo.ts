/**
 * The demo: a real local control plane with kwok nodes, the operator
 * installed from kustomization.yaml and running as a local process (no image
 * can run here), the sample AciFabric applied, progress shown until Ready,
 * then what `kubectl get` shows. Everything keeps running afterwards;
 * `npm run cluster:down` stops it.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { Cluster, sleep } from './cluster/cluster.ts';
import { ensureCrds } from './support/cluster.ts';
import { defaultClusterDir, repoRoot } from './support/paths.ts';
import { KubeClient } from '../lib/kube/client.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import { OperatorNamespace } from '../operator/render/install.ts';

const step = (text: string) => console.log(`\n==> ${text}`);

interface Fabric extends KubeObject {
  spec: { namespace: string };
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    components?: Record<string, { summary: string }>;
  };
}

step(
  'Starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok with 3 nodes)',
);
const cluster = await Cluster.start({
  dir: defaultClusterDir,
  nodes: 3,
  log: (line) => console.log(`    ${line}`),
});
const client = KubeClient.fromFile(cluster.kubeconfig);

step('Installing the CRDs and the operator: kubectl apply --server-side -k .');
await ensureCrds(client);
console.log(await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-k', repoRoot]));

step(
  'Running the operator as a local process with the cluster kubeconfig (the kwok "pod" of its Deployment runs nothing)',
);
await cluster.launch('aci-operator', process.execPath, [
  '--import',
  'tsx',
  path.join(repoRoot, 'operator', 'main.ts'),
  `--kubeconfig=${cluster.kubeconfig}`,
  `--namespace=${OperatorNamespace}`,
  '--health-port=0',
]);
console.log(`    logs: ${path.join(cluster.logDir, 'aci-operator.log')}`);

const fabric = parse(
  await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
) as Fabric;
step(`Creating namespace ${fabric.spec.namespace} and the APIC credentials Secret it references`);
await client.apply(
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: fabric.spec.namespace } },
  { fieldManager: 'demo' },
);
await client.apply(
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'aci-apic-credentials', namespace: fabric.spec.namespace },
    stringData: { username: 'kube-pod1', privateKey: 'demo key (the demo APIC accepts any)' },
  },
  { fieldManager: 'demo' },
);
await client.apply(
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'aci-apic-ca', namespace: fabric.spec.namespace },
    stringData: { 'ca.crt': 'demo CA' },
  },
  { fieldManager: 'demo' },
);

step('kubectl apply -f samples/acifabric.yaml');
console.log(
  await cluster.kubectl(['apply', '-f', path.join(repoRoot, 'samples', 'acifabric.yaml')]),
);

step('Waiting for Ready');
const started = Date.now();
let last = '';
for (;;) {
  const current = await client.read<Fabric>({
    apiVersion: 'aci.cni.dev/v1alpha1',
    kind: 'AciFabric',
    name: fabric.metadata.name,
  });
  const ready = current?.status?.conditions?.find((c) => c.type === 'Ready');
  const line = ready
    ? `Ready=${ready.status} (${ready.reason}): ${ready.message}`
    : 'no status yet';
  if (line !== last) console.log(`    [${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  last = line;
  if (ready?.status === 'True') break;
  if (Date.now() - started > 180_000)
    throw new Error(`Not Ready after 180s; see ${cluster.logDir}`);
  await sleep(500);
}

step('kubectl get acifabric');
console.log(await cluster.kubectl(['get', 'acifabric', '-o', 'wide']));
step(`kubectl get deploy,ds,pods -n ${fabric.spec.namespace} -o wide`);
console.log(
  await cluster.kubectl(['get', 'deploy,ds,pods', '-n', fabric.spec.namespace, '-o', 'wide']),
);
step('kubectl get events (what the operator did)');
console.log(
  await cluster.kubectl([
    'get',
    'events',
    '-n',
    'default',
    '--field-selector',
    'involvedObject.kind=AciFabric',
    '--sort-by=.lastTimestamp',
  ]),
);

console.log(`\nThe cluster and the operator keep running. Try:
  export KUBECONFIG=${cluster.kubeconfig}
  ${cluster.binary('kubectl')} get acifabric,pip -o wide
  ${cluster.binary('kubectl')} edit acifabric ${fabric.metadata.name}     # change images.tag and watch it roll
Stop everything with: npm run cluster:down`);
client.close();
