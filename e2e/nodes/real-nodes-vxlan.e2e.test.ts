/**
 * The real nodes with `encapType: vxlan` (the AciFabric default): every
 * node's host agent builds its infra bridge, VTEP and tunnel port to the
 * leaf's anycast VTEP from the AciFabric and the node, and pods started by
 * the kubelets reach each other, Services, CoreDNS and the API server
 * through the tunnel. The VLAN file (real-nodes.e2e.test.ts) covers the rest
 * of the system (restarts, NetworkPolicy, IPAM); this one only what the
 * encapsulation changes, since each environment start costs minutes.
 */
import path from 'node:path';
import test from 'ava';
import { stopByState } from '../cluster/cluster.ts';
import { hostPathOf } from '../cluster/node-config.ts';
import { run } from '../../agents/host/netconf/exec.ts';
import { AciInfraDefaults } from '../../agents/host/node-agents.ts';
import { AciFabricSpec } from '../../crds/index.ts';
import { UplinkReadyCondition, UplinkReason } from '../../agents/host/kube/pool-status.ts';
import { eventually, uniqueName } from '../support/cluster.ts';
import { repoRoot } from '../support/paths.ts';
import { startRealEnvironment, type RealEnvironment } from '../support/real-nodes.ts';
import { connect, deployAgnhostServers, podsOf, type PodInfo } from '../support/workloads.ts';

let env: RealEnvironment;
const clusterDir =
  process.env.ACI_REAL_CLUSTER_DIR !== undefined
    ? `${process.env.ACI_REAL_CLUSTER_DIR}-vxlan`
    : path.join(repoRoot, '.cluster-real-vxlan');
const namespace = uniqueName('vxlan');

test.before(async (t) => {
  t.timeout(25 * 60_000, 'images, cluster and install (a cold machine builds images first)');
  env = await startRealEnvironment({
    dir: clusterDir,
    encapType: 'vxlan',
    log: (line) => t.log(line),
  });
  await deployAgnhostServers(env, namespace, env.images.agnhost.ref);
});

test.after.always(async () => {
  if (process.env.ACI_KEEP_CLUSTER !== '1') await stopByState(clusterDir);
});

test.afterEach.always(async (t) => {
  if (!t.passed && env) t.log(await env.cluster.logTails(30));
});

const servers = (): Promise<PodInfo[]> => podsOf(env.client, namespace, 'app=server');

/** ovs-vsctl against a node's own ovsdb-server (its socket under the node's /run). */
function nodeVsctl(nodeName: string, args: readonly string[]): Promise<string> {
  const node = env.cluster.realNodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node ${nodeName}`);
  const db = `unix:${hostPathOf(node, '/run/openvswitch/db.sock')}`;
  return run('ovs-vsctl', [`--db=${db}`, '--timeout=10', ...args]);
}

/** Packets the node's tunnel port sent and received, as OVS counts them. */
async function tunnelCounters(nodeName: string): Promise<{ tx: number; rx: number }> {
  const stats = await nodeVsctl(nodeName, ['get', 'Interface', 'vxlan0', 'statistics']);
  const count = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { tx: count('tx_packets'), rx: count('rx_packets') };
}

test.serial(
  'every node has a VTEP on the infra bridge and a tunnel port to the anycast VTEP',
  async (t) => {
    const { network } = AciFabricSpec.parse(env.fabric.spec);
    for (const node of env.cluster.realNodes) {
      const options = await nodeVsctl(node.name, ['get', 'Interface', 'vxlan0', 'options']);
      t.regex(
        options,
        new RegExp(`remote_ip="?${AciInfraDefaults.anycastVtep.replace(/\./g, '\\.')}`),
      );
      t.regex(options, /key=flow/);
      t.is((await nodeVsctl(node.name, ['get', 'Interface', 'vxlan0', 'type'])).trim(), 'vxlan');
      // The uplink trunks the infra VLAN only: pod frames never leave untunnelled.
      const uplinkPort = network.uplinkInterface ?? 'eth1';
      const trunks = await nodeVsctl(node.name, ['get', 'Port', uplinkPort, 'trunks']);
      t.is(trunks.trim(), `[${network.infraVlan}]`);
      // The host agent says so on the node's PodIPPool (kubectl get pip: the Uplink column).
      const uplink = await eventually(async () => {
        const pool = JSON.parse(
          await env.kubectl(['get', 'podippool', node.name, '-o', 'json']),
        ) as {
          status?: {
            conditions?: { type: string; status: string; reason: string; message: string }[];
          };
        };
        const condition = pool.status?.conditions?.find((c) => c.type === UplinkReadyCondition);
        return condition?.status === 'True' ? condition : undefined;
      }, `UplinkReady on PodIPPool ${node.name}`);
      t.is(uplink.reason, UplinkReason.Realized);
      t.regex(
        uplink.message,
        new RegExp(
          `^vxlan: VTEP 10\\.0\\.\\d+\\.\\d+/16 on br-infra, tunnel vxlan0 to ${AciInfraDefaults.anycastVtep.replace(/\./g, '\\.')}:`,
        ),
      );
    }
    t.log(await env.kubectl(['get', 'podippools', '-o', 'wide']));
  },
);

test.serial('pod to pod on one node and across nodes, through the tunnel', async (t) => {
  const pods = await servers();
  t.is(pods.length, 4);
  t.is(new Set(pods.map((p) => p.node)).size, 2, 'spread over both nodes');
  const before = new Map(
    await Promise.all(
      env.cluster.realNodes.map(async (n) => [n.name, await tunnelCounters(n.name)] as const),
    ),
  );
  for (const from of pods) {
    for (const to of pods) {
      if (from.name !== to.name) await connect(env, namespace, from.name, `${to.ip}:8080`);
    }
  }
  // Cross-node TCP left every node through vxlan0 (each node's sent packets are the other's
  // received ones). Interface statistics in OVSDB are refreshed by ovs-vswitchd only every 5 s
  // (other_config:stats-update-interval), so a read right after the traffic can show the old
  // figure: read until a deadline past two refreshes.
  for (const node of env.cluster.realNodes) {
    const was = before.get(node.name) ?? { tx: 0, rx: 0 };
    let now = await tunnelCounters(node.name);
    for (const deadline = Date.now() + 12_000; now.tx <= was.tx && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      now = await tunnelCounters(node.name);
    }
    t.true(now.tx > was.tx, `${node.name} vxlan0 sent (${was.tx} -> ${now.tx})`);
  }
});

test.serial(
  'pod to a ClusterIP Service and to kubernetes.default through CoreDNS, node to pod',
  async (t) => {
    for (const client of await servers()) {
      await connect(env, namespace, client.name, `server.${namespace}.svc.cluster.local:80`);
      await connect(env, namespace, client.name, 'kubernetes.default.svc.cluster.local:443');
    }
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
  },
);
