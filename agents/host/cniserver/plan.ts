/**
 * Pure: from an allocation to everything ADD configures (interface spec,
 * result IPs, endpoint gateways). DEL, CHECK and reconcile derive the same
 * names from the same inputs, so nothing but the allocation is stored.
 */
import { containsAddress, requireCidr, requireIp } from '../../../lib/net/cidr.ts';
import type { Allocation, PodSubnet } from '../ipam/index.ts';
import { hostMac, hostVethName, podMac } from '../netconf/names.ts';
import type { PodInterfaceSpec, Route } from '../netconf/types.ts';
import { endpointUuid } from '../endpoints/index.ts';

export interface PodInterfacePlan {
  readonly spec: PodInterfaceSpec;
  readonly endpointUuid: string;
  readonly ips: readonly { readonly address: string; readonly gateway: string }[];
  readonly gateways: readonly string[];
}

export const DefaultMtu = 1500;

/** The pod subnet an address belongs to; throws when the chunks and subnets disagree. */
export function subnetOf(
  subnets: readonly PodSubnet[],
  ip: string,
): { prefix: number; gateway: string } {
  const address = requireIp(ip);
  for (const s of subnets) {
    const r = requireCidr(s.cidr);
    if (containsAddress(r, address)) return { prefix: r.length, gateway: s.gateway };
  }
  throw new Error(
    `address ${ip} is in none of the pod subnets ${subnets.map((s) => s.cidr).join(', ') || '(none)'}`,
  );
}

export function planPodInterface(
  allocation: Allocation,
  netns: string,
  subnets: readonly PodSubnet[],
  mtu: number,
): PodInterfacePlan {
  const { containerId, ifName } = allocation;
  const ips = allocation.ips.map((ip) => {
    const s = subnetOf(subnets, ip);
    return { address: `${ip}/${s.prefix}`, gateway: s.gateway };
  });
  const routes: Route[] = ips.map((a) => ({
    dst: a.address.includes(':') ? '::/0' : '0.0.0.0/0',
    gw: a.gateway,
  }));
  return {
    spec: {
      netns,
      ifName,
      hostIfName: hostVethName(containerId, ifName),
      hostMac: hostMac(containerId, ifName),
      mac: podMac(containerId, ifName),
      mtu,
      addresses: ips.map((a) => a.address),
      routes,
    },
    endpointUuid: endpointUuid(allocation.pod?.uid, containerId, ifName),
    ips,
    gateways: ips.map((a) => a.gateway),
  };
}
