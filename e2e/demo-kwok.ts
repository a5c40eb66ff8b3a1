/**
 * The demo without real nodes (`npm run demo -- --kwok`, or when not root): a real local control plane with kwok nodes, the operator
 * installed from kustomization.yaml and running as a local process (no image
 * can run here), the sample AciFabric pointed at the APIC simulator, the
 * controller running with the configuration the operator rendered, a
 * LoadBalancer Service, and what `kubectl get` shows. Everything keeps
 * running afterwards; `npm run cluster:down` stops it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { pino } from 'pino';
import { AciFabricSpec } from '../crds/index.ts';
import { ApicClient } from '../agents/controller/apic/client.ts';
import { KubeClient } from '../lib/kube/client.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import { controllerConfig } from '../operator/render/config.ts';
import { OperatorNamespace } from '../operator/render/install.ts';
import { Cluster, sleep } from './cluster/cluster.ts';
import { seedCustomEndpointGroups, seedFabricPrerequisites } from './support/apic-admin.ts';
import { launchApicSimulator } from './support/real-nodes.ts';
import { ensureCrds, eventually } from './support/cluster.ts';
import { defaultClusterDir, repoRoot } from './support/paths.ts';

const step = (text: string) => console.log(`\n==> ${text}`);
const tsx = (file: string, ...args: string[]) => [
  '--import',
  'tsx',
  path.join(repoRoot, file),
  ...args,
];

interface Fabric extends KubeObject {
  spec: { namespace: string };
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
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
const kubectl = async (...args: string[]) => console.log(await cluster.kubectl(args));

step('Installing the CRDs and the operator: kubectl apply --server-side -k .');
await ensureCrds(client);
await kubectl('apply', '--server-side', '--force-conflicts', '-k', repoRoot);

step(
  'Running the operator as a local process with the cluster kubeconfig (the kwok "pod" of its Deployment runs nothing)',
);
await cluster.launch(
  'aci-operator',
  process.execPath,
  tsx(
    'operator/main.ts',
    `--kubeconfig=${cluster.kubeconfig}`,
    `--namespace=${OperatorNamespace}`,
    '--health-port=0',
  ),
);
console.log(`    logs: ${path.join(cluster.logDir, 'aci-operator.log')}`);

step(
  'Starting the APIC simulator (HTTPS + websocket, the APIC REST semantics the controller uses)',
);
const apic = await launchApicSimulator(cluster, '127.0.0.1');
const { port: apicPort, user: apicUser, password: apicPassword, caPem, caPath } = apic;
console.log(`    https://127.0.0.1:${apicPort}, CA ${caPath}`);

const fabric = parse(
  await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
) as Fabric;
const fabricRef = {
  apiVersion: 'aci.cni.dev/v1alpha1',
  kind: 'AciFabric',
  name: fabric.metadata.name,
};
step(
  `Creating namespace ${fabric.spec.namespace} with the APIC credentials and CA Secrets the fabric references`,
);
await client.apply(
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: fabric.spec.namespace } },
  { fieldManager: 'demo' },
);
for (const [name, stringData] of [
  ['aci-apic-credentials', { username: apicUser, password: apicPassword }],
  ['aci-apic-ca', { 'ca.crt': caPem }],
] as const) {
  await client.apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: fabric.spec.namespace },
      stringData,
    },
    { fieldManager: 'demo', force: true },
  );
}

step(
  'Seeding the APIC with what the network admin and acc-provision create before a cluster exists',
);
const admin = new ApicClient({
  hosts: [`127.0.0.1:${apicPort}`],
  user: apicUser,
  password: apicPassword,
  caPem,
  logger: pino({ level: 'warn' }),
});
console.log(`    ${await seedFabricPrerequisites(admin, AciFabricSpec.parse(fabric.spec))}`);

step('kubectl apply -f samples/acifabric.yaml, then point it at the simulator (password login)');
await kubectl('apply', '-f', path.join(repoRoot, 'samples', 'acifabric.yaml'));
await client.mergePatch(fabricRef, {
  spec: {
    apic: {
      hosts: [`127.0.0.1:${apicPort}`],
      credentials: { method: 'Password', certificateName: null },
    },
  },
});

step('Waiting for Ready');
const started = Date.now();
let last = '';
for (;;) {
  const current = await client.read<Fabric>(fabricRef);
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

step(
  'Running aci-containers-controller as a local process with the configuration the operator rendered',
);
const live = await client.get<Fabric>(fabricRef);
const credentialsDir = path.join(cluster.dir, 'controller-credentials');
await mkdir(credentialsDir, { recursive: true, mode: 0o700 });
await writeFile(path.join(credentialsDir, 'username'), apicUser, { mode: 0o600 });
await writeFile(path.join(credentialsDir, 'password'), apicPassword, { mode: 0o600 });
const rendered = controllerConfig({
  fabric: { name: live.metadata.name, uid: live.metadata.uid ?? '' },
  spec: AciFabricSpec.parse(live.spec),
});
const controllerConfigFile = path.join(cluster.dir, 'controller.conf');
// In the cluster these paths are the mounted Secrets; here they are local files.
await writeFile(
  controllerConfigFile,
  JSON.stringify(
    { ...rendered, apic: { ...rendered.apic, credentialsDir, caBundleFile: caPath } },
    null,
    2,
  ),
);
await cluster.launch(
  'aci-controller',
  process.execPath,
  tsx(
    'agents/controller/main.ts',
    `--config=${controllerConfigFile}`,
    `--kubeconfig=${cluster.kubeconfig}`,
    '--health-port=0',
  ),
);
console.log(`    logs: ${path.join(cluster.logDir, 'aci-controller.log')}`);

step(
  'A LoadBalancer Service with 3 endpoints and the sample EndpointGroupMappings in namespace shop',
);
await client.apply(
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
  { fieldManager: 'demo' },
);
// The sample mappings name custom EPGs; on a real fabric the network admin creates those.
console.log(
  `    network admin creates the EPGs the samples map to: ${await seedCustomEndpointGroups(
    admin,
    AciFabricSpec.parse(fabric.spec),
    [
      { applicationProfile: 'kubernetes', name: 'web' },
      { applicationProfile: 'kubernetes', name: 'shop' },
    ],
  )}`,
);
admin.close();
await kubectl('apply', '-f', path.join(repoRoot, 'samples', 'endpointgroupmapping.yaml'));
await kubectl(
  '-n',
  'shop',
  'create',
  'deployment',
  'storefront',
  '--image=nginx',
  '--replicas=3',
  '--port=80',
);
await kubectl(
  '-n',
  'shop',
  'expose',
  'deployment',
  'storefront',
  '--type=LoadBalancer',
  '--port=80',
);
await eventually(
  async () => {
    const graph = await client.read<KubeObject & { status?: Fabric['status'] }>({
      apiVersion: 'aci.cni.dev/v1alpha1',
      kind: 'ServiceGraph',
      namespace: 'shop',
      name: 'storefront',
    });
    return graph?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  },
  'the ServiceGraph of shop/storefront to be synced to the APIC',
  120_000,
);
await eventually(
  async () => {
    const { items: list } = await client.list<KubeObject & { status?: Fabric['status'] }>(
      'aci.cni.dev/v1alpha1',
      'EndpointGroupMapping',
      { namespace: 'shop' },
    );
    return (
      list.length === 2 &&
      list.every((m) =>
        m.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      )
    );
  },
  'the sample EndpointGroupMappings to find their EPGs on the APIC',
  60_000,
);
console.log(
  '    PodIPPool usage stays empty: no host agent runs on kwok nodes (the real-node demo has them).',
);

step('kubectl get acifabric -o wide');
await kubectl('get', 'acifabric', '-o', 'wide');
step('kubectl get podippools (one per node: chunks and service endpoint from the controller)');
await kubectl('get', 'podippools', '-o', 'wide');
step('kubectl get servicegraphs,svc -n shop');
await kubectl('get', 'servicegraphs,svc', '-n', 'shop', '-o', 'wide');
step('kubectl get endpointgroupmappings -n shop');
await kubectl('get', 'endpointgroupmappings', '-n', 'shop', '-o', 'wide');
step(`kubectl get deploy,ds -n ${fabric.spec.namespace}`);
await kubectl('get', 'deploy,ds', '-n', fabric.spec.namespace, '-o', 'wide');
step('kubectl get events (what the operator did)');
await kubectl(
  'get',
  'events',
  '-n',
  'default',
  '--field-selector',
  'involvedObject.kind=AciFabric',
  '--sort-by=.lastTimestamp',
);

console.log(`\nThe cluster, the operator, the controller and the APIC simulator keep running. Try:
  export KUBECONFIG=${cluster.kubeconfig}
  ${cluster.binary('kubectl')} get acifabric,pip,sg,epgm -A -o wide
  ${cluster.binary('kubectl')} edit acifabric ${fabric.metadata.name}     # change images.tag and watch it roll
Logs: ${cluster.logDir}. Stop everything with: npm run cluster:down`);
client.close();
