/**
 * The whole system on real nodes, installed the way the README tells a user:
 * images built from the repository's Dockerfile (e2e/images), a control plane
 * with kubelet + containerd nodes, the APIC simulator on the host bridge,
 * `kubectl apply --server-side -k .`, the credentials Secrets, an AciFabric
 * pointed at the simulator, then CoreDNS as a cluster add-on. Shared by the
 * real-node e2e test, the demo and the node benchmark; it only waits for
 * what production does, it never does the operator's work.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { ApicClient } from '../../agents/controller/apic/client.ts';
import { AciFabricSpec } from '../../crds/index.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { OperatorName, OperatorNamespace } from '../../operator/render/install.ts';
import { Cluster, freePort } from '../cluster/cluster.ts';
import { clusterDnsIP, clusterDomain } from '../cluster/node-config.ts';
import { ensureImages, type ImageArchives } from '../images/images.ts';
import { bridgeDomainsOfFabric, vxlanOfFabric } from '../leaf-simulator/fabric.ts';
import { nodeVtep } from '../../agents/host/node-agents.ts';
import { seedFabricPrerequisites } from './apic-admin.ts';
import { eventually } from './cluster.ts';
import { repoRoot } from './paths.ts';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface Fabric extends KubeObject {
  spec: Record<string, unknown> & { namespace: string };
  status?: { conditions?: Condition[] };
}

export interface ApicEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  caPem: string;
}

export interface RealEnvironment {
  cluster: Cluster;
  client: KubeClient;
  images: ImageArchives;
  apic: ApicEndpoint;
  fabric: Fabric;
  kubectl(args: string[], input?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface RealEnvironmentOptions {
  dir: string;
  nodes?: number;
  /** `spec.aci.vmmDomain.encapType` of the fabric: how pod traffic reaches the leaf. */
  encapType?: 'vlan' | 'vxlan';
  /** A test's own edit of the AciFabric before it is applied (as a user edits the sample). */
  editFabric?: (fabric: Fabric) => void;
  /** More arguments for the leaf simulator (e2e/leaf-simulator/cli.ts), e.g. its OpFlex server. */
  leafArgs?: string[];
  log?: (line: string) => void;
}

/** What nodes run; the debian and node images are only the Dockerfile's bases. */
export const nodeImageNames = ['pause', 'aci-containers', 'busybox', 'agnhost', 'coredns'] as const;

const tsx = (file: string, ...args: string[]) => [
  '--import',
  'tsx',
  path.join(repoRoot, file),
  ...args,
];

/** Builds (or finds) the images, starts the cluster with real nodes and the APIC simulator. */
export async function startRealCluster(
  options: RealEnvironmentOptions,
): Promise<{ cluster: Cluster; images: ImageArchives; apic: ApicEndpoint }> {
  const log = options.log ?? (() => {});
  const images = await ensureImages(log);
  const cluster = await Cluster.start({
    dir: options.dir,
    nodes: 0,
    realNodes: options.nodes ?? 2,
    nodeImages: nodeImageNames.map((name) => images[name].archive),
    log,
  });
  const network = cluster.network;
  if (!network) throw new Error('the cluster has no node network');
  const apic = await launchApicSimulator(cluster, network.gateway);
  return { cluster, images, apic };
}

/**
 * The APIC simulator as a cluster component (so `cluster:down` stops it), on
 * `host` with a fresh password; resolves once it has printed its CA.
 */
export async function launchApicSimulator(
  cluster: Cluster,
  host: string,
): Promise<ApicEndpoint & { caPath: string }> {
  const apic = {
    host,
    port: await freePort(),
    user: 'kube-pod1',
    password: randomBytes(12).toString('hex'),
  };
  await cluster.launch(
    'apic-simulator',
    process.execPath,
    tsx(
      'e2e/apic-simulator/cli.ts',
      `--host=${apic.host}`,
      `--port=${apic.port}`,
      `--user=${apic.user}`,
      `--password=${apic.password}`,
    ),
  );
  const simulatorLog = path.join(cluster.logDir, 'apic-simulator.log');
  const caPath = await eventually(
    async () =>
      /CA certificate: (.*)/
        .exec(await readFile(simulatorLog, 'utf8').catch(() => ''))?.[1]
        ?.trim(),
    'the APIC simulator to start',
  );
  return { ...apic, caPem: await readFile(caPath, 'utf8'), caPath };
}

