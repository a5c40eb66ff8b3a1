/**
 * The simulated ACI leaf: a network namespace of its own with one port per
 * node uplink, switching per bridge domain and routing between bridge
 * domains as their pervasive gateway. VLAN encap: a bridge domain is its
 * encap VLAN on the node ports. VXLAN encap (`vxlan` option): the node
 * ports are trunks of the infra VLAN only, the leaf's anycast VTEP is on
 * the infra bridge, and inside the switch a bridge domain is still one VLAN
 * (leaf-local) whose members are VXLAN tunnel ports, one per (node VTEP,
 * domain) for known unicast, and a sender per domain to the domain's
 * multicast group for BUM. The infra
 * bridge snoops IGMP, so BUM reaches only nodes that joined the group.
 *
 * The switch is an Open vSwitch of the leaf's own (its own ovsdb-server and
 * ovs-vswitchd in the leaf namespace) running OVS's built-in 802.1Q
 * learning switch (the NORMAL action: per-VLAN MAC learning, flooding of
 * broadcast / unknown unicast / multicast to the other ports of the VLAN,
 * trunk ports that drop untagged frames and foreign VLANs), not the
 * OpenFlow pipeline under test. A Linux VLAN-aware bridge would be the
 * first choice, being an independent implementation, but this machine's
 * kernel has neither bridge VLAN filtering nor 802.1Q devices. The
 * pervasive gateway is one SVI per bridge domain: an internal port, access
 * port of the BD's VLAN, with ACI's router MAC 00:22:bd:f8:19:ff and the
 * BD's gateway addresses, and the namespace's IPv4 forwarding routes
 * between bridge domains (one VRF).
 *
 * Pure core: `*Args`/`*Lines` build the ovs-vsctl and iproute2 commands.
 * Thin shell: `LeafSimulator`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ipaddr from 'ipaddr.js';
import pino, { type Logger } from 'pino';
import { OvsSupervisor, dbSocketPath } from '../../agents/openvswitch/supervisor.ts';

const execFileP = promisify(execFile);

export const AciRouterMac = '00:22:bd:f8:19:ff';
/** The switch inside the leaf namespace. */
export const LeafBridge = 'leaf0';
/** VXLAN: the underlay bridge; its own port holds the anycast VTEP. */
export const LeafInfraBridge = 'infra0';
/** Fabric links carry VXLAN with the infra VLAN tag inside full-size pod frames (ACI asks for at least 1600). */
export const FabricLinkMtu = 9000;

export interface LeafBridgeDomain {
  name: string;
  /**
   * The BD's encap VLAN on the node ports (with VLAN encap, the EPG encap
   * the APIC allocated); with VXLAN encap only the leaf's own id of the BD.
   */
  vlan: number;
  /** The BD's subnets, gateway/prefix form (10.2.0.1/16): the SVI answers for each gateway. */
  subnets: string[];
  /** VXLAN: the BD's VNI and its multicast group (GIPo) for BUM. */
  vni?: number;
  group?: string;
}

/** VXLAN encap: the leaf's anycast VTEP on the infra VLAN. */
export interface LeafVxlan {
  /** address/prefix in the TEP pool, e.g. 10.0.0.32/16 */
  anycastVtep: string;
  infraVlan: number;
  udpPort?: number;
}

export interface LeafOptions {
  bridgeDomains: LeafBridgeDomain[];
  vxlan?: LeafVxlan;
  routerMac?: string;
  /** Namespace name; default unique per process and instance. */
  name?: string;
  log?: Logger;
}

/** A node where attachNode accepts it: a netns name (under /run/netns), a netns path, or a pid. */
export type NodeNetns = string | number;

export interface LeafPort {
  node: string;
  /** The leaf's end of the veth, in the leaf namespace. */
  port: string;
  /** The node's end, in the node's namespace. */
  uplink: string;
  /** Path of the node's network namespace. */
  netnsPath: string;
}

export interface MacEntry {
  mac: string;
  vlan: number;
  port: string;
}

export const sviName = (vlan: number): string => `bd${vlan}`;

export function netnsPathOf(ns: NodeNetns): string {
  if (typeof ns === 'number') return `/proc/${ns}/ns/net`;
  return ns.includes('/') ? ns : `/run/netns/${ns}`;
}

/** The only flow of the leaf's bridge: be a learning switch. */
export const LeafFlow = 'priority=0,actions=NORMAL';

