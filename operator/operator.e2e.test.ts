/**
 * The operator against the real control plane with kwok nodes, installed as
 * a user would (`kubectl apply --server-side -k .`) and running with its own
 * service account's token, so its RBAC is exercised for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
import type { Condition } from '../lib/kube/conditions.ts';
import { startOperator, type OperatorHandle } from './manager.ts';
import { OperatorName, OperatorNamespace } from './render/install.ts';
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

async function sampleFabric(name: string): Promise<Fabric> {
  const sample = parse(
    await readFile(path.join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8'),
  ) as Fabric;
  return { ...sample, metadata: { name }, spec: { ...sample.spec, namespace: systemNamespace } };
}

function condition(fabric: Fabric | undefined, type: string): Condition | undefined {
  return fabric?.status?.conditions?.find((c) => c.type === type);
}

async function readFabric(name = fabricName): Promise<Fabric | undefined> {
  return (await testClient()).read<Fabric>({ ...fabricRef, name });
}

async function waitReady(what: string, generation?: number): Promise<Fabric> {
  return eventually(
    async () => {
      const fabric = await readFabric();
      const ready = condition(fabric, 'Ready');
      return ready?.status === 'True' &&
        (generation === undefined || fabric?.status?.observedGeneration === generation)
        ? fabric
        : undefined;
    },
    what,
    120_000,
  );
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
    cleanupTimeoutMs: 5000,
    resyncMs: 30_000,
  });
}

test.before(async () => {
  const cluster = await testCluster();
  const admin = await testClient();
  await ensureCrds(admin);
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-k', repoRoot]);
  operatorKubeconfig = await serviceAccountKubeconfig();
  operatorClient = KubeClient.fromFile(operatorKubeconfig);
  await admin.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: systemNamespace } },
    { fieldManager: 'aci-e2e' },
  );
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
  // The service account cannot list Secrets: only get.
  await t.throwsAsync(operatorClient.list('v1', 'Secret', { namespace: systemNamespace }), {
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
    // Every node runs the DaemonSets; other test files may have added kwok nodes to the shared cluster.
    const allReady = /^(\d+)\/\1$/;
    const nodes = Number(fabric.status?.components?.hostAgent?.summary.split('/')[1]);
    t.true(nodes >= 3, `at least the cluster's 3 nodes, got ${nodes}`);
    t.regex(fabric.status?.components?.hostAgent?.summary ?? '', allReady);
    t.regex(fabric.status?.components?.openvswitch?.summary ?? '', allReady);
    t.is(fabric.status?.components?.controller?.summary, '1/1');
    t.true(fabric.metadata.finalizers?.includes(Finalizer));
    const table = await cluster.kubectl(['get', 'acifabric', fabricName]);
    t.regex(table, /READY\s+CONTROLLER\s+HOST AGENTS\s+OVS\s+AGE/);
    t.regex(table, new RegExp(`${fabricName}\\s+True\\s+1/1\\s+(\\d+)/\\1\\s+(\\d+)/\\2`));
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
          '--no-leader-elect',
          '--log-level=warn',
        ],
        { stdio: 'ignore' },
      );
    const first = spawnOperator();
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
