/**
 * The operator against the real control plane with kwok nodes, installed as
 * a user would (`kubectl apply --server-side -k .`) and running with its own
 * service account's token, so its RBAC is exercised for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { parse } from 'yaml';
import { readFile } from 'node:fs/promises';
import { KubeClient } from '../lib/kube/client.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import {
  ensureCrds,
  eventually,
  testClient,
  testCluster,
  uniqueName,
} from '../e2e/support/cluster.ts';
import { repoRoot } from '../e2e/support/paths.ts';
import { kwokNode } from '../e2e/cluster/cluster.ts';
import type { Condition } from '../lib/kube/conditions.ts';
import { AddressAllocator } from '../agents/controller/ipam/addresses.ts';
import { ChunkAllocator } from '../agents/controller/ipam/chunks.ts';
import { IpamLedger, type NodeAllocation } from '../agents/controller/ipam/ledger.ts';
import { AciFabricSpec } from '../crds/index.ts';
import { IpamLedgerName } from '../lib/config/naming.ts';
import { startOperator, type OperatorHandle } from './manager.ts';
import { OperatorName, OperatorNamespace, fabricNamespaceInstall } from './render/install.ts';
import {
  Annotations,
  ConfigMapName,
  ControllerName,
  Finalizer,
  HostAgentAccount,
  HostAgentName,
  OpenvswitchName,
} from './render/names.ts';

interface Fabric extends KubeObject {
  spec: Record<string, any>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    components?: Record<string, { summary: string }>;
  };
}

const fabricName = uniqueName('fabric');
const systemNamespace = uniqueName('aci-system');
const leaseName = uniqueName('operator-lease');
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let operatorClient: KubeClient;
let operatorKubeconfig: string;
let operator: OperatorHandle | undefined;

const fabricRef = { apiVersion: 'aci.cni.dev/v1alpha1', kind: 'AciFabric', name: fabricName };
const ns = (kind: string, name: string, apiVersion = 'apps/v1') => ({
  apiVersion,
  kind,
  namespace: systemNamespace,
  name,
});

/**
 * This file's own kwok nodes, which its fabrics' DaemonSets select: other test files add
 * hundreds of nodes to the shared cluster at times (the IPAM test adds 200), and a rolling
 * update over all of them, one node at a time, outlasts any wait here.
 */
const nodeLabel = { 'e2e.aci.cni.dev/operator-test': fabricName };
const ownNodes = [0, 1, 2].map((i) => `${fabricName}-node-${i}`);

async function sampleFabric(name: string): Promise<Fabric> {
  const sample = parse(
    await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
  ) as Fabric;
  const components = (sample.spec.components ?? {}) as Record<string, Record<string, unknown>>;
  return {
    ...sample,
    metadata: { name },
    spec: {
      ...sample.spec,
      namespace: systemNamespace,
      components: {
        ...components,
        hostAgent: { ...components.hostAgent, nodeSelector: nodeLabel },
        openvswitch: { ...components.openvswitch, nodeSelector: nodeLabel },
      },
    },
  };
}

function condition(fabric: Fabric | undefined, type: string): Condition | undefined {
  return fabric?.status?.conditions?.find((c) => c.type === type);
}

async function readFabric(name = fabricName): Promise<Fabric | undefined> {
  return (await testClient()).read<Fabric>({ ...fabricRef, name });
}

async function waitReady(what: string, generation?: number): Promise<Fabric> {
  let last = 'no status yet';
  try {
    return await eventually(
      async () => {
        const fabric = await readFabric();
        const ready = condition(fabric, 'Ready');
        last = `Ready=${ready?.status} ${ready?.reason}: ${ready?.message}; observedGeneration ${fabric?.status?.observedGeneration}, want ${generation ?? 'any'}`;
        return ready?.status === 'True' &&
          (generation === undefined || fabric?.status?.observedGeneration === generation)
          ? fabric
          : undefined;
      },
      what,
      120_000,
    );
  } catch (error) {
    // What the operator last reported says which part it was waiting for.
    throw new Error(`${(error as Error).message}; last seen: ${last}`, { cause: error });
  }
}

