/**
 * The components' rendered RBAC on the real API server: the host agent runs
 * with a token of its own service account, bound to a pod on its node as
 * the kubelet would mount it; the ValidatingAdmissionPolicy denies it
 * another node's PodIPPool; and the `kubectl auth can-i --list` matrix of
 * its service account matches what the agent's code asked the API server
 * for while it worked (recorded from its client, not copied from the Role).
 * The same for the controller, through the harness every controller e2e
 * test uses, which runs it under its own service account too.
 */
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import {
  AciFabricSpec,
  apiVersion as aciApiVersion,
  type AciFabricSpecInput,
} from '../crds/index.ts';
import { kwokNode } from '../e2e/cluster/cluster.ts';
import {
  ensureCrds,
  eventually,
  testClient,
  testCluster,
  uniqueName,
} from '../e2e/support/cluster.ts';
import { repoRoot } from '../e2e/support/paths.ts';
import {
  accessMatrix,
  canIList,
  componentRbac,
  ownGrants,
  recordAccess,
  serviceAccountLogin,
  type ServiceAccountLogin,
} from '../e2e/support/rbac.ts';
import { callServer } from '../agents/cni/client.ts';
import { formatCidr, prefixLast, prefixOf, requireCidr } from '../lib/net/cidr.ts';
import { startHostAgent, type HostAgent } from '../agents/host/agent.ts';
import { PluginName } from '../agents/host/cni-install.ts';
import { fieldManagerFor } from '../agents/host/kube/pool-status.ts';
import { FakeDataplane } from '../e2e/support/host/fakedataplane.ts';
import type { HostAgentConfig } from '../lib/config/components.ts';
import { KubeApiError, type KubeClient } from '../lib/kube/client.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import { harness, waitLeading } from '../e2e/support/controller/harness.ts';
import { deployment, loadBalancerService } from '../e2e/support/controller/workloads.ts';
import { hostAgentConfig } from './render/config.ts';
import { ControllerName, HostAgentAccount, LeaderElectionLease } from './render/names.ts';
import { LeaderTermAnnotation } from '../lib/kube/leader.ts';

const namespace = uniqueName('aci-rbac');
const [nodeA, nodeB] = [uniqueName('rbac-node-a'), uniqueName('rbac-node-b')];
const agentPod = 'host-agent-a';
const taint = { key: 'aci.cni.dev/test', value: 'rbac', effect: 'NoSchedule' };
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const pool = (node: string, chunk: string) => ({
  apiVersion: aciApiVersion,
  kind: 'PodIPPool',
  metadata: { name: node },
  spec: { chunks: [chunk], gateways: ['10.78.0.1/16'] },
});

let admin: KubeClient;
let hostAgent: ServiceAccountLogin;
let stateDir: string;
let agent: HostAgent | undefined;

/** The components' RBAC as rendered for a fabric whose namespace is this test's. */
async function renderedRbac(): Promise<KubeObject[]> {
  const sample = parse(await readFile(join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8')) as {
    spec: AciFabricSpecInput;
  };
  const input = {
    fabric: { name: namespace, uid: '00000000-0000-4000-8000-000000000012' },
    spec: AciFabricSpec.parse({ ...sample.spec, namespace }),
  };
  return componentRbac(input, namespace);
}

test.before(async () => {
  admin = await testClient();
  await ensureCrds(admin);
  await admin.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'aci-e2e' },
  );
  for (const object of await renderedRbac()) await admin.apply(object, { fieldManager: 'aci-e2e' });
  for (const node of [nodeA, nodeB])
    await admin.apply(
      { ...(kwokNode(node) as KubeObject), spec: { taints: [taint] } },
      { fieldManager: 'aci-e2e' },
    );
  await admin.apply(pool(nodeA, '10.78.0.16/28'), { fieldManager: 'aci-controller' });
  await admin.apply(pool(nodeB, '10.78.0.32/28'), { fieldManager: 'aci-controller' });
  // The host agent's pod on node A: the kubelet would mount a token bound to it.
  await admin.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: agentPod, namespace },
    spec: {
      nodeName: nodeA,
      serviceAccountName: HostAgentAccount,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'host-agent', image: 'aci-containers' }],
    },
  } as KubeObject);
  hostAgent = await serviceAccountLogin(namespace, HostAgentAccount, agentPod);
  stateDir = await mkdtemp(join(tmpdir(), 'rbac-e2e-'));
});

