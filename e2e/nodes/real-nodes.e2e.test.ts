/**
 * The whole CNI on real nodes: two kubelet + containerd nodes, the image
 * built from the Dockerfile, the operator installed by `kubectl apply -k .`
 * and running as a pod, the AciFabric Ready, then pods started by the
 * kubelets through the project's CNI plugin and probed with real packets
 * (agnhost, as the upstream e2e suites do). This file starts its own control
 * plane: real nodes run every DaemonSet, which must not meet the kwok
 * cluster's other test fabrics.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import ipaddr from 'ipaddr.js';
import { stopByState } from '../cluster/cluster.ts';
import { hostPathOf } from '../cluster/node-config.ts';
import { eventually, uniqueName } from '../support/cluster.ts';
import { repoRoot } from '../support/paths.ts';
import { startRealEnvironment, type RealEnvironment } from '../support/real-nodes.ts';
import {
  deployAgnhostServers,
  agnhostPodSpec,
  connect,
  netpolModelPod,
  networkPolicyManifest,
  podsOf,
  probeAll,
  realizeIpBlocks,
  type PodInfo,
} from '../support/workloads.ts';
import {
  k8sNamespace,
  modelPods,
  Namespaces,
  NetpolCases,
  Ports,
  referenceAllowed,
  type ModelPod,
} from '../support/opflex/netpol-model.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { AciFabricSpec } from '../../crds/index.ts';

let env: RealEnvironment;
/** ACI_REAL_CLUSTER_DIR lets two checkouts (or two developers) run this file side by side. */
const clusterDir = process.env.ACI_REAL_CLUSTER_DIR ?? path.join(repoRoot, '.cluster-real');
const namespace = uniqueName('conn');

test.before(async (t) => {
  t.timeout(25 * 60_000, 'images, cluster and install (a cold machine builds images first)');
  env = await startRealEnvironment({
    dir: clusterDir,
    log: (line) => t.log(line),
  });
  await deployAgnhostServers(env, namespace, env.images.agnhost.ref, { nodePort: true });
});

test.after.always(async () => {
  // By folder, not by `env`: a failed start leaves no env, but may leave a running cluster.
  if (process.env.ACI_KEEP_CLUSTER !== '1') await stopByState(clusterDir);
});

test.afterEach.always(async (t) => {
  if (!t.passed && env) t.log(await env.cluster.logTails(30));
});

async function servers(): Promise<PodInfo[]> {
  return podsOf(env.client, namespace, 'app=server');
}

