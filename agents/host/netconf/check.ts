/**
 * Pure pieces of interface setup: the `ip -batch` scripts and the CHECK
 * comparison. Kept apart from the shell so they can be tested without root.
 */
import ipaddr from 'ipaddr.js';
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

/** Characters that would split an `ip -batch` line or escape a path. */
export function isSafeNetnsPath(path: string): boolean {
  return path.startsWith('/') && !/[\s"'\\]/.test(path);
}

function canonicalCidr(cidr: string): string {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  const text = addr instanceof ipaddr.IPv6 ? addr.toRFC5952String() : addr.toString();
  return `${text}/${len}`;
}

function canonicalRoute(r: Route): string {
  const dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst;
  const gw = r.gw ? ipaddr.parse(r.gw) : undefined;
  const gwText =
    gw === undefined ? '' : gw instanceof ipaddr.IPv6 ? gw.toRFC5952String() : gw.toString();
  return `${canonicalCidr(dst.includes('/') ? dst : `${dst}/${isV6(dst) ? 128 : 32}`)} via ${gwText}`;
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
