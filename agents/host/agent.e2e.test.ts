/**
 * The host agent of one kwok node against the real control plane, in
 * process, with a temporary state dir and the in-memory data plane (no root
 * needed): the test plays the controller (it writes the PodIPPool spec) and
 * the container runtime (it sends CNI requests to the agent's socket). The
 * agent authenticates as in a cluster: its service account's token, bound to
 * its pod on the node, under the RBAC and admission policy the operator
 * renders.
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
} from '../../crds/index.ts';
import { eventually, ensureCrds, testClient, uniqueName } from '../../e2e/support/cluster.ts';
import { repoRoot } from '../../e2e/support/paths.ts';
import { componentRbac, serviceAccountLogin } from '../../e2e/support/rbac.ts';
import { HostAgentAccount } from '../../operator/render/names.ts';
import { kwokNode } from '../../e2e/cluster/cluster.ts';
import type { HostAgentConfig } from '../../lib/config/components.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { callServer } from '../cni/client.ts';
import { EndpointFile, SecurityGroupFile, ServiceFile } from '../opflex/files.ts';
import { startHostAgent, type HostAgent } from './agent.ts';
import { ConflistName, PluginName } from './cni-install.ts';
import type { CniRequest } from './cniserver/index.ts';
import { endpointUuid } from './endpoints/index.ts';
import type { PodIPPoolObject, PodObject, ServiceObject } from './kube/objects.ts';
import { fieldManagerFor } from './kube/pool-status.ts';
import { FakeDataplane } from '../../e2e/support/host/fakedataplane.ts';

const node = uniqueName('host-agent-node');
const namespace = uniqueName('host-agent');
const podName = 'web-0';
const containerId = `ctr-${node}`;
const netns = `/var/run/netns/${node}`;
// A chunk away from the subnet edges: all 16 addresses are assignable.
const chunk = '10.77.0.16/28';
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

let client: KubeClient;
/** The agent's own: its service account's token, bound to its pod on `node`. */
let agentClient: KubeClient;
let rbac: KubeObject[] = [];
let stateDir: string;
let config: HostAgentConfig;
let agent: HostAgent | undefined;
// The node's kernel state: it outlives an agent restart, so both agents share it.
const dataplane = new FakeDataplane();
let podUid = '';
let podIp = '';

function hostConfig(dir: string): HostAgentConfig {
  const epg = { tenant: 'kube', applicationProfile: 'aci-containers-kube' };
  return {
    logLevel: 'info',
    systemId: 'kube',
    stateDir: join(dir, 'state'),
    cniSocket: join(dir, 'cni.sock'),
    cniBinDir: join(dir, 'cni-bin'),
    cniConfDir: join(dir, 'cni-conf'),
    mtu: 1450,
    accessBridge: 'br-access',
    integrationBridge: 'br-int',
    encapType: 'vxlan',
    serviceVlan: 4003,
    infraVlan: 4093,
    aci: {
      tenant: 'kube',
      defaultEndpointGroup: { ...epg, name: 'aci-containers-default' },
      systemEndpointGroup: { ...epg, name: 'aci-containers-system' },
      systemNamespaces: ['kube-system'],
      podBridgeDomain: 'aci-containers-kube-pod-bd',
    },
    healthPort: 0,
  };
}

const start = (): Promise<HostAgent> =>
  startHostAgent({
    config,
    nodeName: node,
    client: agentClient,
    dataplane,
    log,
    healthPort: 0,
    cniInstall: { hostCniSocket: config.cniSocket },
    statusDebounceMs: 50,
    resyncIntervalMs: 5_000,
  });

const readPool = (): Promise<PodIPPoolObject> =>
  client.get<PodIPPoolObject>({ apiVersion: aciApiVersion, kind: 'PodIPPool', name: node });

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const endpointPath = (): string =>
  join(config.stateDir, 'endpoints', `${endpointUuid(podUid, containerId, 'eth0')}.ep`);
const readEndpoint = async (): Promise<EndpointFile | undefined> => {
  const parsed = EndpointFile.safeParse(await readJson(endpointPath()));
  return parsed.success ? parsed.data : undefined;
};

function cniRequest(command: 'ADD' | 'DEL'): CniRequest {
  return {
    protocol: 1,
    command,
    containerId,
    netns,
    ifName: 'eth0',
    args: { K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: podName, K8S_POD_UID: podUid },
    config: { cniVersion: '1.0.0', name: 'aci-containers', type: PluginName },
  };
}

