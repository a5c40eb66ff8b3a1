/**
 * Two simulated nodes behind one simulated ACI leaf (VLAN or VXLAN encap), each node
 * with its own OVS, opflex agent and mcast daemon. Nothing here writes a
 * flow or a config by hand: the host agent's own code computes each node's
 * agent.json / mcast.json (nodeAgentFiles) and creates its gateway and
 * uplink ports (ensureNodePorts); the agents run as their entry points do,
 * from those files (started before the files exist, as under a kubelet).
 *
 * Bridge domains: `bd-pods` owns <prefix>.0.0/16 and `bd-other` owns
 * <otherPrefix>.0.0/16, gateways .0.1 on the leaf's SVIs. Node i's pods get
 * <prefix>.<i+1>.<host>; pods use the whole /16, so traffic within a BD
 * needs the flooded ARP first, and traffic between BDs is routed by the leaf.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { LeafSimulator } from '../../leaf-simulator/leaf.ts';
import { bridgeDomainVlan } from '../../../agents/opflex/model.ts';
import {
  AciInfraDefaults,
  type NodeAgentFiles,
  type NodeFacts,
  ensureNodePorts,
  nodeAgentFiles,
  nodePortsPlan,
  nodeVtep,
  writeNodeAgentFiles,
} from '../../../agents/host/node-agents.ts';
import type { McastDaemon } from '../../../agents/mcast/daemon.ts';
import { type DaemonFromFile, startDaemonFromFile } from '../../../agents/mcast/run.ts';
import { type Cleanup, macFor, run } from './netns.ts';
import { TestNode, type TestPod } from './node.ts';

export const BridgeDomains = ['bd-pods', 'bd-other'] as const;
export const InfraVlan = 4093;

export interface TwoNodes {
  nodes: [TestNode, TestNode];
  readonly daemons: McastDaemon[];
  leaf: LeafSimulator;
  /** What the host agent's code wrote for each node. */
  files: [NodeAgentFiles, NodeAgentFiles];
  facts: [NodeFacts, NodeFacts];
  addPod(
    nodeIndex: 0 | 1,
    key: string,
    hostNumber: number,
    bridgeDomain?: string,
    subnetPrefix?: string,
  ): Promise<TestPod>;
  settle(): Promise<void>;
}

