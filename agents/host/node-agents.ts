/**
 * The node-specific configuration of the opflex agent and the mcast daemon,
 * and the two OVS ports that make a path off the node. As in the original,
 * the host agent writes the config into the volume the three containers of
 * aci-containers-host share (opflex-hostconfig), because only the host agent
 * learns the node's facts: its pod subnets and gateways from its PodIPPool,
 * its addresses from the downward API, its uplink from the rendered config.
 *
 * Ports: as the original's host agent does (hostagent/ovs.go adds
 * `uplink-iface` to br-int), the host agent adds the node's uplink
 * interface to the integration bridge. It also creates the gateway port, an
 * internal port with the router MAC through which pods reach the node's own
 * host stack (kubelet probes, host-network pods); the original has no such
 * port and sends that traffic through the leaf and the node's VLAN instead.
 */
import { podComputesChecksums } from './netconf/check.ts';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatIp, prefixLast, requireCidr, requireIp } from '../../lib/net/cidr.ts';
import type { OpflexSessionConfig } from '../../lib/config/opflex-session.ts';
import { fnv1a } from '../opflex/model.ts';
import { subnetsFromGateways } from './ipam/index.ts';

/** ACI's pervasive gateway MAC: every leaf answers for the BD gateway with it. */
export const AciRouterMac = '00:22:bd:f8:19:ff';
export const NodeAgentConfigDir = '/usr/local/etc/opflex-agent-ovs/base-conf.d';
/** The integration bridge's port into the node's host stack. */
export const GatewayPortName = 'aci-gw0';
/**
 * VXLAN: the bridge whose own port holds the node's VTEP address on the
 * infra VLAN (the original's `<uplink>.<infraVlan>` subinterface), with the
 * uplink interface as its trunk; and the integration bridge's tunnel port.
 */
export const InfraBridgeName = 'br-infra';
export const TunnelPortName = 'vxlan0';

/**
 * ACI's infra defaults, as the original's rendered opflex-agent config
 * carries them: the fabric's TEP pool, the leaf's anycast VTEP and the UDP
 * port of the VXLAN toward it.
 */
export const AciInfraDefaults = {
  tepSubnet: '10.0.0.0/16',
  anycastVtep: '10.0.0.32',
  udpPort: 8472,
} as const;
export interface InfraFacts {
  tepSubnet: string;
  anycastVtep: string;
  udpPort: number;
}

export interface NodeFacts {
  nodeName: string;
  /** PodIPPool spec.gateways, gateway/prefix form. */
  gateways: readonly string[];
  nodeIPs: readonly string[];
  stateDir: string;
  ovsRunDir: string;
  bridge: string;
  /** From the host-agent config: encapType, uplinkInterface (absent: no uplink). */
  encapType: 'vlan' | 'vxlan';
  uplinkInterface?: string;
  /** The VMM domain's VLAN pool (required for vlan encap). */
  vlanPool?: { start: number; end: number };
  /** AciFabric spec.network.infraVlan (required for vxlan encap: the VTEP's VLAN on the uplink). */
  infraVlan?: number;
  /** AciFabric spec.aci.vmmDomain.multicastRange: each bridge domain's group (GIPo) for vxlan BUM. */
  multicastRange?: { start: string; end: string };
  /** The fabric's infra addressing; AciInfraDefaults when absent. */
  infra?: InfraFacts;
  /** Bridge domains pods of this cluster are in (the pod BD). */
  bridgeDomains: readonly string[];
  /** From the host-agent config (AciFabric spec.aci.opflex): the session with the leaf; absent, none. */
  opflex?: Omit<OpflexSessionConfig, 'name'>;
}

export interface NodeAgentFiles {
  'agent.json': Record<string, unknown>;
  'mcast.json': Record<string, unknown>;
}

/** What the host agent puts on the integration bridge. */
export interface NodePortsPlan {
  bridge: string;
  gateway: { name: string; mac: string; routes: string[] };
  uplink?: { name: string };
  tunnel?: TunnelPlan;
}

/** VXLAN: the infra bridge with the VTEP address, the uplink as its trunk, the tunnel port. */
export interface TunnelPlan {
  infraBridge: string;
  uplinkInterface: string;
  infraVlan: number;
  /** address/prefix in the TEP pool */
  vtep: string;
  vtepMac: string;
  port: string;
  remoteIp: string;
  udpPort: number;
}

/**
 * The encap VLAN of a bridge domain: a stable hash into the VMM domain's
 * pool, so every node and the leaf agree without talking. (In ACI the APIC
 * allocates it from the same pool, per EPG, and tells the leaf and, through
 * OpFlex, the nodes.)
 */