test.after.always(async () => {
  await agent?.stop();
  hostAgent?.client.close();
  for (const node of [nodeA, nodeB]) {
    await admin.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name: node });
    await admin.delete({ apiVersion: 'v1', kind: 'Node', name: node });
  }
  for (const o of await renderedRbac())
    if (!o.metadata.namespace)
      await admin.delete({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
  await admin.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
  admin.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const statusOf = (node: string) => ({
  apiVersion: aciApiVersion,
  kind: 'PodIPPool',
  metadata: { name: node },
  status: { capacity: 16, used: 0 },
});

test.serial("the host agent's token names its node, as a kubelet-mounted token does", async (t) => {
  const cluster = await testCluster();
  const whoami = JSON.parse(
    await cluster.kubectl(['auth', 'whoami', '-o', 'json', `--kubeconfig=${hostAgent.kubeconfig}`]),
  ) as { status: { userInfo: { username: string; extra?: Record<string, string[]> } } };
  t.is(whoami.status.userInfo.username, hostAgent.username);
  t.deepEqual(whoami.status.userInfo.extra?.['authentication.kubernetes.io/node-name'], [nodeA]);
});

test.serial(
  "the ValidatingAdmissionPolicy lets a host agent write its own node's PodIPPool status and denies another node's",
  async (t) => {
    const options = { fieldManager: fieldManagerFor(nodeA), subresource: 'status' as const };
    // The API server loads a new policy and binding asynchronously ("refreshing policies"):
    // wait until it enforces, then check both sides.
    const denied = await eventually(
      async () => {
        try {
          await hostAgent.client.apply(statusOf(nodeB), options);
          return undefined;
        } catch (error) {
          return error;
        }
      },
      'the admission policy to be in force',
      30_000,
      200,
    );
    t.true(denied instanceof KubeApiError);
    t.regex((denied as Error).message, /may only write the PodIPPool of its own node/);
    await t.notThrowsAsync(hostAgent.client.apply(statusOf(nodeA), options));
    // RBAC alone would have allowed it: the denial is the policy's.
    const cluster = await testCluster();
    t.is(
      (
        await cluster.kubectl([
          'auth',
          'can-i',
          'patch',
          `podippools.aci.cni.dev/${nodeB}`,
          '--subresource=status',
          `--as=${hostAgent.username}`,
        ])
      ).trim(),
      'yes',
    );
    // And RBAC denies what no host agent needs: the spec, which the controller owns.
    await t.throwsAsync(
      hostAgent.client.apply(pool(nodeA, '10.78.0.48/28'), { fieldManager: 'aci-e2e' }),
      { message: /forbidden/i },
    );
  },
);

test.serial(
  "the leader fence admits the controller's PodIPPool writes only in the term the Lease records",
  async (t) => {
    const controller = await serviceAccountLogin(namespace, ControllerName);
    t.teardown(() => controller.client.close());
    const name = uniqueName('rbac-fenced');
    t.teardown(() => admin.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name }));
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LeaderElectionLease, namespace },
      spec: { holderIdentity: 'controller-a', leaseDurationSeconds: 15, leaseTransitions: 4 },
    };
    await admin.apply(lease, { fieldManager: 'aci-e2e', force: true });
    const write = (term: string | undefined) =>
      controller.client.apply(
        {
          ...pool(name, '10.78.0.64/28'),
          metadata: {
            name,
            ...(term !== undefined ? { annotations: { [LeaderTermAnnotation]: term } } : {}),
          },
        },
        { fieldManager: 'aci-controller', force: true },
      );
    const refusal = (term: string | undefined) =>
      write(term).then(
        () => undefined,
        (error: unknown) => error,
      );
    // A term the Lease no longer records: a leader resumed after another took over.
    const stale = await eventually(
      () => refusal('controller-a/3'),
      'the leader fence to be in force',
      30_000,
      200,
    );
    t.true(stale instanceof KubeApiError);
    t.regex(
      (stale as Error).message,
      /leader term controller-a\/3 while the Lease records controller-a\/4/,
    );
    t.regex(String(await refusal(undefined)), /leader term \(none\)/);
    t.regex(String(await refusal('controller-b/4')), /while the Lease records controller-a\/4/);
    // The term the Lease records: created, then updated.
    await t.notThrowsAsync(write('controller-a/4'));
    await t.notThrowsAsync(write('controller-a/4'));
    // Another controller takes over: the old term's next write is refused once the server sees it.
    await admin.apply(
      { ...lease, spec: { ...lease.spec, holderIdentity: 'controller-b', leaseTransitions: 5 } },
      { fieldManager: 'aci-e2e', force: true },
    );
    const after = await eventually(
      () => refusal('controller-a/4'),
      'the takeover to reach the fence',
      30_000,
      100,
    );
    t.regex(String(after), /while the Lease records controller-b\/5/);
    await t.notThrowsAsync(write('controller-b/5'));
    // Nobody else is fenced: the same write as the administrator passes without a term.
    await t.notThrowsAsync(
      admin.apply(pool(name, '10.78.0.64/28'), { fieldManager: 'aci-e2e', force: true }),
    );
  },
);

