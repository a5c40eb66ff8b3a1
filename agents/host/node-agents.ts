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
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fnv1a } from '../opflex/model.ts';
import { subnetsFromGateways } from './ipam/index.ts';

/** ACI's pervasive gateway MAC: every leaf answers for the BD gateway with it. */
export const AciRouterMac = '00:22:bd:f8:19:ff';
export const NodeAgentConfigDir = '/usr/local/etc/opflex-agent-ovs/base-conf.d';
/** The integration bridge's port into the node's host stack. */
export const GatewayPortName = 'aci-gw0';

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
  /** Bridge domains pods of this cluster are in (the pod BD). */
  bridgeDomains: readonly string[];
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
  const h = fnv1a(`host-mac/${nodeName}`);
  const bytes = [0x02, 0xac, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function ipv4Subnets(facts: NodeFacts): { cidr: string; gateway: string }[] {
  const subnets = subnetsFromGateways([...facts.gateways]).filter((s) => !s.gateway.includes(':'));
  if (subnets.length === 0)
    throw new Error('the PodIPPool has no IPv4 gateway; the data plane is IPv4 only');
  return subnets;
}

/**
 * The uplink as the agents see it. VXLAN is not rendered yet (the node's
 * VTEP address on the infra VLAN is missing): no uplink rather than a wrong one.
 */
function uplinkOf(facts: NodeFacts): { port: string; encap: 'vlan' } | undefined {
  if (facts.uplinkInterface === undefined || facts.encapType !== 'vlan') return undefined;
  return { port: facts.uplinkInterface, encap: 'vlan' };
}

function encapVlans(facts: NodeFacts): Record<string, number> {
  if (facts.encapType !== 'vlan') return {};
  if (!facts.vlanPool) throw new Error('vlan encap needs the VMM domain VLAN pool');
  const pool = facts.vlanPool;
  return Object.fromEntries(facts.bridgeDomains.map((bd) => [bd, bridgeDomainEncapVlan(bd, pool)]));
}

/** Pure: the two files, shaped as agents/opflex/main.ts and agents/mcast/main.ts parse them. */
export function nodeAgentFiles(facts: NodeFacts): NodeAgentFiles {
  const subnets = ipv4Subnets(facts);
  const uplink = uplinkOf(facts);
  const bridgeDomainVlans = encapVlans(facts);
  const common = {
    nodeName: facts.nodeName,
    stateDir: facts.stateDir,
    ovsRundir: facts.ovsRunDir,
    bridge: facts.bridge,
    bridgeDomainVlans,
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
    },
    'mcast.json': common,
  };
}

/** Pure: the ports for these facts. */
export function nodePortsPlan(facts: NodeFacts): NodePortsPlan {
  const uplink = uplinkOf(facts);
  return {
    bridge: facts.bridge,
    gateway: {
      name: GatewayPortName,
      mac: AciRouterMac,
      routes: ipv4Subnets(facts).map((s) => s.cidr),
    },
    ...(uplink ? { uplink: { name: uplink.port } } : {}),
  };
}

/** Runs ovs-vsctl (with the agent's OVSDB remote) and ip (in the node's network namespace). */
export interface NodePortsShell {
  vsctl(args: readonly string[]): Promise<string>;
  ip(args: readonly string[]): Promise<string>;
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