export async function startTwoNodes(opts: {
  tag: string;
  prefix: string;
  /** Second octet pair of bd-other's subnet; default: prefix with the second octet + 1. */
  otherPrefix?: string;
  /** Node i's own addresses, as the host agent learns them from the downward API (vxlan: required, the VTEP derives from them). */
  nodeIPs?: (i: number) => string[];
  /** spec.aci.vmmDomain.encapType of the fabric; default vlan. */
  encap?: 'vlan' | 'vxlan';
  dir: string;
  log: Logger;
  cleanup: Cleanup;
}): Promise<TwoNodes> {
  const { tag, prefix, dir, log, cleanup } = opts;
  const [a = '10', b = '0'] = prefix.split('.');
  const otherPrefix = opts.otherPrefix ?? `${a}.${Number(b) + 1}`;
  const subnetOf: Record<string, string> = {
    'bd-pods': `${prefix}.0.1/16`,
    'bd-other': `${otherPrefix}.0.1/16`,
  };
  const names = ['n1', 'n2'] as const;
  const facts = names.map((name, i): NodeFacts => ({
    nodeName: name,
    // The PodIPPool's gateways: every pod subnet of the cluster.
    gateways: Object.values(subnetOf),
    nodeIPs: opts.nodeIPs?.(i) ?? [],
    stateDir: path.join(dir, name, 'state'),
    ovsRunDir: path.join(dir, name, 'ovs'),
    bridge: `br${tag}${name.slice(1)}`,
    encapType: opts.encap ?? 'vlan',
    uplinkInterface: 'eth1',
    vlanPool: { start: 3000, end: 3999 },
    infraVlan: InfraVlan,
    multicastRange: { start: '225.20.1.1', end: '225.20.255.255' },
    bridgeDomains: [...BridgeDomains],
  })) as [NodeFacts, NodeFacts];
  const files = facts.map(nodeAgentFiles) as [NodeAgentFiles, NodeAgentFiles];
  const vlans = files[0]['agent.json'].bridgeDomainVlans as Record<string, number>;
  const vnis = (files[0]['agent.json'].bridgeDomainVnis ?? {}) as Record<string, number>;
  const groups = (files[0]['mcast.json'].bridgeDomainGroups ?? {}) as Record<string, string>;
  const vxlan = opts.encap === 'vxlan';
  // What the APIC would tell the leaf: each BD's encapsulation and subnets.
  const leaf = await LeafSimulator.start({
    name: `${tag}-leaf`,
    bridgeDomains: BridgeDomains.map((bd) => ({
      name: bd,
      vlan: vxlan ? bridgeDomainVlan(bd, {}) : (vlans[bd] ?? 0),
      subnets: [subnetOf[bd] ?? ''],
      ...(vxlan ? { vni: vnis[bd] ?? 0, group: groups[bd] ?? '' } : {}),
    })),
    ...(vxlan
      ? {
          vxlan: {
            anycastVtep: `${AciInfraDefaults.anycastVtep}/${AciInfraDefaults.tepSubnet.split('/')[1]}`,
            infraVlan: InfraVlan,
          },
        }
      : {}),
    log,
  });
  cleanup.add(() => leaf.stop());

  const nodes: TestNode[] = [];
  const fromFile: DaemonFromFile[] = [];
  for (const [i, name] of names.entries()) {
    const f = facts[i] as NodeFacts;
    const configDir = path.join(dir, name, 'hostconfig');
    const node = new TestNode({
      name,
      netns: `${tag}-${name}`,
      dir: path.join(dir, name),
      bridge: f.bridge,
      gatewayIp: '',
      gatewayMac: '',
      agentConfigFile: path.join(configDir, 'agent.json'),
      log,
    });
    cleanup.add(() => node.stop());
    await node.start();
    const daemon = await startDaemonFromFile({
      file: path.join(configDir, 'mcast.json'),
      log,
      tuning: { probeIntervalMs: 300, rescanIntervalMs: 1000, hostNetns: `${tag}-${name}` },
      pollIntervalMs: 300,
    });
    cleanup.add(() => daemon.stop());
    fromFile.push(daemon);
    await leaf.attachNode(
      name,
      node.opts.netns,
      'eth1',
      vxlan ? nodeVtep(f).split('/')[0] : undefined,
    );
    // The host agent's steps once it knows its PodIPPool: ports, then the agents' config.
    await ensureNodePorts(nodePortsPlan(f), {
      vsctl: (args) =>
        run('ovs-vsctl', [`--db=unix:${node.sup.dbSocket}`, '--timeout=10', ...args]),
      ip: (args) => run('ip', ['-n', node.opts.netns, ...args]),
      ofctl: (bridge, [command = 'show', ...rest]) =>
        run('ovs-ofctl', [command, `unix:${path.join(node.ovsDir, `${bridge}.mgmt`)}`, ...rest]),
    });
    await writeNodeAgentFiles(configDir, files[i] as NodeAgentFiles);
    await node.agentConfigured();
    await daemon.watcher.firstApplied;
    nodes.push(node);
  }
  const [n1, n2] = nodes as [TestNode, TestNode];
  const daemons = (): McastDaemon[] =>
    fromFile.map((d) => d.daemon).filter((d): d is McastDaemon => d !== undefined);
  let macs = 0;
  return {
    nodes: [n1, n2],
    get daemons() {
      return daemons();
    },
    leaf,
    files,
    facts,
    addPod: (nodeIndex, key, hostNumber, bridgeDomain = 'bd-pods', subnetPrefix = prefix) =>
      (nodeIndex === 0 ? n1 : n2).addPod({
        uuid: key,
        namespace: 'default',
        name: key,
        netns: `${tag}-${key}`,
        hostIf: `${tag}${key}`,
        ip: `${subnetPrefix}.${nodeIndex + 1}.${hostNumber}`,
        prefixLen: 16,
        mac: macFor(0x85, ++macs),
        gateway: `${subnetPrefix}.0.1`,
        bridgeDomain,
      }),
    async settle() {
      for (const node of [n1, n2]) await node.agent.settled();
      for (const d of daemons()) await d.settled();
    },
  };
}