test.serial(
  'the host agent under its own token works, and its can-i matrix is exactly what its code used',
  async (t) => {
    const used = recordAccess(hostAgent.client);
    const rendered = AciFabricSpec.parse({
      ...(
        parse(await readFile(join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8')) as {
          spec: AciFabricSpecInput;
        }
      ).spec,
      namespace,
    });
    const config: HostAgentConfig = {
      ...hostAgentConfig({ fabric: { name: namespace, uid: 'x' }, spec: rendered }),
      stateDir: join(stateDir, 'state'),
      cniSocket: join(stateDir, 'cni.sock'),
      cniBinDir: join(stateDir, 'cni-bin'),
      cniConfDir: join(stateDir, 'cni-conf'),
      healthPort: 0,
    };
    const dataplane = new FakeDataplane();
    agent = await startHostAgent({
      config,
      nodeName: nodeA,
      client: hostAgent.client,
      dataplane,
      log,
      healthPort: 0,
      cniInstall: { hostCniSocket: config.cniSocket },
      statusDebounceMs: 50,
      resyncIntervalMs: 2_000,
    });
    await agent.serving;
    // A pod on the node, set up through the CNI socket as the runtime would.
    const pod = await admin.create<KubeObject & { metadata: { uid?: string } }>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace },
      spec: {
        nodeName: nodeA,
        tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'web', image: 'nginx' }],
      },
    } as KubeObject);
    const netns = `/var/run/netns/${nodeA}-web`;
    dataplane.netns.add(netns);
    const answer = await callServer(config.cniSocket, {
      protocol: 1,
      command: 'ADD',
      containerId: `ctr-${nodeA}`,
      netns,
      ifName: 'eth0',
      args: {
        K8S_POD_NAMESPACE: namespace,
        K8S_POD_NAME: 'web',
        K8S_POD_UID: pod.metadata.uid ?? '',
      },
      config: { cniVersion: '1.0.0', name: 'aci-containers', type: PluginName },
    });
    t.true('result' in answer, JSON.stringify(answer));
    await eventually(async () => {
      const p = await admin.get<KubeObject & { status?: { used?: number } }>({
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        name: nodeA,
      });
      return p.status?.used === 1 ? p : undefined;
    }, 'the agent to report the address in its pool status');
    // The pod is deleted without a CNI DEL (its node lost it): the agent's garbage collection
    // asks the API server whether the pod still exists, then releases the address.
    await admin.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: 'web' });
    await eventually(async () => {
      const p = await admin.get<KubeObject & { status?: { used?: number } }>({
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        name: nodeA,
      });
      return p.status?.used === 0 ? p : undefined;
    }, "the agent to release the deleted pod's address");

    const grants = ownGrants(
      await canIList(hostAgent.username, namespace),
      // A service account with no bindings: what every authenticated client may do anyway.
      await canIList(`system:serviceaccount:${namespace}:nobody`, namespace),
    );
    const matrix = accessMatrix(grants, used);
    t.log(`host agent (${hostAgent.username}):\n${matrix.table.join('\n')}`);
    t.deepEqual(matrix.denied, [], 'requests its RBAC does not allow');
    t.deepEqual(matrix.unused, [], 'permissions its code never used');
  },
);

