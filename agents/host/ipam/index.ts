/** Pod IP allocation of one node: the public API for the host agent. */
import {
  canonicalIp,
  formatCidr,
  formatIp,
  requireCidr,
  subnetEdges,
  type Family,
} from '../../../lib/net/cidr.ts';
import { familiesOf as familiesOfCidrs } from './core.ts';
import type { IpamUsage } from './core.ts';

export { IpamStore, IpamExhaustedError } from './store.ts';
export type { IpamStoreOptions } from './store.ts';
export type {
  Allocation,
  AllocationRequest,
  IpamUsage,
  FamilyUsage,
  PodRef,
  IpamState,
} from './core.ts';

/** A pod subnet of the cluster (AciFabric), e.g. `{ cidr: '10.2.0.0/16', gateway: '10.2.0.1' }`. */
export interface PodSubnet {
  readonly cidr: string;
  readonly gateway: string;
}

/** The addresses of the pod subnets no pod may get: gateways, network and broadcast addresses. */
export function reservedAddresses(subnets: readonly PodSubnet[]): string[] {
  return [
    ...new Set(
      subnets.flatMap((s) => {
        const p = requireCidr(s.cidr);
        return [canonicalIp(s.gateway), ...subnetEdges(p).map((v) => formatIp(p.family, v))];
      }),
    ),
  ];
}

export function subnetFamilies(subnets: readonly PodSubnet[]): Family[] {
  return familiesOfCidrs(subnets.map((s) => s.cidr));
}

/**
 * Pod subnets from PodIPPool `spec.gateways` (gateway/prefix form, e.g.
 * `10.2.0.1/16`): the subnet is the gateway's network.
 */
export function subnetsFromGateways(gateways: readonly string[]): PodSubnet[] {
  return gateways.map((g) => {
    const p = requireCidr(g);
    return { cidr: formatCidr(p), gateway: formatIp(p.family, p.address) };
  });
}

/** What the host agent reports in PodIPPool status, from IpamStore.usage(). */
export interface PoolStatusSummary {
  /** Assignable addresses in the chunks, capped at Number.MAX_SAFE_INTEGER (an IPv6 /64 is 2^64). */
  readonly capacity: number;
  readonly used: number;
  readonly allocated: readonly string[];
  /** Whether the controller should assign another chunk (either family). */
  readonly needsMore: boolean;
}

export function poolStatusSummary(usage: IpamUsage): PoolStatusSummary {
  const size = usage.v4.size + usage.v6.size;
  return {
    capacity: size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size),
    used: usage.v4.used + usage.v6.used,
    allocated: [...usage.v4.addresses, ...usage.v6.addresses],
    needsMore: usage.v4.needsMore || usage.v6.needsMore,
  };
}
