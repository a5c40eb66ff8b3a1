/**
 * Pure pieces of interface setup: the `ip -batch` scripts and the CHECK
 * comparison. Kept apart from the shell so they can be tested without root.
 */
import { canonicalIp, formatIp, parseAddressOrCidr } from '../../../lib/net/cidr.ts';
import type { ObservedPodInterface, PodInterfaceSpec, Route } from './types.ts';

const isV6 = (cidrOrAddr: string): boolean => cidrOrAddr.includes(':');

/** Host-side script: the veth pair, the pod end created straight in the pod netns under its final name. */
export function hostSetupScript(spec: PodInterfaceSpec): string {
  return [
    `link add ${spec.hostIfName} address ${spec.hostMac} mtu ${spec.mtu} type veth peer name ${spec.ifName} address ${spec.mac} mtu ${spec.mtu} netns ${spec.netns}`,
    `link set ${spec.hostIfName} up`,
    '',
  ].join('\n');
}

/** Pod-side script, run with nsenter in the pod netns. */
export function podSetupScript(spec: PodInterfaceSpec): string {
  const lines = ['link set lo up'];
  for (const a of spec.addresses) {
    // nodad: the address is unique by allocation, and DAD would delay the pod's first packet by seconds.
    lines.push(`addr add ${a} dev ${spec.ifName}${isV6(a) ? ' nodad' : ''}`);
  }
  lines.push(`link set ${spec.ifName} up`);
  for (const r of spec.routes) {
    lines.push(`route add ${r.dst}${r.gw ? ` via ${r.gw}` : ''} dev ${spec.ifName}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Whether pod interfaces must compute their own TX checksums on this node.
 * A veth leaves TCP/UDP checksums to an offload (CHECKSUM_PARTIAL). The
 * kernel datapath completes them, and so does the userspace (netdev)
 * datapath when it outputs to another port of the node or to a VLAN uplink
 * (the mark travels with the frame). Into a VXLAN tunnel the userspace
 * datapath of OVS 3.1 sends the inner packet as it is: the checksum is never
 * filled in and the receiving node's conntrack drops the packet as invalid.
 * So with VXLAN encap on the userspace datapath the pod end gets `tx` off.
 * Everywhere else the offload stays, because turning it off also turns off
 * TSO and costs throughput.
 *
 * `datapathType` is the bridge's `datapath_type` column as ovs-vsctl prints
 * it (quoted or not); empty is the kernel datapath.
 */
export function podComputesChecksums(encapType: 'vlan' | 'vxlan', datapathType: string): boolean {
  return encapType === 'vxlan' && datapathType.trim().replace(/"/g, '') === 'netdev';
}

/** The pod-side command that turns TX checksum offload off (run in the pod netns). */
export function txChecksumOffCommand(ifName: string): readonly string[] {
  return ['ethtool', '--offload', ifName, 'tx', 'off'];
}

/** Characters that would split an `ip -batch` line or escape a path. */
export function isSafeNetnsPath(path: string): boolean {
  return path.startsWith('/') && !/[\s"'\\]/.test(path);
}

/** Address (host bits kept) and length in canonical text; a bare address is its host prefix. */
function canonicalCidr(cidr: string): string {
  const p = parseAddressOrCidr(cidr);
  if (!p) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  return `${formatIp(p.family, p.address)}/${p.length}`;
}

function canonicalRoute(r: Route): string {
  const dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst;
  return `${canonicalCidr(dst)} via ${r.gw ? canonicalIp(r.gw) : ''}`;
}

/**
 * CHECK: every problem between what ADD configured and what the pod netns
 * has now, as sentences. Empty means healthy. Extra addresses or routes the
 * pod added itself are not problems.
 */
export function interfaceProblems(
  expected: PodInterfaceSpec,
  observed: ObservedPodInterface,
): string[] {
  if (!observed.exists) return [`interface ${expected.ifName} does not exist in ${expected.netns}`];
  const problems: string[] = [];
  if (observed.mac !== undefined && observed.mac.toLowerCase() !== expected.mac) {
    problems.push(`interface ${expected.ifName} has MAC ${observed.mac}, expected ${expected.mac}`);
  }
  if (observed.mtu !== undefined && observed.mtu !== expected.mtu) {
    problems.push(`interface ${expected.ifName} has MTU ${observed.mtu}, expected ${expected.mtu}`);
  }
  if (observed.up === false) problems.push(`interface ${expected.ifName} is down`);
  const have = new Set(observed.addresses.map(canonicalCidr));
  for (const a of expected.addresses) {
    if (!have.has(canonicalCidr(a))) problems.push(`address ${a} is missing on ${expected.ifName}`);
  }
  const routes = new Set(observed.routes.map(canonicalRoute));
  for (const r of expected.routes) {
    if (!routes.has(canonicalRoute(r))) {
      problems.push(
        `route to ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing on ${expected.ifName}`,
      );
    }
  }
  return problems;
}