/** A kubeconfig that authenticates as the operator's service account (TokenRequest). */
async function serviceAccountKubeconfig(): Promise<string> {
  const cluster = await testCluster();
  const token = (
    await cluster.kubectl([
      'create',
      'token',
      OperatorName,
      '-n',
      OperatorNamespace,
      '--duration=2h',
    ])
  ).trim();
  const file = path.join(os.tmpdir(), `${uniqueName('operator')}.kubeconfig`);
  const ca = path.join(cluster.dir, 'pki', 'ca.crt');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: e2e, cluster: {server: "${cluster.serverUrl}", certificate-authority: "${ca}"}}]`,
      `users: [{name: operator, user: {token: "${token}"}}]`,
      'contexts: [{name: operator, context: {cluster: e2e, user: operator}}]',
      'current-context: operator',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

function startInProcess(identity: string): Promise<OperatorHandle> {
  return startOperator({
    client: operatorClient,
    log: log.child({ identity }),
    namespace: OperatorNamespace,
    leaseName,
    identity,
    leaseDurationSeconds: 4,
    healthPort: 0,
    fabricNamespace: systemNamespace,
    cleanupTimeoutMs: 5000,
    resyncMs: 30_000,
  });
}

test.before(async () => {
  const cluster = await testCluster();
  const admin = await testClient();
  await ensureCrds(admin);
  for (const name of ownNodes) {
    const node = kwokNode(name) as KubeObject & { metadata: { labels?: Record<string, string> } };
    node.metadata.labels = { ...node.metadata.labels, ...nodeLabel };
    await admin.apply(node, { fieldManager: 'aci-e2e' });
  }
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-k', repoRoot]);
  operatorKubeconfig = await serviceAccountKubeconfig();
  operatorClient = KubeClient.fromFile(operatorKubeconfig);
  // A fabric namespace other than the default, as a user would install it: the namespace, the
  // operator's Role in it and its right to that Namespace object (the install's own builder).
  for (const object of fabricNamespaceInstall(systemNamespace))
    await admin.apply(object, { fieldManager: 'aci-e2e' });
  await admin.apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'aci-apic-credentials', namespace: systemNamespace },
      stringData: { username: 'kube-pod1', privateKey: 'test key, never logged' },
    },
    { fieldManager: 'aci-e2e' },
  );
  await admin.apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'aci-apic-ca', namespace: systemNamespace },
      stringData: { 'ca.crt': 'test CA' },
    },
    { fieldManager: 'aci-e2e' },
  );
  operator = await startInProcess('first');
});

test.after.always(async () => {
  await operator?.stop();
  const admin = await testClient();
  const fabric = await readFabric();
  if (fabric) {
    await admin.delete(fabricRef);
    await eventually(
      async () => (await readFabric()) === undefined,
      'the fabric to be gone',
      60_000,
    ).catch(() => undefined);
  }
  await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: systemNamespace });
  for (const name of ownNodes) await admin.delete({ apiVersion: 'v1', kind: 'Node', name });
  operatorClient?.close();
});

test.serial('kubectl apply -k . installs the operator with its least-privilege RBAC', async (t) => {
  const admin = await testClient();
  t.truthy(
    await admin.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: OperatorNamespace,
      name: OperatorName,
    }),
  );
  t.truthy(
    await admin.read({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      name: OperatorName,
    }),
  );
  // Secrets only in the fabric namespace (its Role there watches the referenced ones): none
  // elsewhere, neither listed nor read.
  await operatorClient.list('v1', 'Secret', {
    namespace: systemNamespace,
    fieldSelector: 'metadata.name=aci-apic-credentials',
  });
  for (const namespace of ['kube-system', OperatorNamespace])
    await t.throwsAsync(operatorClient.list('v1', 'Secret', { namespace }), {
      message: /forbidden/i,
    });
});

test.serial(
  'an AciFabric becomes Ready with every component rolled out on the 3 kwok nodes',
  async (t) => {
    const cluster = await testCluster();
    await (await testClient()).apply(await sampleFabric(fabricName), { fieldManager: 'aci-e2e' });
    await cluster.kubectl([
      'wait',
      '--for=condition=Ready',
      `acifabric/${fabricName}`,
      '--timeout=120s',
    ]);
    const fabric = await waitReady('Ready');
    t.is(fabric.status?.components?.hostAgent?.summary, '3/3');
    t.is(fabric.status?.components?.openvswitch?.summary, '3/3');
    t.is(fabric.status?.components?.controller?.summary, '1/1');
    t.true(fabric.metadata.finalizers?.includes(Finalizer));
    const table = await cluster.kubectl(['get', 'acifabric', fabricName]);
    t.regex(table, /READY\s+CONTROLLER\s+HOST AGENTS\s+OVS\s+AGE/);
    t.regex(table, new RegExp(`${fabricName}\\s+True\\s+1/1\\s+3/3\\s+3/3`));
    const events = await cluster.kubectl([
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      `involvedObject.name=${fabricName}`,
      '-o',
      'name',
    ]);
    t.true(events.trim().split('\n').length >= 10, 'an Event for each object created');
    const managers = (
      await (await testClient()).get<KubeObject>(ns('DaemonSet', HostAgentName))
    ).metadata.managedFields?.map((m) => m.manager);
    t.true(managers?.includes('aci-operator'));
  },
);

const driftCases: {
  name: string;
  ref: ReturnType<typeof ns>;
  damage: (client: KubeClient) => Promise<unknown>;
  repaired: (o: any) => boolean;
}[] = [
  {
    name: 'controller Deployment deleted',
    ref: ns('Deployment', ControllerName),
    damage: (c) => c.delete(ns('Deployment', ControllerName)),
    repaired: (o) => o !== undefined && !o.metadata.deletionTimestamp,
  },
  {
    name: 'host DaemonSet image edited',
    ref: ns('DaemonSet', HostAgentName),
    damage: (c) =>
      c.jsonPatch(ns('DaemonSet', HostAgentName), [
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'evil:latest' },
      ]),
    repaired: (o) => o?.spec.template.spec.containers[0].image !== 'evil:latest',
  },
  {
    name: 'ConfigMap deleted',
    ref: ns('ConfigMap', ConfigMapName, 'v1'),
    damage: (c) => c.delete(ns('ConfigMap', ConfigMapName, 'v1')),
    repaired: (o) => o !== undefined && !o.metadata.deletionTimestamp,
  },
  {
    name: 'ClusterRole rules edited',
    ref: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      name: HostAgentAccount,
    } as ReturnType<typeof ns>,
    damage: (c) =>
      c.mergePatch(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: HostAgentAccount },
        { rules: [] },
      ),
    repaired: (o) => (o?.rules?.length ?? 0) > 0,
  },
  {
    name: 'openvswitch DaemonSet deleted',
    ref: ns('DaemonSet', OpenvswitchName),
    damage: (c) => c.delete(ns('DaemonSet', OpenvswitchName)),
    repaired: (o) => o !== undefined && !o.metadata.deletionTimestamp,
  },
];

for (const drift of driftCases) {
  test.serial(`drift repair: ${drift.name} is restored`, async (t) => {
    const admin = await testClient();
    const before = await admin.get<KubeObject>(drift.ref);
    await drift.damage(admin);
    await eventually(
      async () => {
        const now = await admin.read<KubeObject>(drift.ref);
        return (
          now &&
          now.metadata.uid !== undefined &&
          drift.repaired(now) &&
          (now.metadata.uid !== before.metadata.uid ||
            now.metadata.resourceVersion !== before.metadata.resourceVersion)
        );
      },
      `${drift.name} to be repaired`,
      30_000,
    );
    await waitReady('Ready after repair');
    t.pass();
  });
}

test.serial(
  'an image tag change rolls out, and a config change rolls only its consumers',
  async (t) => {
    const admin = await testClient();
    const hashOf = async (kind: string, name: string) =>
      (await admin.get<any>(ns(kind, name))).spec.template.metadata.annotations[
        Annotations.configHash
      ] as string;
    const controllerHash = await hashOf('Deployment', ControllerName);
    const hostHash = await hashOf('DaemonSet', HostAgentName);
    const tagged = await admin.mergePatch<Fabric>(fabricRef, {
      spec: { images: { tag: '0.1.1' } },
    });
    await eventually(async () => {
      const ds = await admin.get<any>(ns('DaemonSet', HostAgentName));
      return ds.spec.template.spec.containers.every((c: { image: string }) =>
        c.image.endsWith(':0.1.1'),
      );
    }, 'the new image in the host DaemonSet');
    await waitReady('Ready after the image change', tagged.metadata.generation);
    const logged = await admin.mergePatch<Fabric>(fabricRef, {
      spec: { logging: { hostAgent: 'debug' } },
    });
    await eventually(
      async () => (await hashOf('DaemonSet', HostAgentName)) !== hostHash,
      'the host config hash to change',
    );
    await waitReady('Ready after the config change', logged.metadata.generation);
    t.is(
      await hashOf('Deployment', ControllerName),
      controllerHash,
      'the controller does not restart for host-agent config',
    );
    const config = await admin.get<any>(ns('ConfigMap', ConfigMapName, 'v1'));
    t.is(JSON.parse(config.data['host-agent-config']).logLevel, 'debug');
  },
);

test.serial(
  'a missing credentials Secret degrades the fabric and changes nothing that runs',
  async (t) => {
    const admin = await testClient();
    const before = await admin.get<KubeObject>(ns('Deployment', ControllerName));
    const broken = await admin.mergePatch<Fabric>(fabricRef, {
      spec: { apic: { credentials: { secretRef: { name: 'does-not-exist' } } } },
    });
    const degraded = await eventually(async () => {
      const fabric = await readFabric();
      const c = condition(fabric, 'Degraded');
      return c?.status === 'True' && c.observedGeneration === broken.metadata.generation
        ? c
        : undefined;
    }, 'Degraded');
    t.is(degraded.reason, 'CredentialsInvalid');
    t.regex(degraded.message, /does-not-exist/);
    t.is(condition(await readFabric(), 'Ready')?.status, 'False');
    const after = await admin.get<any>(ns('Deployment', ControllerName));
    t.is(
      after.metadata.generation,
      before.metadata.generation,
      'the controller Deployment was not touched',
    );
    t.is(
      after.spec.template.spec.volumes.find((v: any) => v.name === 'apic-credentials').secret
        .secretName,
      'aci-apic-credentials',
    );
    const fixed = await admin.mergePatch<Fabric>(fabricRef, {
      spec: { apic: { credentials: { secretRef: { name: 'aci-apic-credentials' } } } },
    });
    await waitReady('Ready after the fix', fixed.metadata.generation);
    t.is(condition(await readFabric(), 'Degraded')?.status, 'False');
  },
);

/** Waits for Degraded=True at the given generation and returns the condition. */
async function waitDegraded(what: string, generation?: number, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const c = condition(await readFabric(), 'Degraded');
      return c?.status === 'True' &&
        (generation === undefined || c.observedGeneration === generation)
        ? c
        : undefined;
    },
    what,
    timeoutMs,
  );
}

test.serial(
  'the credentials Secret deleted while Ready is noticed within seconds (Degraded); recreated, Ready again',
  async (t) => {
    const admin = await testClient();
    const secretRef = {
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: systemNamespace,
      name: 'aci-apic-credentials',
    };
    const secret = await admin.get<KubeObject & { data?: Record<string, string> }>(secretRef);
    const ready = await waitReady('Ready before the Secret goes');
    const before = await admin.get<KubeObject>(ns('Deployment', ControllerName));
    await admin.delete(secretRef);
    // Nothing but the Secret changed: only its watch can wake the fabric this soon (the
    // resync is 30 s away at best, 0 s at worst).
    const degraded = await waitDegraded('Degraded after the Secret was deleted', undefined, 10_000);
    t.is(degraded.reason, 'CredentialsInvalid');
    t.regex(
      degraded.message,
      new RegExp(`Secret ${systemNamespace}/aci-apic-credentials .*does not exist`),
    );
    t.is((await readFabric())?.metadata.generation, ready.metadata.generation);
    t.is(
      (await admin.get<KubeObject>(ns('Deployment', ControllerName))).metadata.resourceVersion,
      before.metadata.resourceVersion,
      'the controller Deployment was not touched',
    );
    // Recreated without its key: still Degraded, now naming the key.
    await admin.create({
      ...secret,
      metadata: { name: secretRef.name, namespace: systemNamespace },
      data: { username: secret.data!.username! },
    });
    await eventually(
      async () => /lacks privateKey/.test(condition(await readFabric(), 'Degraded')?.message ?? ''),
      'Degraded naming the missing key',
      10_000,
    );
    await admin.mergePatch(secretRef, { data: { privateKey: secret.data!.privateKey } });
    await eventually(
      async () => condition(await readFabric(), 'Ready')?.status === 'True',
      'Ready again once the Secret is whole',
      10_000,
    );
    t.is(condition(await readFabric(), 'Degraded')?.status, 'False');
  },
);

/**
 * Allocations as the controller commits them: its chunk and address
 * allocators over the fabric's subnets, written through its IPAM ledger
 * (a kwok node runs no controller pod, so the test plays its part).
 */
async function allocateForOwnNodes(spec: AciFabricSpec): Promise<Map<string, NodeAllocation>> {
  const chunks = new ChunkAllocator({
    podSubnets: spec.network.podSubnets,
    chunkSize: spec.network.podSubnetChunkSize,
  });
  const endpoints = new AddressAllocator([spec.network.nodeServiceSubnet]);
  const allocations = new Map<string, NodeAllocation>();
  for (const node of ownNodes) {
    chunks.ensureNode(node);
    allocations.set(node, {
      chunks: chunks.chunksOf(node).map((c) => c.cidr),
      serviceEndpoint: endpoints.allocate(node, 4)!.text,
    });
  }
  const ledger = new IpamLedger(await testClient(), systemNamespace);
  await ledger.load();
  await ledger.commit(allocations);
  return allocations;
}

const ledgerRef = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  namespace: systemNamespace,
  name: IpamLedgerName,
};

for (const refused of [
  {
    field: 'spec.network.podSubnetChunkSize',
    change: { podSubnetChunkSize: 64 },
    names: (a: NodeAllocation) => a.chunks[0]!,
  },
  {
    field: 'spec.network.nodeServiceSubnet',
    change: { nodeServiceSubnet: '10.5.0.0/31' },
    names: (a: NodeAllocation) => a.serviceEndpoint!,
  },
]) {
  test.serial(
    `${refused.field} changed under allocations that do not fit it: Degraded naming the field, nothing changed`,
    async (t) => {
      const admin = await testClient();
      const current = await waitReady('Ready before the change');
      const spec = AciFabricSpec.parse(current.spec);
      const allocations = await allocateForOwnNodes(spec);
      t.teardown(() => admin.delete(ledgerRef));
      const config = await admin.get<KubeObject & { data: Record<string, string> }>(
        ns('ConfigMap', ConfigMapName, 'v1'),
      );
      const controller = await admin.get<KubeObject>(ns('Deployment', ControllerName));
      const changed = await admin.mergePatch<Fabric>(fabricRef, {
        spec: { network: refused.change },
      });
      const degraded = await waitDegraded(
        'Degraded for the allocations',
        changed.metadata.generation,
      );
      t.is(degraded.reason, 'ConflictsWithAllocations');
      t.true(degraded.message.startsWith(`${refused.field}: `), degraded.message);
      const [node, allocation] = [...allocations][0]!;
      t.true(
        degraded.message.includes(`${refused.names(allocation)} on ${node}`),
        degraded.message,
      );
      t.is(condition(await readFabric(), 'Ready')?.status, 'False');
      // The running configuration stays: not a field of the ConfigMap or the controller changed.
      t.is(
        (await admin.get<KubeObject>(ns('ConfigMap', ConfigMapName, 'v1'))).metadata
          .resourceVersion,
        config.metadata.resourceVersion,
      );
      t.is(
        (await admin.get<KubeObject>(ns('Deployment', ControllerName))).metadata.resourceVersion,
        controller.metadata.resourceVersion,
      );
      const reverted = await admin.mergePatch<Fabric>(fabricRef, {
        spec: {
          network: {
            podSubnetChunkSize: spec.network.podSubnetChunkSize,
            nodeServiceSubnet: spec.network.nodeServiceSubnet,
          },
        },
      });
      await waitReady('Ready after the revert', reverted.metadata.generation);
      t.is(condition(await readFabric(), 'Degraded')?.status, 'False');
    },
  );
}

test.serial('a network change the allocations allow is applied', async (t) => {
  const admin = await testClient();
  const current = await waitReady('Ready before the change');
  const spec = AciFabricSpec.parse(current.spec);
  await allocateForOwnNodes(spec);
  t.teardown(() => admin.delete(ledgerRef));
  // Still holds the three endpoints (10.5.0.2-4 after the gateway 10.5.0.1).
  const narrowed = await admin.mergePatch<Fabric>(fabricRef, {
    spec: { network: { nodeServiceSubnet: '10.5.0.1/28' } },
  });
  await waitReady('Ready with the narrower subnet', narrowed.metadata.generation);
  const config = await admin.get<any>(ns('ConfigMap', ConfigMapName, 'v1'));
  t.is(JSON.parse(config.data['controller-config']).network.nodeServiceSubnet, '10.5.0.1/28');
  const restored = await admin.mergePatch<Fabric>(fabricRef, {
    spec: { network: { nodeServiceSubnet: spec.network.nodeServiceSubnet } },
  });
  await waitReady('Ready with the subnet restored', restored.metadata.generation);
});

test.serial(
  'the API server rejects an invalid change and the running fabric keeps its spec',
  async (t) => {
    const admin = await testClient();
    const before = await readFabric();
    await t.throwsAsync(
      admin.mergePatch(fabricRef, { spec: { network: { podSubnetChunkSize: 48 } } }),
      {
        message: /spec.network.podSubnetChunkSize/,
      },
    );
    t.is((await readFabric())?.metadata.generation, before?.metadata.generation);
  },
);

test.serial('a second AciFabric reports Duplicate and is otherwise ignored', async (t) => {
  const admin = await testClient();
  const second = uniqueName('second');
  await admin.apply(await sampleFabric(second), { fieldManager: 'aci-e2e' });
  const duplicate = await eventually(async () => {
    const c = condition(await readFabric(second), 'Ready');
    return c?.reason === 'Duplicate' ? c : undefined;
  }, 'the Duplicate condition');
  t.is(duplicate.status, 'False');
  t.false((await readFabric(second))?.metadata.finalizers?.includes(Finalizer) ?? false);
  await admin.delete({ ...fabricRef, name: second });
  await eventually(
    async () => (await readFabric(second)) === undefined,
    'the duplicate to be deleted',
  );
  t.is(condition(await readFabric(), 'Ready')?.status, 'True');
});

test.serial(
  'two replicas never both lead, and the standby takes over and keeps reconciling',
  async (t) => {
    const standby = await startInProcess('second');
    t.teardown(() => standby.stop());
    await new Promise((resolve) => setTimeout(resolve, 2000));
    t.true(operator?.isLeader());
    t.false(standby.isLeader());
    await operator?.stop();
    operator = standby;
    await eventually(async () => standby.isLeader(), 'the standby to lead', 30_000);
    const admin = await testClient();
    await admin.delete(ns('ConfigMap', ConfigMapName, 'v1'));
    await eventually(
      async () => admin.read(ns('ConfigMap', ConfigMapName, 'v1')),
      'the new leader to repair drift',
      30_000,
    );
    t.pass();
  },
);

test.serial(
  'an operator killed in the middle of a reconcile converges when it starts again',
  async (t) => {
    await operator?.stop();
    operator = undefined;
    const admin = await testClient();
    const operatorLogFile = path.join(os.tmpdir(), `${uniqueName('operator-restart')}.log`);
    const operatorLog = openSync(operatorLogFile, 'a');
    t.teardown(() => closeSync(operatorLog));
    const spawnOperator = (): ChildProcess =>
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(repoRoot, 'operator', 'main.ts'),
          `--kubeconfig=${operatorKubeconfig}`,
          `--namespace=${OperatorNamespace}`,
          '--health-port=0',
          `--fabric-namespace=${systemNamespace}`,
          '--no-leader-elect',
          '--log-level=info',
        ],
        { stdio: ['ignore', operatorLog, operatorLog] },
      );
    const first = spawnOperator();
    t.teardown(async () => {
      // Its own words are the only account of why a restarted operator did not converge.
      if (!t.passed)
        t.log((await readFile(operatorLogFile, 'utf8')).split('\n').slice(-40).join('\n'));
    });
    const changed = await admin.mergePatch<Fabric>(fabricRef, {
      spec: { images: { tag: '0.1.2' } },
    });
    // Kill it as soon as it starts writing the change.
    await eventually(
      async () => {
        const ds = await admin.get<any>(ns('DaemonSet', HostAgentName));
        const deploy = await admin.get<any>(ns('Deployment', ControllerName));
        return (
          ds.spec.template.spec.containers[0].image.endsWith(':0.1.2') ||
          deploy.spec.template.spec.containers[0].image.endsWith(':0.1.2')
        );
      },
      'the operator to start applying',
      60_000,
      20,
    );
    first.kill('SIGKILL');
    const second = spawnOperator();
    t.teardown(() => void second.kill('SIGTERM'));
    await waitReady('Ready after the restart', changed.metadata.generation);
    for (const [kind, name] of [
      ['Deployment', ControllerName],
      ['DaemonSet', HostAgentName],
      ['DaemonSet', OpenvswitchName],
    ] as const) {
      const workload = await admin.get<any>(ns(kind, name));
      t.true(
        workload.spec.template.spec.containers.every((c: { image: string }) =>
          c.image.endsWith(':0.1.2'),
        ),
        `${kind} ${name}`,
      );
    }
    second.kill('SIGTERM');
    await new Promise((resolve) => second.once('exit', resolve));
    operator = await startInProcess('third');
  },
);

test.serial(
  'deleting the AciFabric removes everything it created, keeping the namespace and its Secrets',
  async (t) => {
    const admin = await testClient();
    await admin.delete(fabricRef);
    await eventually(
      async () => (await readFabric()) === undefined,
      'the finalizer to finish',
      60_000,
    );
    await eventually(
      async () =>
        (await admin.read({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          name: HostAgentAccount,
        })) === undefined,
      'cluster roles gone',
    );
    await eventually(
      async () =>
        (await admin.read(ns('Deployment', ControllerName))) === undefined &&
        (await admin.read(ns('DaemonSet', HostAgentName))) === undefined &&
        (await admin.read(ns('ConfigMap', ConfigMapName, 'v1'))) === undefined,
      'namespaced objects garbage-collected',
      90_000,
    );
    t.truthy(await admin.read({ apiVersion: 'v1', kind: 'Namespace', name: systemNamespace }));
    t.truthy(
      await admin.read({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: systemNamespace,
        name: 'aci-apic-credentials',
      }),
    );
  },
);