test.serial(
  'the operator runs as a pod on a real node and every component rolled out',
  async (t) => {
    const operator = JSON.parse(
      await env.kubectl(['-n', 'aci-containers-operator', 'get', 'pods', '-o', 'json']),
    ) as {
      items: { spec: { nodeName: string; hostNetwork: boolean }; status: { phase: string } }[];
    };
    t.is(operator.items.length, 1);
    t.true(env.cluster.realNodes.some((n) => n.name === operator.items[0]?.spec.nodeName));
    t.is(operator.items[0]?.status.phase, 'Running');
    const nodes = JSON.parse(await env.kubectl(['get', 'nodes', '-o', 'json'])) as {
      items: { status: { conditions: { type: string; status: string }[] } }[];
    };
    for (const node of nodes.items) {
      t.is(node.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    }
    const workloads = await env.kubectl([
      '-n',
      env.fabric.spec.namespace,
      'get',
      'deploy,ds',
      '-o',
      'wide',
    ]);
    t.log(workloads);
  },
);

test.serial('pods started by the kubelets get addresses from their node PodIPPool', async (t) => {
  const pods = await servers();
  t.is(pods.length, 4);
  t.is(new Set(pods.map((p) => p.node)).size, 2, 'spread over both nodes');
  for (const pod of pods) {
    const pool = JSON.parse(await env.kubectl(['get', 'podippool', pod.node, '-o', 'json'])) as {
      spec: { chunks: string[] };
    };
    t.true(
      pool.spec.chunks.some((chunk) => inCidr(pod.ip, chunk)),
      `${pod.name} ${pod.ip} in ${pool.spec.chunks.join(',')} of ${pod.node}`,
    );
  }
});

test.serial('pod to pod, on one node and across nodes', async (t) => {
  const pods = await servers();
  for (const from of pods) {
    for (const to of pods) {
      if (from.name === to.name) continue;
      await connect(env, namespace, from.name, `${to.ip}:8080`);
    }
  }
  t.pass();
});

test.serial(
  'pod to a ClusterIP Service, to kubernetes.default through CoreDNS, and a NodePort from a node',
  async (t) => {
    const [client] = await servers();
    if (!client) throw new Error('no pod');
    await connect(env, namespace, client.name, `server.${namespace}.svc.cluster.local:80`);
    await connect(env, namespace, client.name, 'kubernetes.default.svc.cluster.local:443');
    const service = JSON.parse(
      await env.kubectl(['-n', namespace, 'get', 'service', 'server-np', '-o', 'json']),
    ) as { spec: { ports: { nodePort: number }[] } };
    const nodePort = service.spec.ports[0]?.nodePort;
    for (const node of env.cluster.realNodes) {
      const reply = await env.cluster.nodeExec(node.name, env.cluster.binary('agnhost'), [
        'connect',
        `${node.ip}:${nodePort}`,
        '--timeout=5s',
      ]);
      t.is(reply.trim(), '');
    }
  },
);

test.serial('node to pod: every node reaches every pod', async (t) => {
  for (const node of env.cluster.realNodes) {
    for (const pod of await servers()) {
      await eventually(
        () =>
          env.cluster
            .nodeExec(node.name, env.cluster.binary('agnhost'), [
              'connect',
              `${pod.ip}:8080`,
              '--timeout=3s',
            ])
            .then(() => true),
        `${node.name} to ${pod.name} (${pod.ip})`,
        30_000,
      );
    }
  }
  t.pass();
});

// The project's NetworkPolicy conformance cases (e2e/support/opflex/netpol-model.ts: the upstream
// model and an independent reference), all of them, here on real nodes with the model's pods
// spread over both: one set of pods; per case apply, probe the matrix until it matches, delete.
test.serial(
  'NetworkPolicy conformance cases on real nodes, probed with agnhost across both nodes',
  async (t) => {
    const [first, second] = env.cluster.realNodes;
    if (!first || !second) throw new Error('two real nodes expected');
    const model = modelPods('10.131');
    const spread = model.map((p, i) => ({
      ...p,
      node: i % 2 === 0 ? first.name : second.name,
    }));
    for (const ns of Namespaces) {
      await env.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', ...k8sNamespace(ns) }),
      );
    }
    for (const p of spread) {
      const pod = netpolModelPod(p.namespace, p.name, env.images.agnhost.ref) as KubeObject & {
        spec: Record<string, unknown>;
      };
      pod.spec.nodeName = p.node;
      await env.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    }
    for (const ns of Namespaces) {
      await env.kubectl([
        '-n',
        ns,
        'wait',
        '--for=condition=Ready',
        'pod',
        '--all',
        '--timeout=180s',
      ]);
    }
    const pods: ModelPod[] = [];
    for (const ns of Namespaces) {
      for (const p of await podsOf(env.client, ns, 'pod'))
        pods.push({ namespace: ns, name: p.name, ip: p.ip });
    }
    t.is(pods.length, 9);
    const targets = pods.flatMap((server) =>
      Ports.map((port) => ({ server, port, key: `${server.ip}:${port}` })),
    );
    const [podSubnet = ''] = AciFabricSpec.parse(env.fabric.spec).network.podSubnets;
    const podNetwork = ipaddr.parseCIDR(podSubnet);
    const podCidr = `${ipaddr.IPv4.networkAddressFromCIDR(podSubnet).toString()}/${podNetwork[1]}`;
    let passed = 0;
    const started = Date.now();
    for (const { name, policies: casePolicies } of NetpolCases) {
      // The model's ipBlocks name pods by model addresses: the same pods by their real ones.
      const policies = realizeIpBlocks(casePolicies('10.131'), model, pods, podCidr);
      for (const policy of policies) {
        await env.kubectl(['apply', '-f', '-'], JSON.stringify(networkPolicyManifest(policy)));
      }
      const expected = (client: ModelPod, server: ModelPod, port: number) =>
        client.ip === server.ip || referenceAllowed(policies, client, server, port, 'TCP');
      // The policy reaches the flows asynchronously: probe until the matrix matches, then it must stay exact.
      let wrong: string[] = [];
      await eventually(
        async () => {
          wrong = [];
          const rows = await Promise.all(
            pods.map(async (client) => ({
              client,
              seen: await probeAll(
                env,
                client.namespace,
                client.name,
                targets.filter((x) => x.server.ip !== client.ip).map((x) => x.key),
              ),
            })),
          );
          for (const { client, seen } of rows) {
            for (const { server, port, key } of targets) {
              if (server.ip === client.ip) continue;
              const want = expected(client, server, port);
              if (seen.get(key) !== want)
                wrong.push(
                  `${client.namespace}/${client.name} -> ${server.namespace}/${server.name}:${port} want ${want ? 'ok' : 'blocked'}`,
                );
            }
          }
          return wrong.length === 0;
        },
        `case "${name}" (${wrong.length} pairs wrong: ${wrong.slice(0, 5).join('; ')})`,
        60_000,
        1000,
      ).catch((error: unknown) => {
        throw new Error(`${name}: ${wrong.join('; ')}`, { cause: error });
      });
      passed++;
      for (const policy of policies) {
        await env.kubectl([
          '-n',
          policy.metadata?.namespace ?? '',
          'delete',
          'networkpolicy',
          policy.metadata?.name ?? '',
        ]);
      }
    }
    t.log(
      `NetworkPolicy conformance on real nodes: ${passed}/${NetpolCases.length} in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    t.is(passed, NetpolCases.length);
  },
);

test.serial('deleting a pod frees its address in the node PodIPPool', async (t) => {
  // A bare Pod: a Deployment would put a replacement on the freed address at once.
  const node = env.cluster.realNodes[0]?.name ?? '';
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'lonely', namespace, labels: { app: 'lonely' } },
    spec: { ...agnhostPodSpec(env.images.agnhost.ref), nodeName: node },
  };
  await env.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  await env.kubectl([
    '-n',
    namespace,
    'wait',
    '--for=condition=Ready',
    'pod/lonely',
    '--timeout=120s',
  ]);
  const [lonely] = await podsOf(env.client, namespace, 'app=lonely');
  if (!lonely) throw new Error('no lonely pod');
  const pool = async () =>
    (
      JSON.parse(await env.kubectl(['get', 'podippool', node, '-o', 'json'])) as {
        status?: { allocated?: string[]; used?: number };
      }
    ).status ?? {};
  const before = await eventually(
    async () => ((await pool()).allocated?.includes(lonely.ip) ? pool() : undefined),
    `${lonely.ip} listed in PodIPPool ${node}`,
    30_000,
  );
  await env.kubectl(['-n', namespace, 'delete', 'pod', 'lonely', '--wait=true']);
  const after = await eventually(
    async () => {
      const status = await pool();
      return status.allocated?.includes(lonely.ip) ? undefined : status;
    },
    `${lonely.ip} released in PodIPPool ${node}`,
    60_000,
  );
  t.is(after.used, (before.used ?? 0) - 1);
});

test.serial(
  "killing and restarting a node's kubelet, containerd and Open vSwitch brings its pods back with connectivity",
  async (t) => {
    const node = env.cluster.realNodes[1];
    if (!node) throw new Error('no second node');
    for (const component of ['kubelet', 'containerd'] as const) {
      await env.cluster.stopNodeComponent(node.name, component);
    }
    for (const component of ['containerd', 'kubelet'] as const) {
      await env.cluster.startNodeComponent(node.name, component);
    }
    // Open vSwitch: kill this node's ovs-vswitchd (by its pid file: the machine runs one per node);
    // the openvswitch container's supervisor restarts it and the agents reprogram it. The pid is
    // the container's own (no hostPID), so the kill runs in the container.
    const ovsPod = (
      await env.kubectl([
        '-n',
        'aci-containers-system',
        'get',
        'pods',
        '-l',
        'app.kubernetes.io/name=aci-containers-openvswitch',
        `--field-selector=spec.nodeName=${node.name}`,
        '-o',
        'name',
      ])
    ).trim();
    const pidFile = hostPathOf(node, '/run/openvswitch/ovs-vswitchd.pid');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    // The kubelet just restarted: exec works once it serves again.
    await eventually(
      () =>
        env.kubectl([
          '-n',
          'aci-containers-system',
          'exec',
          ovsPod,
          '--',
          // The shell's own kill: the image has no procps.
          'sh',
          '-c',
          `kill -KILL ${pid}`,
        ]),
      `kill of ovs-vswitchd in ${ovsPod}`,
      120_000,
      2_000,
    );
    await env.kubectl([
      '-n',
      namespace,
      'rollout',
      'status',
      'deployment/server',
      '--timeout=300s',
    ]);
    const pods = await servers();
    for (const from of pods) {
      for (const to of pods) {
        if (from.name !== to.name)
          await connect(env, namespace, from.name, `${to.ip}:8080`, 60_000);
      }
    }
    t.pass();
  },
);

function inCidr(ip: string, cidr: string): boolean {
  return ipaddr.parse(ip).match(ipaddr.parseCIDR(cidr));
}

test.serial(
  'a node powered off and on again comes back Ready, with its pods recreated and connected',
  async (t) => {
    const node = env.cluster.realNodes[1];
    if (!node) throw new Error('no second node');
    // Container ids of the node's pods: after the reboot the kubelet starts them in new sandboxes.
    const containers = async (): Promise<Map<string, { id: string; ready: boolean }>> => {
      const list = JSON.parse(
        await env.kubectl([
          '-n',
          namespace,
          'get',
          'pods',
          '-l',
          'app=server',
          `--field-selector=spec.nodeName=${node.name}`,
          '-o',
          'json',
        ]),
      ) as {
        items: {
          metadata: { name: string };
          status: { containerStatuses?: { containerID?: string; ready: boolean }[] };
        }[];
      };
      return new Map(
        list.items.map((p) => [
          p.metadata.name,
          {
            id: p.status.containerStatuses?.[0]?.containerID ?? '',
            ready: p.status.containerStatuses?.[0]?.ready ?? false,
          },
        ]),
      );
    };
    const before = await containers();
    t.true(before.size > 0);
    await env.cluster.stopRealNode(node.name);
    await env.cluster.startRealNode(node.name);
    await env.kubectl(['wait', '--for=condition=Ready', `node/${node.name}`, '--timeout=120s']);
    await eventually(
      async () => {
        const now = await containers();
        return [...before].every(([name, old]) => {
          const current = now.get(name);
          return current !== undefined && current.id !== old.id && current.ready;
        });
      },
      `the pods of ${node.name} restarted in new sandboxes and Ready`,
      180_000,
    );
    // Their addresses are the new sandboxes' (the pod list is read again).
    const pods = await servers();
    for (const from of pods) {
      for (const to of pods) {
        if (from.name !== to.name)
          await connect(env, namespace, from.name, `${to.ip}:8080`, 60_000);
      }
    }
  },
);