export function bridgeDomainEncapVlan(bd: string, pool: { start: number; end: number }): number {
  return pool.start + (fnv1a(bd) % (pool.end - pool.start + 1));
}

/**
 * The source MAC of this node's host-stack frames toward the leaf: locally
 * administered, stable per node name (the router MAC of the gateway port is
 * the leaf's own and must not appear as a source on a node port).
 */
export function nodeHostMac(nodeName: string): string {
  return nodeMac('host-mac', nodeName);
}

/**
 * The VNI of a bridge domain with VXLAN encap: a stable 24-bit hash, so
 * every node and the leaf agree without talking (the APIC allocates it per
 * EPG and, through OpFlex, tells the nodes as the EPG's encapId).
 */
export function bridgeDomainVni(bd: string): number {
  return 1 + (fnv1a(`vni/${bd}`) % 0xfffffe);
}

function ipv4Value(text: string): bigint {
  const ip = requireIp(text);
  if (ip.family !== 4) throw new Error(`${text} is not an IPv4 address`);
  return ip.value;
}

/**
 * The multicast group (GIPo) of a bridge domain's BUM traffic with VXLAN
 * encap: a stable hash into the VMM domain's multicast range, as the APIC
 * assigns one from that pool per EPG.
 */
export function bridgeDomainGroup(bd: string, range: { start: string; end: string }): string {
  const start = ipv4Value(range.start);
  const end = ipv4Value(range.end);
  if (end < start) throw new Error('multicastRange: start must not exceed end');
  return formatIp(4, start + (BigInt(fnv1a(`gipo/${bd}`)) % (end - start + 1n)));
}