test.serial(
  'the controller under its own token serves nodes, a LoadBalancer Service and a mapping, and its can-i matrix is exactly what its code used',
  async (t) => {
    t.timeout(5 * 60_000);
    const h = await harness({ slot: 11 });
    try {
      const [first, second, gone] = await h.addNodes(3);
      // A node deleted while no controller ran leaves its PodIPPool: the controller makes sure
      // the Node is gone (get) before it deletes the pool.
      await h.deleteNodes([gone!]);
      const nodeRef = { apiVersion: 'v1', kind: 'Node', name: gone! };
      await eventually(async () => ((await admin.read(nodeRef)) ? undefined : true), 'node gone');
      const subnet = requireCidr(h.config.network.podSubnets[0]!);
      const size = BigInt(h.config.network.podSubnetChunkSize);
      const lastChunk = prefixOf(4, prefixLast(subnet) - size + 1n, 32 - Math.log2(Number(size)));
      const orphan = { apiVersion: aciApiVersion, kind: 'PodIPPool', name: gone! };
      await admin.create({
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        metadata: { name: gone! },
        spec: { chunks: [formatCidr(lastChunk)], gateways: [h.config.network.podSubnets[0]!] },
      } as KubeObject);
      const controller = await h.start();
      await waitLeading(controller);
      await eventually(
        async () => ((await admin.read(orphan)) ? undefined : true),
        'the orphaned PodIPPool deleted',
      );
      const pools = async (): Promise<string[]> =>
        (await admin.list<KubeObject>(aciApiVersion, 'PodIPPool')).items
          .map((p) => p.metadata.name)
          .filter((n) => n === first || n === second);
      await eventually(async () => ((await pools()).length === 2 ? true : undefined), 'pools');

      // A LoadBalancer Service with endpoints: ServiceGraph, service IPs, Service status.
      await admin.apply(
        deployment({ namespace: h.namespace, name: 'web', scope: h.id, replicas: 2, spread: true }),
        { fieldManager: 'aci-e2e' },
      );
      await admin.apply(loadBalancerService(h.namespace, 'web', { app: 'web' }), {
        fieldManager: 'aci-e2e',
      });
      const graphRef = {
        apiVersion: aciApiVersion,
        kind: 'ServiceGraph',
        namespace: h.namespace,
        name: 'web',
      };
      await eventually(
        async () => (await admin.read<KubeObject & { status?: unknown }>(graphRef))?.status,
        'a ServiceGraph with status',
        120_000,
      );
      await eventually(async () => {
        const svc = await admin.read<
          KubeObject & { status?: { loadBalancer?: { ingress?: unknown[] } } }
        >({ apiVersion: 'v1', kind: 'Service', namespace: h.namespace, name: 'web' });
        return svc?.status?.loadBalancer?.ingress?.length ? svc : undefined;
      }, 'the Service to get its external IP');
      // A mapping and a NetworkPolicy in a namespace in scope.
      const apps = await h.createNamespace('rbac-apps');
      await admin.apply(
        {
          apiVersion: aciApiVersion,
          kind: 'EndpointGroupMapping',
          metadata: { name: 'web', namespace: apps },
          spec: {
            podSelector: { matchLabels: { app: 'web' } },
            endpointGroup: { applicationProfile: 'aci-containers-kube', name: 'custom' },
            priority: 0,
          },
        },
        { fieldManager: 'aci-e2e' },
      );
      await admin.apply(
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'deny', namespace: apps },
          spec: { podSelector: {}, policyTypes: ['Ingress'] },
        },
        { fieldManager: 'aci-e2e' },
      );
      await eventually(async () => {
        const m = await admin.read<KubeObject & { status?: { conditions?: unknown[] } }>({
          apiVersion: aciApiVersion,
          kind: 'EndpointGroupMapping',
          namespace: apps,
          name: 'web',
        });
        return m?.status?.conditions?.length ? m : undefined;
      }, 'the mapping to get its status');
      // Gone again: the Service's graph and a node's pool are deleted by the controller.
      await admin.delete({
        apiVersion: 'v1',
        kind: 'Service',
        namespace: h.namespace,
        name: 'web',
      });
      await eventually(
        async () => ((await admin.read(graphRef)) === undefined ? true : undefined),
        'the ServiceGraph to go',
      );
      await h.deleteNodes([second ?? '']);
      await eventually(
        async () => ((await pools()).length === 1 ? true : undefined),
        "the deleted node's pool to go",
      );

      const grants = ownGrants(
        await canIList(h.controllerLogin.username, h.namespace),
        await canIList(`system:serviceaccount:${h.namespace}:nobody`, h.namespace),
      );
      const matrix = accessMatrix(grants, h.controllerAccess);
      t.log(`controller (${h.controllerLogin.username}):\n${matrix.table.join('\n')}`);
      t.deepEqual(matrix.denied, [], 'requests its RBAC does not allow');
      t.deepEqual(matrix.unused, [], 'permissions its code never used');
    } finally {
      await h.cleanup();
    }
  },
);