let lastResult: { ips?: { address: string }[]; routes?: { dst: string }[] } = {};
async function cniAdd(): Promise<string> {
  const answer = await callServer(config.cniSocket, cniRequest('ADD'));
  if (!('result' in answer)) throw new Error(`CNI ADD failed: ${JSON.stringify(answer.error)}`);
  lastResult = answer.result as typeof lastResult;
  const ips = lastResult.ips ?? [];
  const address = ips[0]?.address.split('/')[0];
  if (!address) throw new Error(`CNI ADD returned no address: ${JSON.stringify(answer.result)}`);
  return address;
}

test.before(async () => {
  client = await testClient();
  await ensureCrds(client);
  stateDir = await mkdtemp(join(tmpdir(), 'host-agent-e2e-'));
  config = hostConfig(stateDir);
  // A node of our own, tainted so that no other test's pods land on it.
  const kwok = kwokNode(node) as KubeObject;
  await client.apply(
    {
      ...kwok,
      spec: { taints: [{ key: 'aci.cni.dev/test', value: 'host-agent', effect: 'NoSchedule' }] },
    },
    { fieldManager: 'aci-e2e' },
  );
  await client.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'aci-e2e' },
  );
  // The fabric's RBAC with this namespace as the fabric namespace, and the agent's own pod.
  const sample = parse(await readFile(join(repoRoot, 'samples', 'acifabric.yaml'), 'utf8')) as {
    spec: AciFabricSpecInput;
  };
  rbac = componentRbac(
    {
      fabric: { name: namespace, uid: '' },
      spec: AciFabricSpec.parse({ ...sample.spec, namespace }),
    },
    namespace,
  );
  for (const object of rbac) await client.apply(object, { fieldManager: 'aci-e2e' });
  await client.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'aci-containers-host', namespace },
    spec: {
      nodeName: node,
      hostNetwork: true,
      serviceAccountName: HostAgentAccount,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'host-agent', image: 'aci-containers' }],
    },
  } as KubeObject);
  agentClient = (await serviceAccountLogin(namespace, HostAgentAccount, 'aci-containers-host'))
    .client;
  dataplane.netns.add(netns);
});

test.after.always(async () => {
  await agent?.stop();
  await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
  await client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name: node });
  await client.delete({ apiVersion: 'v1', kind: 'Node', name: node });
  for (const o of rbac)
    if (!o.metadata.namespace)
      await client.delete({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
  agentClient?.close();
  client.close();
  await rm(stateDir, { recursive: true, force: true });
});

test.serial(
  'the agent installs the CNI plugin and reports the capacity of its PodIPPool chunks',
  async (t) => {
    agent = await start();
    const conflist = (await readJson(join(config.cniConfDir, ConflistName))) as {
      plugins: { type: string; serverSocket: string }[];
    };
    t.deepEqual(
      conflist.plugins.map((p) => [p.type, p.serverSocket]),
      [[PluginName, config.cniSocket]],
    );
    t.regex(await readFile(join(config.cniBinDir, PluginName), 'utf8'), /agents\/cni\/main\.ts/);

    // As the controller would: spec only, under its own field manager.
    await client.apply(
      {
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        metadata: { name: node },
        // With an IPv6 subnet and chunk, which the data plane does not carry: never handed out.
        spec: { chunks: [chunk, 'fd00:77::/124'], gateways: ['10.77.0.1/16', 'fd00:77::1/64'] },
      },
      { fieldManager: 'aci-controller' },
    );
    const pool = await eventually(async () => {
      const p = await readPool();
      return p.status?.capacity === 16 && p.status.used === 0 ? p : undefined;
    }, 'PodIPPool status with the capacity of the IPv4 chunk alone');
    const ready = pool.status?.conditions?.find((c) => c.type === 'Ready');
    t.is(ready?.status, 'True');
    t.is(pool.status?.observedGeneration, pool.metadata.generation);
    await agent.serving;
  },
);

test.serial(
  'a CNI ADD through the socket allocates an address that the pool status shows',
  async (t) => {
    const pod = await client.create<PodObject>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName, namespace, labels: { app: 'web' } },
      spec: {
        nodeName: node,
        tolerations: [{ key: 'aci.cni.dev/test', operator: 'Exists' }],
        containers: [
          { name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }] },
        ],
      },
    });
    podUid = pod.metadata.uid ?? '';
    podIp = await cniAdd();
    t.true(podIp.startsWith('10.77.0.'), podIp);
    // The pool's IPv6 chunk gives no address and no ::/0 route: the pipeline would drop both.
    t.deepEqual(
      lastResult.ips?.map((i) => i.address),
      [`${podIp}/16`],
    );
    t.deepEqual(
      lastResult.routes?.map((r) => r.dst),
      ['0.0.0.0/0'],
    );
    const pool = await eventually(async () => {
      const p = await readPool();
      return p.status?.used === 1 ? p : undefined;
    }, 'status.used = 1');
    t.deepEqual(pool.status?.allocated, [podIp]);
    const endpoint = await readEndpoint();
    t.is(endpoint?.endpointGroup.name, 'aci-containers-default');
    t.deepEqual(endpoint?.ips, [podIp]);
  },
);