/** A locally administered MAC, stable per node name and use. */
function nodeMac(use: string, nodeName: string): string {
  const h = fnv1a(`${use}/${nodeName}`);
  const bytes = [0x02, 0xac, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The node's VTEP address in the TEP pool. In ACI the APIC hands it out by
 * DHCP on the infra VLAN; without that server the host agent derives it
 * from the node's own IPv4 address: the pool's network with the node
 * address's host bits (nodes of one node subnet no larger than the pool
 * never collide). Throws, naming the inputs, where that is no usable VTEP.
 */
export function nodeVtep(facts: Pick<NodeFacts, 'nodeIPs' | 'infra'>): string {
  const infra = facts.infra ?? AciInfraDefaults;
  const nodeIp = facts.nodeIPs.find((ip) => !ip.includes(':'));
  if (nodeIp === undefined)
    throw new Error("vxlan encap needs the node's IPv4 address (HOST_IPS) to derive its VTEP");
  const pool = requireCidr(infra.tepSubnet);
  if (pool.family !== 4) throw new Error(`the TEP pool ${infra.tepSubnet} is not IPv4`);
  const broadcast = prefixLast(pool);
  const vtep = pool.network | (ipv4Value(nodeIp) & (broadcast - pool.network));
  const text = formatIp(4, vtep);
  if (vtep === pool.network || vtep === broadcast || text === infra.anycastVtep)
    throw new Error(
      `the VTEP ${text} derived from node address ${nodeIp} is the TEP pool ${infra.tepSubnet}'s network, broadcast or anycast (${infra.anycastVtep}) address`,
    );
  return `${text}/${pool.length}`;
}

function ipv4Subnets(facts: NodeFacts): { cidr: string; gateway: string }[] {
  const subnets = subnetsFromGateways([...facts.gateways]).filter((s) => !s.gateway.includes(':'));
  if (subnets.length === 0)
    throw new Error('the PodIPPool has no IPv4 gateway; the data plane is IPv4 only');
  return subnets;
}

/** The uplink as the agents see it: the uplink interface (vlan) or the tunnel port (vxlan). */
function uplinkOf(facts: NodeFacts): { port: string; encap: 'vlan' | 'vxlan' } | undefined {
  if (facts.uplinkInterface === undefined) return undefined;
  if (facts.encapType === 'vlan') return { port: facts.uplinkInterface, encap: 'vlan' };
  return { port: TunnelPortName, encap: 'vxlan' };
}

function encapVlans(facts: NodeFacts): Record<string, number> {
  if (facts.encapType !== 'vlan') return {};
  if (!facts.vlanPool) throw new Error('vlan encap needs the VMM domain VLAN pool');
  const pool = facts.vlanPool;
  return Object.fromEntries(facts.bridgeDomains.map((bd) => [bd, bridgeDomainEncapVlan(bd, pool)]));
}

function encapVnis(facts: NodeFacts): Record<string, number> {
  if (facts.encapType !== 'vxlan') return {};
  return Object.fromEntries(facts.bridgeDomains.map((bd) => [bd, bridgeDomainVni(bd)]));
}

function encapGroups(facts: NodeFacts): Record<string, string> {
  if (facts.encapType !== 'vxlan' || facts.uplinkInterface === undefined) return {};
  if (!facts.multicastRange) throw new Error('vxlan encap needs the VMM domain multicastRange');
  const range = facts.multicastRange;
  return Object.fromEntries(facts.bridgeDomains.map((bd) => [bd, bridgeDomainGroup(bd, range)]));
}

/** Pure: the tunnel for vxlan encap with an uplink; throws naming what is missing. */
function tunnelOf(facts: NodeFacts): TunnelPlan | undefined {
  if (facts.encapType !== 'vxlan' || facts.uplinkInterface === undefined) return undefined;
  if (facts.infraVlan === undefined)
    throw new Error('vxlan encap needs the infra VLAN (spec.network.infraVlan)');
  const infra = facts.infra ?? AciInfraDefaults;
  return {
    infraBridge: InfraBridgeName,
    uplinkInterface: facts.uplinkInterface,
    infraVlan: facts.infraVlan,
    vtep: nodeVtep(facts),
    vtepMac: nodeMac('vtep-mac', facts.nodeName),
    port: TunnelPortName,
    remoteIp: infra.anycastVtep,
    udpPort: infra.udpPort,
  };
}

/** Pure: the two files, shaped as agents/opflex/main.ts and agents/mcast/main.ts parse them. */
export function nodeAgentFiles(facts: NodeFacts): NodeAgentFiles {
  const subnets = ipv4Subnets(facts);
  const uplink = uplinkOf(facts);
  const tunnel = tunnelOf(facts);
  const bridgeDomainVlans = encapVlans(facts);
  const bridgeDomainVnis = encapVnis(facts);
  const common = {
    nodeName: facts.nodeName,
    stateDir: facts.stateDir,
    ovsRundir: facts.ovsRunDir,
    bridge: facts.bridge,
    bridgeDomainVlans,
    ...(facts.encapType === 'vxlan' ? { bridgeDomainVnis } : {}),
    ...(uplink ? { uplink } : {}),
  };
  return {
    'agent.json': {
      ...common,
      gateway: {
        ip: subnets[0]?.gateway,
        mac: AciRouterMac,
        port: GatewayPortName,
        // The host stack reaches other nodes' pods in the pod bridge domain, routed by the leaf.
        ...(uplink && facts.bridgeDomains[0] !== undefined
          ? { bridgeDomain: facts.bridgeDomains[0], hostMac: nodeHostMac(facts.nodeName) }
          : {}),
      },
      podSubnets: subnets,
      nodeIPs: facts.nodeIPs.filter((ip) => !ip.includes(':')),
      // The agent's identity toward the leaf is its node, as the original's `opflex.name`.
      ...(facts.opflex ? { opflex: { ...facts.opflex, name: facts.nodeName } } : {}),
    },
    'mcast.json': {
      ...common,
      // The groups this node joins on its VTEP, for the bridge domains it has pods in.
      ...(tunnel
        ? { bridgeDomainGroups: encapGroups(facts), groupInterface: tunnel.infraBridge }
        : {}),
    },
  };
}

/** Pure: the ports for these facts. */
export function nodePortsPlan(facts: NodeFacts): NodePortsPlan {
  const uplink = uplinkOf(facts);
  const tunnel = tunnelOf(facts);
  return {
    bridge: facts.bridge,
    gateway: {
      name: GatewayPortName,
      mac: AciRouterMac,
      routes: ipv4Subnets(facts).map((s) => s.cidr),
    },
    ...(uplink?.encap === 'vlan' ? { uplink: { name: uplink.port } } : {}),
    ...(tunnel ? { tunnel } : {}),
  };
}

/** Runs ovs-vsctl (with the agent's OVSDB remote), ip (in the node's network namespace) and ovs-ofctl on a bridge. */
export interface NodePortsShell {
  vsctl(args: readonly string[]): Promise<string>;
  ip(args: readonly string[]): Promise<string>;
  ofctl(bridge: string, args: readonly string[]): Promise<string>;
  /** ethtool in the node's network namespace; absent, offloads are left as they are. */
  ethtool?(args: readonly string[]): Promise<string>;
}

/**
 * The infra bridge's one flow of its own (beside NORMAL): VXLAN to a
 * multicast group (the leaf's BUM for a domain this node joined) is
 * readdressed to this VTEP before it reaches the bridge's own port, because
 * the userspace datapath terminates tunnels only for its own addresses.
 */
export function groupTerminationFlow(t: TunnelPlan): string {
  const [vtepIp] = t.vtep.split('/');
  return (
    `priority=100,udp,in_port=${t.uplinkInterface},dl_vlan=${t.infraVlan},nw_dst=224.0.0.0/4,tp_dst=${t.udpPort},` +
    `actions=strip_vlan,mod_dl_dst:${t.vtepMac},mod_nw_dst:${vtepIp},LOCAL`
  );
}

async function ensureTunnel(
  bridge: string,
  t: TunnelPlan,
  gatewayPort: string,
  sh: NodePortsShell,
): Promise<void> {
  // Same datapath as the integration bridge: a tunnel's underlay must be in the same one.
  const datapath = (await sh.vsctl(['get', 'Bridge', bridge, 'datapath_type'])).trim();
  const type = datapath.replace(/"/g, '') || 'system';
  await sh.vsctl([
    '--may-exist',
    'add-br',
    t.infraBridge,
    '--',
    'set',
    'Bridge',
    t.infraBridge,
    `datapath_type=${type}`,
    `other-config:hwaddr=${JSON.stringify(t.vtepMac)}`,
    '--',
    'set',
    'Port',
    t.infraBridge,
    `tag=${t.infraVlan}`,
  ]);
  await sh.ip(['link', 'set', t.uplinkInterface, 'up']);
  await sh.vsctl([
    '--may-exist',
    'add-port',
    t.infraBridge,
    t.uplinkInterface,
    '--',
    'set',
    'Port',
    t.uplinkInterface,
    'vlan_mode=trunk',
    `trunks=${t.infraVlan}`,
  ]);
  await sh.ip(['addr', 'replace', t.vtep, 'dev', t.infraBridge]);
  await sh.ip(['link', 'set', t.infraBridge, 'up']);
  await sh.vsctl([
    '--may-exist',
    'add-port',
    bridge,
    t.port,
    '--',
    'set',
    'Interface',
    t.port,
    'type=vxlan',
    `options:remote_ip=${t.remoteIp}`,
    'options:key=flow',
    `options:dst_port=${t.udpPort}`,
  ]);
  if (type === 'netdev') await sh.ofctl(t.infraBridge, ['add-flow', groupTerminationFlow(t)]);
  // The host stack's TCP/UDP to other nodes' pods enters OVS through the gateway port (a tap)
  // with its checksum left to an offload, which this datapath does not complete into the tunnel,
  // as for pod ends (podComputesChecksums).
  if (podComputesChecksums('vxlan', type))
    await sh.ethtool?.(['--offload', gatewayPort, 'tx', 'off']);
}

/**
 * Idempotent, so the host agent repeats it on every resync (a restarted
 * ovsdb-server or a replaced uplink is repaired). `add-port` waits for
 * ovs-vswitchd (no --no-wait): the internal port's device must exist before
 * it is brought up and routed.
 */
export async function ensureNodePorts(plan: NodePortsPlan, sh: NodePortsShell): Promise<void> {
  const gw = plan.gateway;
  await sh.vsctl([
    '--may-exist',
    'add-port',
    plan.bridge,
    gw.name,
    '--',
    'set',
    'Interface',
    gw.name,
    'type=internal',
    `mac=${JSON.stringify(gw.mac)}`,
  ]);
  await sh.ip(['link', 'set', gw.name, 'up']);
  // The node's host stack reaches local pods through the gateway port; the
  // kernel picks one of the node's own addresses as the source.
  for (const route of gw.routes) await sh.ip(['route', 'replace', route, 'dev', gw.name]);
  if (plan.uplink) {
    await sh.ip(['link', 'set', plan.uplink.name, 'up']);
    await sh.vsctl(['--may-exist', 'add-port', plan.bridge, plan.uplink.name]);
  }
  if (plan.tunnel) await ensureTunnel(plan.bridge, plan.tunnel, gw.name, sh);
}

/** Writes each file atomically, so the agents never read half a config. */
export async function writeNodeAgentFiles(dir: string, files: NodeAgentFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(dir, name);
    await writeFile(`${target}.tmp`, `${JSON.stringify(content, null, 2)}\n`);
    await rename(`${target}.tmp`, target);
  }
}
