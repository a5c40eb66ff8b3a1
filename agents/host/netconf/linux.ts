/**
 * The Linux shell of pod interface setup: iproute2 for veths, addresses and
 * routes (nsenter for commands inside the pod netns, since `ip -n` only
 * takes names under /var/run/netns and CNI_NETNS may be any path), ovs-vsctl
 * for the access bridge port, ethtool where the pod end must compute its own
 * checksums (podComputesChecksums).
 *
 * Each side is one `ip -batch` invocation, so an ADD costs three process
 * starts plus one ovs-vsctl, not a dozen.
 */
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { CommandError, run } from './exec.ts';
import {
  hostSetupScript,
  isSafeNetnsPath,
  podComputesChecksums,
  podSetupScript,
  txChecksumOffCommand,
} from './check.ts';
import type {
  ObservedPodInterface,
  PodDataplane,
  PodInterfaceSpec,
  PortIdentity,
  Route,
} from './types.ts';

export interface LinuxDataplaneOptions {
  /** The OVS bridge pods are attached to (the access bridge of the original, br-access / br-int). */
  readonly bridge: string;
  /** OVSDB remote for ovs-vsctl, e.g. `unix:/run/openvswitch/db.sock`; default: ovs-vsctl's own default. */
  readonly ovsdb?: string;
  /**
   * Network namespace (path) holding the bridge and the host ends of the
   * veths; default: the agent's own. Tests run each simulated node's
   * ovs-vswitchd in its own namespace, since the userspace datapath's
   * `ovs-netdev` tap device allows only one per namespace.
   */
  readonly hostNetns?: string;
  /**
   * How pod traffic leaves the node (HostAgentConfig encapType); with
   * `vxlan` on the userspace datapath pod ends get TX checksum offload off.
   * Default `vlan`.
   */
  readonly encapType?: 'vlan' | 'vxlan';
}

const IpLink = z.object({
  ifname: z.string(),
  address: z.string().optional(),
  mtu: z.number().optional(),
  flags: z.array(z.string()).default([]),
  addr_info: z
    .array(
      z.object({
        family: z.string(),
        local: z.string(),
        prefixlen: z.number(),
        scope: z.string().optional(),
      }),
    )
    .default([]),
});
const IpRoute = z.object({ dst: z.string(), gateway: z.string().optional() });

function isMissingDevice(err: unknown): boolean {
  return err instanceof CommandError && /Cannot find device|does not exist/.test(err.stderr);
}

export class LinuxDataplane implements PodDataplane {
  /** The bridge's datapath_type, read once: it is fixed when ovs-vswitchd creates the bridge. */
  private datapathType: Promise<string> | undefined;

  constructor(private readonly opts: LinuxDataplaneOptions) {}

  async netnsExists(netns: string): Promise<boolean> {
    try {
      await stat(netns);
      return true;
    } catch {
      return false;
    }
  }

  async createInterface(spec: PodInterfaceSpec): Promise<void> {
    if (!isSafeNetnsPath(spec.netns))
      throw new Error(`unsupported netns path ${JSON.stringify(spec.netns)}`);
    // Decided before anything is created, so a failed lookup leaves nothing to roll back.
    const fillChecksums = await this.podComputesChecksums();
    await this.ip(['-batch', '-'], hostSetupScript(spec));
    await this.inPod(spec.netns, ['ip', '-batch', '-'], podSetupScript(spec));
    if (fillChecksums) await this.inPod(spec.netns, txChecksumOffCommand(spec.ifName));
  }

  private async podComputesChecksums(): Promise<boolean> {
    const encap = this.opts.encapType ?? 'vlan';
    // With VLAN encap the answer does not depend on the datapath: no OVSDB round trip.
    if (!podComputesChecksums(encap, 'netdev')) return false;
    this.datapathType ??= this.vsctl(['get', 'Bridge', this.opts.bridge, 'datapath_type']);
    try {
      return podComputesChecksums(encap, await this.datapathType);
    } catch (err) {
      // Not cached: ovsdb-server may be starting; the kubelet retries the ADD.
      this.datapathType = undefined;
      throw err;
    }
  }