/** The sample AciFabric as a user edits it for this fabric: the simulator's address, password login. */
export async function testFabric(
  cluster: Cluster,
  apic: ApicEndpoint,
  encapType: 'vlan' | 'vxlan',
): Promise<Fabric> {
  const fabric = parse(
    await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
  ) as Fabric & { spec: Record<string, Record<string, unknown>> };
  const network = cluster.network;
  if (!network) throw new Error('the cluster has no node network');
  fabric.spec.apic = {
    ...fabric.spec.apic,
    hosts: [`${apic.host}:${apic.port}`],
    credentials: { method: 'Password', secretRef: { name: 'aci-apic-credentials' } },
  };
  const [podBase = '', podLength = ''] = network.podSubnet.split('/');
  fabric.spec.network = {
    ...fabric.spec.network,
    nodeSubnet: `${network.gateway}/${network.prefixLength}`,
    podSubnets: [`${podBase.replace(/\.0$/, '.1')}/${podLength}`],
  };
  const aci = fabric.spec.aci as { vmmDomain: Record<string, unknown> };
  aci.vmmDomain = {
    ...aci.vmmDomain,
    encapType,
    ...(encapType === 'vlan' ? { vlanPool: { start: 3000, end: 3099 } } : {}),
  };
  return fabric;
}

/**
 * The simulated leaf every node's uplink (eth1) is cabled to, with the
 * fabric's bridge domains; a cluster component, so `cluster:down` removes it.
 */
export async function startLeaf(
  cluster: Cluster,
  fabric: Fabric,
  extraArgs: readonly string[] = [],
): Promise<void> {
  const spec = AciFabricSpec.parse(fabric.spec);
  const domains = bridgeDomainsOfFabric(spec);
  const vxlan = vxlanOfFabric(spec);
  const network = cluster.network;
  await cluster.launch(
    'leaf-simulator',
    process.execPath,
    tsx(
      'e2e/leaf-simulator/cli.ts',
      `--name=aci-leaf-${network?.id ?? 'x'}`,
      ...domains.map(
        (bd) =>
          `--bd=${bd.name}:${bd.vlan}:${bd.subnets.join(',')}` +
          (bd.vni !== undefined && bd.group !== undefined ? `:${bd.vni}:${bd.group}` : ''),
      ),
      // VXLAN: the leaf's anycast VTEP on the infra VLAN, where every node's tunnel ends.
      ...(vxlan
        ? [`--vxlan=${vxlan.anycastVtep}:${vxlan.infraVlan}:${vxlan.udpPort ?? 8472}`]
        : []),
      // With VXLAN the leaf knows each node's VTEP (ACI's from the infra DHCP lease it serves;
      // here the address the host agent derives from the node's, nodeVtep).
      ...cluster.realNodes.map(
        (node) =>
          `--node=${node.name}=/run/netns/${node.netns}:eth1` +
          (vxlan ? `:${nodeVtep({ nodeIPs: [node.ip] }).split('/')[0] ?? ''}` : ''),
      ),
      // Routes the pod subnets to this machine's namespace, where the API server and the APIC are.
      ...(network
        ? [
            `--l3out=${network.bridge}:acil3-${network.id}:${network.leafAddress}/${network.prefixLength}:${network.gateway}`,
          ]
        : []),
      ...extraArgs,
    ),
  );
  const leafLog = path.join(cluster.logDir, 'leaf-simulator.log');
  await eventually(
    async () => (await readFile(leafLog, 'utf8').catch(() => '')).includes('L3Out '),
    `the leaf simulator to cable ${cluster.realNodes.length} nodes (log ${leafLog})`,
    60_000,
  );
}

/**
 * The README's install: the kustomization, the fabric's namespace with its
 * Secrets, the APIC prerequisites an admin creates, the AciFabric; then
 * waits for Ready as `kubectl wait` would.
 */