/** The SVI port: an internal port with the router MAC, access port of the BD's VLAN. */
export function sviPortArgs(bd: LeafBridgeDomain, routerMac: string): string[] {
  const svi = sviName(bd.vlan);
  return [
    '--may-exist',
    'add-port',
    LeafBridge,
    svi,
    `tag=${bd.vlan}`,
    '--',
    'set',
    'Interface',
    svi,
    'type=internal',
    `mac=${JSON.stringify(routerMac)}`,
  ];
}

/** The SVI's addresses: one gateway per subnet of the BD. */
export function sviAddressLines(bd: LeafBridgeDomain): string[] {
  const svi = sviName(bd.vlan);
  return [...bd.subnets.map((s) => `addr add ${s} dev ${svi}`), `link set ${svi} up`];
}

/** A node port: a trunk of every BD's VLAN (untagged frames and other VLANs are dropped). */
export function nodePortArgs(port: string, vlans: readonly number[]): string[] {
  const trunks = vlans.length > 0 ? [`trunks=${[...vlans].sort((a, b) => a - b).join(',')}`] : [];
  return ['--may-exist', 'add-port', LeafBridge, port, ...trunks, 'vlan_mode=trunk'];
}

/** VXLAN: a node's tunnel port for one bridge domain. */
export const tunnelPortName = (id: number, bd: LeafBridgeDomain): string => `t${id}-${bd.vlan}`;
/** VXLAN: the leaf's sender of a bridge domain's BUM to its group. */
export const groupSenderName = (bd: LeafBridgeDomain): string => `g${bd.vlan}`;

/** A VXLAN tunnel port of the switch, access port of the BD's leaf-local VLAN. */
export function tunnelPortArgs(
  name: string,
  remoteIp: string,
  bd: LeafBridgeDomain,
  vxlan: LeafVxlan,
): string[] {
  const [local] = vxlan.anycastVtep.split('/');
  return [
    '--may-exist',
    'add-port',
    LeafBridge,
    name,
    `tag=${bd.vlan}`,
    '--',
    'set',
    'Interface',
    name,
    'type=vxlan',
    `options:remote_ip=${remoteIp}`,
    `options:local_ip=${local}`,
    `options:key=${bd.vni}`,
    `options:dst_port=${vxlan.udpPort ?? 8472}`,
  ];
}

/** `name:vlan:gateway/prefix[,gateway/prefix]`, as the CLI takes a bridge domain. */
export function parseBridgeDomain(text: string): LeafBridgeDomain {
  // VXLAN adds the VNI and the group: name:vlan:gateways:vni:group.
  const [name, vlan, subnets, vni, group, ...rest] = text.split(':');
  const vxlan = vni !== undefined || group !== undefined;
  if (
    !name ||
    !vlan ||
    !subnets ||
    !/^\d+$/.test(vlan) ||
    Number(vlan) < 1 ||
    Number(vlan) > 4094 ||
    rest.length > 0 ||
    (vxlan && (!/^\d+$/.test(vni ?? '') || Number(vni) > 0xffffff || !group))
  )
    throw new Error(
      `bridge domain ${text}: expected name:vlan:gateway/prefix[,gateway/prefix][:vni:group]`,
    );
  return {
    name,
    vlan: Number(vlan),
    subnets: subnets.split(','),
    ...(vxlan ? { vni: Number(vni), group: group ?? '' } : {}),
  };
}

/** The CLI's `--vxlan anycast/prefix:infraVlan[:udpPort]`. */
export function parseVxlan(text: string): LeafVxlan {
  const [anycastVtep, infraVlan, udpPort, ...rest] = text.split(':');
  if (
    !anycastVtep?.includes('/') ||
    !/^\d+$/.test(infraVlan ?? '') ||
    (udpPort !== undefined && !/^\d+$/.test(udpPort)) ||
    rest.length > 0
  )
    throw new Error(`vxlan ${text}: expected anycast/prefix:infraVlan[:udpPort]`);
  return {
    anycastVtep,
    infraVlan: Number(infraVlan),
    ...(udpPort !== undefined ? { udpPort: Number(udpPort) } : {}),
  };
}