test.serial(
  'only the host agent of the node manages the status, and it never touches spec',
  async (t) => {
    const pool = await readPool();
    const entries = pool.metadata.managedFields ?? [];
    const status = entries.filter((m) => m.subresource === 'status').map((m) => m.manager);
    t.deepEqual(status, [fieldManagerFor(node)]);
    const spec = entries.filter((m) => m.subresource !== 'status').map((m) => m.manager);
    t.deepEqual(spec, ['aci-controller']);
  },
);

test.serial(
  'an EndpointGroupMapping selecting the pod changes the EPG in its endpoint file',
  async (t) => {
    await client.apply(
      {
        apiVersion: aciApiVersion,
        kind: 'EndpointGroupMapping',
        metadata: { name: 'web', namespace },
        spec: {
          podSelector: { matchLabels: { app: 'web' } },
          endpointGroup: { applicationProfile: 'shop', name: 'frontend' },
        },
      },
      { fieldManager: 'aci-e2e' },
    );
    const endpoint = await eventually(async () => {
      const ep = await readEndpoint();
      return ep?.endpointGroup.name === 'frontend' ? ep : undefined;
    }, 'endpoint file with EPG frontend');
    t.deepEqual(endpoint.endpointGroup, { tenant: 'kube', appProfile: 'shop', name: 'frontend' });
    t.deepEqual(endpoint.ips, [podIp]);
  },
);

test.serial(
  'a NetworkPolicy selecting the pod produces a security-group file that its endpoint file lists',
  async (t) => {
    await client.apply(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'web-ingress', namespace },
        spec: {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ ports: [{ protocol: 'TCP', port: 'http' }] }],
        },
      },
      { fieldManager: 'aci-e2e' },
    );
    const endpoint = await eventually(async () => {
      const ep = await readEndpoint();
      return ep && ep.securityGroups.length > 0 ? ep : undefined;
    }, 'endpoint file with a security group');
    t.is(endpoint.securityGroups.length, 1);
    const name = endpoint.securityGroups[0] ?? '';
    t.true(name.startsWith(`np.${namespace}.web-ingress`), name);
    const group = SecurityGroupFile.parse(
      await readJson(join(config.stateDir, 'security-groups', `${name}.sg`)),
    );
    t.deepEqual(group.isolates, ['ingress']);
    // The named port resolves against the pod's container port.
    t.deepEqual(
      group.rules.flatMap((r) => r.ports),
      [{ from: 8080, to: 8080 }],
    );
  },
);

test.serial('a Service with an EndpointSlice produces a service file', async (t) => {
  const service = await client.create<ServiceObject>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace },
    spec: {
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      sessionAffinity: 'ClientIP',
    },
  });
  await client.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace, labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [
      { addresses: [podIp], conditions: { ready: true } },
      { addresses: ['10.77.1.9'], conditions: { ready: false } },
    ],
  });
  const path = join(config.stateDir, 'services', `${service.metadata.uid ?? ''}.service`);
  const file = await eventually(async () => {
    const parsed = ServiceFile.safeParse(await readJson(path));
    // The Service alone already yields a (backend-less) file; wait for the EndpointSlice's version.
    return parsed.success && parsed.data.backends.length > 0 ? parsed.data : undefined;
  }, 'service file with the EndpointSlice backends');
  t.deepEqual(file.frontends, [{ ip: service.spec?.clusterIP, kind: 'ClusterIP' }]);
  t.deepEqual(file.ports, [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }]);
  t.deepEqual(file.backends, [podIp]);
  t.is(file.sessionAffinity, 'ClientIP');
});

test.serial('restarting the agent loses no allocation', async (t) => {
  await agent?.stop();
  agent = await start();
  await agent.serving;
  t.deepEqual(agent.ipam?.find(containerId, 'eth0')?.ips, [podIp]);
  // A runtime retry of the ADD after the restart gets the same address.
  t.is(await cniAdd(), podIp);
  const pool = await readPool();
  t.deepEqual(pool.status?.allocated, [podIp]);
  t.truthy(await readEndpoint());
});

test.serial('deleting the pod object garbage-collects its allocation', async (t) => {
  await client.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: podName });
  await eventually(
    async () => agent?.ipam?.find(containerId, 'eth0') === undefined,
    'allocation released',
  );
  const pool = await eventually(async () => {
    const p = await readPool();
    return p.status?.used === 0 ? p : undefined;
  }, 'status.used = 0');
  t.deepEqual(pool.status?.allocated ?? [], []);
  t.is(await readEndpoint(), undefined);
  t.false(dataplane.interfaces.size > 0);
});