export async function installAsReadme(
  cluster: Cluster,
  apic: ApicEndpoint,
  fabric: Fabric,
  log: (line: string) => void = () => {},
): Promise<void> {
  const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
  log('kubectl apply --server-side -k .');
  await kubectl(['apply', '--server-side', '--force-conflicts', '-k', repoRoot]);
  await kubectl([
    '-n',
    OperatorNamespace,
    'rollout',
    'status',
    `deployment/${OperatorName}`,
    '--timeout=300s',
  ]);
  const namespace = fabric.spec.namespace;
  // The install made the namespace (with the operator's Role in it); the user adds the Secrets.
  log(`Secrets aci-apic-credentials and aci-apic-ca in ${namespace}`);
  await kubectl([
    '-n',
    namespace,
    'create',
    'secret',
    'generic',
    'aci-apic-credentials',
    `--from-literal=username=${apic.user}`,
    `--from-literal=password=${apic.password}`,
  ]);
  const caFile = path.join(cluster.dir, 'apic-ca.crt');
  await writeFile(caFile, apic.caPem);
  await kubectl([
    '-n',
    namespace,
    'create',
    'secret',
    'generic',
    'aci-apic-ca',
    `--from-file=ca.crt=${caFile}`,
  ]);
  const admin = new ApicClient({
    hosts: [`${apic.host}:${apic.port}`],
    user: apic.user,
    password: apic.password,
    caPem: apic.caPem,
    logger: pino({ level: 'warn' }),
  });
  try {
    log(
      `APIC prerequisites: ${await seedFabricPrerequisites(admin, AciFabricSpec.parse(fabric.spec))}`,
    );
  } finally {
    admin.close();
  }
  log(`kubectl apply -f acifabric.yaml (${fabric.metadata.name})`);
  await kubectl(['apply', '-f', '-'], stringify(fabric));
  await kubectl([
    'wait',
    '--for=condition=Ready',
    `acifabric/${fabric.metadata.name}`,
    '--timeout=600s',
  ]);
}

/** CoreDNS as the cluster DNS add-on (kube-system/kube-dns at the kubelets' clusterDNS address). */
export function clusterDnsObjects(image: string): KubeObject[] {
  const labels = { 'k8s-app': 'kube-dns' };
  const meta = (name: string) => ({ name, namespace: 'kube-system', labels });
  const corefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('coredns') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns', labels },
      rules: [
        {
          apiGroups: [''],
          resources: ['services', 'pods', 'namespaces'],
          verbs: ['list', 'watch'],
        },
        {
          apiGroups: ['discovery.k8s.io'],
          resources: ['endpointslices'],
          verbs: ['list', 'watch'],
        },
      ],
    } as KubeObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns', labels },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'system:coredns',
      },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('coredns'),
      data: { Corefile: corefile },
    } as KubeObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('coredns'),
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            dnsPolicy: 'Default',
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
            containers: [
              {
                name: 'coredns',
                image,
                imagePullPolicy: 'IfNotPresent',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    } as KubeObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('kube-dns'),
      spec: {
        selector: labels,
        clusterIP: clusterDnsIP,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    } as KubeObject,
  ];
}

export async function deployClusterDns(cluster: Cluster, images: ImageArchives): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: clusterDnsObjects(images.coredns.ref) };
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(list));
  await cluster.kubectl([
    '-n',
    'kube-system',
    'rollout',
    'status',
    'deployment/coredns',
    '--timeout=300s',
  ]);
}

/** Everything above, in order: what `npm run demo` and the real-node test start from. */
export async function startRealEnvironment(
  options: RealEnvironmentOptions,
): Promise<RealEnvironment> {
  const log = options.log ?? (() => {});
  const { cluster, images, apic } = await startRealCluster(options);
  const fabric = await testFabric(cluster, apic, options.encapType ?? 'vlan');
  options.editFabric?.(fabric);
  try {
    await startLeaf(cluster, fabric, options.leafArgs);
    await installAsReadme(cluster, apic, fabric, log);
    await deployClusterDns(cluster, images);
  } catch (error) {
    log(await cluster.logTails(40));
    throw error;
  }
  return {
    cluster,
    client: KubeClient.fromFile(cluster.kubeconfig),
    images,
    apic,
    fabric,
    kubectl: (args, input) => cluster.kubectl(args, input),
    stop: () => cluster.stop(),
  };
}