/** Parses `ovs-appctl fdb/show`: ` port  VLAN  MAC                Age`. */
export function parseFdb(text: string, portNames: ReadonlyMap<number, string>): MacEntry[] {
  const out: MacEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [port, vlan, mac] = line.trim().split(/\s+/);
    const name = portNames.get(Number(port));
    if (!name || !mac || vlan === undefined) continue;
    out.push({ mac, vlan: Number(vlan), port: name });
  }
  return out;
}

let instances = 0;

/**
 * An L3Out: a routed interface of the leaf's VRF on an external network,
 * here the host bridge the nodes' own interfaces and the API server are on.
 */
export interface LeafL3Out {
  /** The external network's bridge in this machine's namespace. */
  bridge: string;
  /** Name of the link's end on that bridge. */
  hostInterface: string;
  /** The leaf's address on the external network, address/prefix. */
  address: string;
  /** The external router (this machine's address on the bridge): the leaf's default route. */
  router: string;
}

/** Network form of a gateway/prefix (10.2.0.1/16 → 10.2.0.0/16), as routes need it. */
export function networkOf(cidr: string): string {
  const [address, length] = ipaddr.parseCIDR(cidr);
  return `${ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${length}`).toString()}/${length}`;
}

/**
 * `ip` commands of an L3Out once its veth exists: the leaf's address and
 * default route, and, in the external namespace, a route to every bridge
 * domain subnet through the leaf (what ACI advertises out of an L3Out).
 */
export function l3OutCommands(
  l3out: LeafL3Out,
  bridgeDomains: readonly LeafBridgeDomain[],
): { leaf: string[]; external: string[][] } {
  const [leafIp = ''] = l3out.address.split('/');
  return {
    leaf: [
      `addr add ${l3out.address} dev ${L3OutPort}`,
      `link set ${L3OutPort} up`,
      `route replace default via ${l3out.router}`,
    ],
    external: [
      ['link', 'set', l3out.hostInterface, 'master', l3out.bridge, 'up'],
      ...bridgeDomains.flatMap((bd) =>
        bd.subnets.map((s) => ['route', 'replace', networkOf(s), 'via', leafIp]),
      ),
    ],
  };
}

export const L3OutPort = 'l3out0';

export class LeafSimulator {
  private readonly ports = new Map<string, LeafPort>();
  /** VXLAN: node -> its VTEP address and the number of its tunnel ports. */
  private readonly vteps = new Map<string, { vtep: string; id: number }>();
  private readonly vxlan?: LeafVxlan;
  private l3out?: LeafL3Out;
  private nextPort = 1;
  private bridgeDomains: LeafBridgeDomain[];
  private readonly routerMac: string;
  private sup?: OvsSupervisor;

  private constructor(
    readonly netns: string,
    /** Run dir of the leaf's ovsdb-server and ovs-vswitchd. */
    readonly ovsDir: string,
    opts: LeafOptions,
  ) {
    this.bridgeDomains = [...opts.bridgeDomains];
    this.routerMac = opts.routerMac ?? AciRouterMac;
    if (opts.vxlan) this.vxlan = opts.vxlan;
  }

  /** Creates the namespace, its switch and an SVI per bridge domain. */
  static async start(opts: LeafOptions): Promise<LeafSimulator> {
    const vlans = opts.bridgeDomains.map((b) => b.vlan);
    if (new Set(vlans).size !== vlans.length)
      throw new Error(`bridge domains share an encap VLAN: ${vlans.join(', ')}`);
    if (opts.vxlan)
      for (const bd of opts.bridgeDomains)
        if (bd.vni === undefined || bd.group === undefined)
          throw new Error(`bridge domain ${bd.name}: VXLAN encap needs its vni and group`);
    const name = opts.name ?? `aci-leaf-${process.pid}-${++instances}`;
    const dir = await mkdtemp(path.join(os.tmpdir(), `${name}-`));
    const leaf = new LeafSimulator(name, dir, opts);
    await removeLeftoverNamespace(name);
    await sh('ip', ['netns', 'add', name]);
    try {
      // Routing between bridge domains; no redirects (a pod's next hop is always the gateway), no
      // reverse-path filter (replies may come back on another BD's SVI), ARP answered only on the
      // SVI that owns the address (all SVIs share the router MAC).
      await leaf.inLeaf('sysctl', [
        '-qw',
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.default.send_redirects=0',
        'net.ipv4.conf.all.arp_ignore=1',
      ]);
      await leaf.ipBatch(['link set lo up']);
      leaf.sup = new OvsSupervisor({
        dir,
        bridges: [LeafBridge],
        log: (opts.log ?? pino({ level: 'silent' })).child({ leaf: name }),
        netns: name,
      });
      await leaf.sup.start();
      await sh('ovs-ofctl', ['add-flow', `unix:${path.join(dir, `${LeafBridge}.mgmt`)}`, LeafFlow]);
      if (opts.vxlan) await leaf.startVtep(opts.vxlan);
      for (const bd of leaf.bridgeDomains) await leaf.addSvi(bd);
    } catch (err) {
      await leaf.stop();
      throw err;
    }
    return leaf;
  }

  get domains(): readonly LeafBridgeDomain[] {
    return this.bridgeDomains;
  }

  /**
   * Cables a node: a veth pair whose one end becomes the node's uplink
   * (moved into its namespace under `uplinkName`, up), the other the leaf's
   * port for it, a trunk of every bridge domain's VLAN.
   */
  async attachNode(
    node: string,
    netns: NodeNetns,
    uplinkName = 'eth1',
    /** VXLAN: the node's VTEP address (in ACI the leaf knows it from the infra DHCP lease). */
    vtep?: string,
  ): Promise<LeafPort> {
    if (this.ports.has(node)) throw new Error(`node ${node} is attached already`);
    if (this.vxlan && vtep === undefined)
      throw new Error(`node ${node}: VXLAN encap needs the node's VTEP address`);
    const n = this.nextPort++;
    const port = `p${n}-${node}`.slice(0, 15);
    // A temporary name in the node's namespace, so that creating it never collides with what is there.
    const tmp = `lf${process.pid % 100000}u${n}`.slice(0, 15);
    const netnsPath = netnsPathOf(netns);
    await this.ipBatch([`link add ${port} type veth peer name ${tmp} netns ${netnsPath}`]);
    const mtu = this.vxlan ? ` mtu ${FabricLinkMtu}` : '';
    try {
      await sh('nsenter', [
        `--net=${netnsPath}`,
        '--',
        'ip',
        'link',
        'set',
        tmp,
        'name',
        uplinkName,
        ...(this.vxlan ? ['mtu', String(FabricLinkMtu)] : []),
        'up',
      ]);
      await this.ipBatch([`link set ${port}${mtu} up`]);
      if (this.vxlan)
        await this.vsctl([
          '--may-exist',
          'add-port',
          LeafInfraBridge,
          port,
          `trunks=${this.vxlan.infraVlan}`,
          'vlan_mode=trunk',
        ]);
      else
        await this.vsctl(
          nodePortArgs(
            port,
            this.bridgeDomains.map((b) => b.vlan),
          ),
        );
    } catch (err) {
      await this.ipBatch([`link del ${port}`]).catch(() => undefined);
      throw err;
    }
    const attached = { node, port, uplink: uplinkName, netnsPath };
    this.ports.set(node, attached);
    if (this.vxlan && vtep !== undefined) {
      this.vteps.set(node, { vtep, id: n });
      await this.addVtep(n, vtep, this.vxlan);
    }
    return attached;
  }

  /**
   * The L3Out: the bridge domains' subnets become reachable from the
   * external network (its routes point at the leaf), and the leaf reaches
   * that network directly, as ACI routes BD subnets out of an L3Out. Pods'
   * traffic to the API server and to other nodes takes this path both ways.
   */
  async attachExternal(l3out: LeafL3Out): Promise<void> {
    const commands = l3OutCommands(l3out, this.bridgeDomains);
    await sh('ip', [
      'link',
      'add',
      l3out.hostInterface,
      'type',
      'veth',
      'peer',
      'name',
      L3OutPort,
      'netns',
      this.netns,
    ]);
    this.l3out = l3out;
    await this.ipBatch(commands.leaf);
    for (const args of commands.external) await sh('ip', args);
  }

  /** Unplugs a node: deleting the leaf's end removes the node's uplink too. */
  async detachNode(node: string): Promise<void> {
    const p = this.ports.get(node);
    if (!p) return;
    this.ports.delete(node);
    await this.vsctl(['--if-exists', 'del-port', p.port]).catch(() => undefined);
    const v = this.vteps.get(node);
    this.vteps.delete(node);
    if (v)
      for (const bd of this.bridgeDomains)
        await this.vsctl(['--if-exists', 'del-port', tunnelPortName(v.id, bd)]).catch(
          () => undefined,
        );
    await this.ipBatch([`link del ${p.port}`]).catch(() => undefined);
  }

  /** Adds and removes bridge domains (SVIs and trunk VLANs), as the APIC's tree changes. */
  async setBridgeDomains(bds: LeafBridgeDomain[]): Promise<void> {
    if (this.vxlan) throw new Error('setBridgeDomains: VLAN encap only so far');
    const key = (b: LeafBridgeDomain): string => JSON.stringify([b.vlan, [...b.subnets].sort()]);
    const wanted = new Set(bds.map(key));
    for (const bd of this.bridgeDomains)
      if (!wanted.has(key(bd)))
        await this.vsctl(['--if-exists', 'del-port', LeafBridge, sviName(bd.vlan)]);
    const have = new Set(this.bridgeDomains.map(key));
    for (const bd of bds) if (!have.has(key(bd))) await this.addSvi(bd);
    this.bridgeDomains = [...bds];
    for (const p of this.ports.values())
      await this.vsctl([
        'set',
        'Port',
        p.port,
        `trunks=[${bds
          .map((b) => b.vlan)
          .sort((a, b) => a - b)
          .join(',')}]`,
      ]);
  }

  /** The MACs the leaf learned on node ports, per VLAN. */
  async macTable(): Promise<MacEntry[]> {
    const ctl = path.join(this.ovsDir, 'ovs-vswitchd.ctl');
    const fdb = await sh('ovs-appctl', ['-t', ctl, 'fdb/show', LeafBridge]);
    const ofports = new Map<number, string>();
    for (const p of this.ports.values()) {
      const n = Number((await this.vsctl(['get', 'Interface', p.port, 'ofport'])).trim());
      ofports.set(n, p.port);
    }
    return parseFdb(fdb, ofports);
  }

  attached(): LeafPort[] {
    return [...this.ports.values()];
  }

  /** VXLAN: the node VTEPs the leaf has tunnels to. */
  knownVteps(): string[] {
    return [...this.vteps.values()].map((v) => v.vtep).sort();
  }

  /** VXLAN: `ovs-appctl mdb/show` of the infra bridge: which node ports joined which group. */
  async groupMembers(): Promise<{ port: string; group: string }[]> {
    const ctl = path.join(this.ovsDir, 'ovs-vswitchd.ctl');
    const text = await sh('ovs-appctl', ['-t', ctl, 'mdb/show', LeafInfraBridge]);
    const names = new Map<number, string>();
    for (const p of this.ports.values())
      names.set(Number((await this.vsctl(['get', 'Interface', p.port, 'ofport'])).trim()), p.port);
    const out: { port: string; group: string }[] = [];
    for (const line of text.split('\n').slice(1)) {
      const [port, , group] = line.trim().split(/\s+/);
      const name = names.get(Number(port));
      if (name && group) out.push({ port: name, group });
    }
    return out;
  }

  /**
   * The anycast VTEP on the infra bridge (access port of the infra VLAN),
   * IGMP snooping there, and per bridge domain a sender to its group. OVS
   * refuses a multicast remote_ip on a tunnel port, so the sender is a
   * kernel VXLAN device (group, no learning: everything it gets goes to the
   * group) plugged into the switch as an access port of the BD's VLAN; the
   * switch floods BUM to it. It only sends: nodes address the anycast VTEP,
   * whose tunnels OVS terminates first.
   */
  private async startVtep(vxlan: LeafVxlan): Promise<void> {
    // ovs-vsctl, not the supervisor: the bridge's own port needs its Port row (the VTEP's VLAN tag).
    await this.vsctl([
      '--may-exist',
      'add-br',
      LeafInfraBridge,
      '--',
      'set',
      'Bridge',
      LeafInfraBridge,
      `datapath_type=${this.sup?.datapathType ?? 'netdev'}`,
      'mcast_snooping_enable=true',
      'other_config:mcast-snooping-disable-flood-unregistered=true',
      // No IGMP querier on this segment: memberships must outlive a test run or a demo.
      'other_config:mcast-snooping-aging-time=86400',
      '--',
      'set',
      'Port',
      LeafInfraBridge,
      `tag=${vxlan.infraVlan}`,
    ]);
    await sh('ovs-ofctl', [
      'add-flow',
      `unix:${path.join(this.ovsDir, `${LeafInfraBridge}.mgmt`)}`,
      LeafFlow,
    ]);
    await this.ipBatch([
      `addr add ${vxlan.anycastVtep} dev ${LeafInfraBridge}`,
      `link set ${LeafInfraBridge} mtu ${FabricLinkMtu} up`,
    ]);
    // The bridge's own port is a tap: without this the kernel hands OVS its VXLAN with the UDP
    // checksum left for an offload that never happens, and every node's datapath drops it.
    await this.inLeaf('ethtool', ['-K', LeafInfraBridge, 'tx', 'off']);
    const [local] = vxlan.anycastVtep.split('/');
    for (const bd of this.bridgeDomains) {
      const sender = groupSenderName(bd);
      await this.ipBatch([
        `link add ${sender} type vxlan id ${bd.vni} local ${local} group ${bd.group} dev ${LeafInfraBridge} dstport ${vxlan.udpPort ?? 8472}`,
        `link set ${sender} up`,
      ]);
      await this.vsctl(['--may-exist', 'add-port', LeafBridge, sender, `tag=${bd.vlan}`]);
    }
  }

  /**
   * A node's tunnel ports, one per bridge domain, excluded from flooding:
   * BUM goes to the domain's group instead, once, to every member.
   */
  private async addVtep(id: number, vtep: string, vxlan: LeafVxlan): Promise<void> {
    for (const bd of this.bridgeDomains) {
      const name = tunnelPortName(id, bd);
      await this.vsctl(tunnelPortArgs(name, vtep, bd, vxlan));
      await sh('ovs-ofctl', [
        'mod-port',
        `unix:${path.join(this.ovsDir, `${LeafBridge}.mgmt`)}`,
        name,
        'no-flood',
      ]);
    }
  }

  /** Removes everything: ports, the switch's daemons, the namespace (its veths take the nodes' uplinks with them). */
  async stop(): Promise<void> {
    for (const node of [...this.ports.keys()]) await this.detachNode(node);
    // Its routes in the external namespace go with the link.
    if (this.l3out)
      await sh('ip', ['link', 'del', this.l3out.hostInterface]).catch(() => undefined);
    await this.sup?.stop().catch(() => undefined);
    await sh('ip', ['netns', 'del', this.netns]).catch(() => undefined);
    await rm(this.ovsDir, { recursive: true, force: true });
  }

  /** Runs a command inside the leaf's namespace (e.g. tcpdump, ping from an SVI). */
  inLeaf(cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.netns, cmd, ...args]);
  }

  private async addSvi(bd: LeafBridgeDomain): Promise<void> {
    // Waits for ovs-vswitchd (no --no-wait): the internal port's device must exist before it gets addresses.
    await this.vsctl(sviPortArgs(bd, this.routerMac));
    await this.ipBatch(sviAddressLines(bd));
    // What the SVI routes in from the L3Out (e.g. the API server's replies to pods) would enter
    // this tap with its TCP/UDP checksum left to an offload, which the userspace datapath does not
    // complete into a tunnel: the node's conntrack would drop it. ICMP is unaffected.
    if (this.vxlan) await this.inLeaf('ethtool', ['--offload', sviName(bd.vlan), 'tx', 'off']);
  }

  private vsctl(args: string[]): Promise<string> {
    return sh('ovs-vsctl', [`--db=unix:${dbSocketPath(this.ovsDir)}`, '--timeout=10', ...args]);
  }

  private ipBatch(lines: string[]): Promise<string> {
    return sh('ip', ['-n', this.netns, '-batch', '-'], `${lines.join('\n')}\n`);
  }
}

/**
 * A leaf of the same name left by a run that was killed (its cluster's leaf
 * is named after the cluster): its switch processes and namespace go first,
 * or `ip netns add` fails with "File exists" and every later start with it.
 * Deleting the namespace also deletes the veths whose one end is in it (node
 * ports, the L3Out's host interface).
 */
async function removeLeftoverNamespace(name: string): Promise<void> {
  const pids = await sh('ip', ['netns', 'pids', name]).catch(() => undefined);
  if (pids === undefined) return;
  for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await sh('ip', ['netns', 'del', name]);
}

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await execFileP(cmd, args, { maxBuffer: 16 << 20 })).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`))
        : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}