  async deleteInterface(hostIfName: string): Promise<void> {
    try {
      // Deleting one end removes the pair, also the end inside the pod.
      await this.ip(['link', 'del', hostIfName]);
    } catch (err) {
      if (!isMissingDevice(err)) throw err;
    }
  }

  async hostInterfaceExists(hostIfName: string): Promise<boolean> {
    try {
      await this.ip(['link', 'show', 'dev', hostIfName]);
      return true;
    } catch (err) {
      if (isMissingDevice(err)) return false;
      throw err;
    }
  }

  async inspectInterface(netns: string, ifName: string): Promise<ObservedPodInterface> {
    let linkJson: string;
    try {
      linkJson = await this.inPod(netns, ['ip', '-j', 'addr', 'show', 'dev', ifName]);
    } catch (err) {
      if (isMissingDevice(err)) return { exists: false, addresses: [], routes: [] };
      throw err;
    }
    const link = z.array(IpLink).parse(JSON.parse(linkJson))[0];
    if (!link) return { exists: false, addresses: [], routes: [] };
    const [v4, v6] = await Promise.all([
      this.inPod(netns, ['ip', '-j', '-4', 'route', 'show', 'dev', ifName]),
      this.inPod(netns, ['ip', '-j', '-6', 'route', 'show', 'dev', ifName]),
    ]);
    const routes = (text: string, defaultDst: string): Route[] =>
      z
        .array(IpRoute)
        .parse(JSON.parse(text || '[]'))
        .map((r) => ({
          dst: r.dst === 'default' ? defaultDst : r.dst,
          ...(r.gateway ? { gw: r.gateway } : {}),
        }));
    return {
      exists: true,
      ...(link.address !== undefined ? { mac: link.address } : {}),
      ...(link.mtu !== undefined ? { mtu: link.mtu } : {}),
      up: link.flags.includes('UP'),
      addresses: link.addr_info
        .filter((a) => a.scope !== 'link' && a.scope !== 'host')
        .map((a) => `${a.local}/${a.prefixlen}`),
      routes: [...routes(v4, '0.0.0.0/0'), ...routes(v6, '::/0')],
    };
  }

  async attachPort(hostIfName: string, id: PortIdentity): Promise<void> {
    await this.vsctl([
      '--may-exist',
      'add-port',
      this.opts.bridge,
      hostIfName,
      '--',
      'set',
      'Interface',
      hostIfName,
      `external_ids:container-id=${JSON.stringify(id.containerId)}`,
      `external_ids:attached-mac=${JSON.stringify(id.mac)}`,
      `external_ids:iface-id=${JSON.stringify(id.endpointUuid)}`,
    ]);
  }

  async detachPort(hostIfName: string): Promise<void> {
    await this.vsctl(['--if-exists', 'del-port', this.opts.bridge, hostIfName]);
  }

  async listPorts(): Promise<readonly string[]> {
    const out = await this.vsctl(['list-ports', this.opts.bridge]);
    return out.split('\n').filter((l) => l.length > 0);
  }

  /** iproute2 in the host (node) namespace. */
  private ip(args: readonly string[], input?: string): Promise<string> {
    const opts = input !== undefined ? { input } : {};
    const ns = this.opts.hostNetns;
    return ns === undefined
      ? run('ip', args, opts)
      : run('nsenter', [`--net=${ns}`, '--', 'ip', ...args], opts);
  }

  private inPod(netns: string, command: readonly string[], input?: string): Promise<string> {
    return run(
      'nsenter',
      [`--net=${netns}`, '--', ...command],
      input !== undefined ? { input } : {},
    );
  }

  private vsctl(args: readonly string[]): Promise<string> {
    // --no-wait: ovs-vswitchd picks the port up on its own; waiting for it
    // would hang the ADD whenever ovs-vswitchd restarts. --timeout bounds an
    // unreachable ovsdb-server.
    const db = this.opts.ovsdb !== undefined ? [`--db=${this.opts.ovsdb}`] : [];
    return run('ovs-vsctl', [...db, '--no-wait', '--timeout=10', ...args]);
  }
}
