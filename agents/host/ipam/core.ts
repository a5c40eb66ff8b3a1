/**
 * The pure IPAM core: state in, state out, no I/O. The persistent shell
 * (store.ts) owns one state value and replaces it only after the new one is
 * on disk.
 *
 * The node's pool is the list of chunks (CIDRs) the controller assigned to it
 * (PodIPPool spec). A pod interface (container id + interface name) gets one
 * address of each family that has chunks; asking again returns the same
 * addresses. Addresses are handed out first-free in chunk order, so the used
 * addresses stay packed at the front and a chunk the controller reclaims is
 * likely empty.
 */
import {
  type Family,
  type Prefix,
  canonicalIp,
  containsAddress,
  formatCidr,
  formatIp,
  prefixLast,
  prefixSize,
  requireCidr,
  requireIp,
} from '../../../lib/net/cidr.ts';

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  /** Kubernetes pod UID when the runtime passed it (K8S_POD_UID). */
  readonly uid?: string;
}

export interface Allocation {
  readonly containerId: string;
  readonly ifName: string;
  /** Canonical addresses, IPv4 first. */
  readonly ips: readonly string[];
  /** Network namespace path at ADD time; reconcile uses it to find leftovers. */
  readonly netns?: string;
  readonly pod?: PodRef;
}

export interface IpamState {
  readonly chunks: readonly string[];
  readonly allocations: readonly Allocation[];
}

export const emptyState: IpamState = { chunks: [], allocations: [] };

export interface AllocationRequest {
  readonly containerId: string;
  readonly ifName: string;
  readonly netns?: string;
  readonly pod?: PodRef;
}

export type AllocateOutcome =
  | { readonly kind: 'allocated'; readonly state: IpamState; readonly allocation: Allocation }
  | { readonly kind: 'existing'; readonly state: IpamState; readonly allocation: Allocation }
  | { readonly kind: 'exhausted'; readonly family: Family }
  | { readonly kind: 'noChunks' };

export interface ReleaseOutcome {
  readonly state: IpamState;
  readonly released: readonly Allocation[];
}

export interface FamilyUsage {
  /** Addresses in use, including any outside the current chunks (a reclaimed chunk). */
  readonly used: number;
  /** Assignable addresses in the chunks (reserved addresses excluded). */
  readonly size: bigint;
  /** Size of the largest chunk of this family, the unit the controller hands out. */
  readonly chunkSize: bigint;
  readonly addresses: readonly string[];
  /** True when the node should ask the controller for another chunk. */
  readonly needsMore: boolean;
}

export interface IpamUsage {
  readonly v4: FamilyUsage;
  readonly v6: FamilyUsage;
}

/** Validates and canonicalizes chunk CIDRs; duplicates collapse. Throws on an invalid CIDR. */
export function normalizeChunks(chunks: readonly string[]): string[] {
  return [...new Set(chunks.map((c) => formatCidr(requireCidr(c))))];
}

/** Reserved addresses (gateways, subnet edges) in canonical form, for fast lookup. */
export function reservedSet(reserved: readonly string[]): ReadonlySet<string> {
  return new Set(reserved.map(canonicalIp));
}

export function findAllocation(
  state: IpamState,
  containerId: string,
  ifName: string,
): Allocation | undefined {
  return state.allocations.find((a) => a.containerId === containerId && a.ifName === ifName);
}

export function usedAddresses(state: IpamState): ReadonlySet<string> {
  return new Set(state.allocations.flatMap((a) => a.ips));
}

function firstFree(ranges: readonly Prefix[], taken: ReadonlySet<string>): string | undefined {
  for (const r of ranges) {
    // At most |taken| + 1 candidates are looked at per range, so the scan is
    // bounded by the number of allocations, not by the (maybe /64) chunk size.
    for (let v = r.network, last = prefixLast(r); v <= last; v++) {
      const text = formatIp(r.family, v);
      if (!taken.has(text)) return text;
    }
  }
  return undefined;
}

export function familiesOf(chunks: readonly string[]): Family[] {
  const fams = new Set(chunks.map((c) => requireCidr(c).family));
  return ([4, 6] as const).filter((f) => fams.has(f));
}

/**
 * Allocates one address per family that has chunks, or returns the existing
 * allocation of this container id + interface. All families or none.
 */
export function allocate(
  state: IpamState,
  req: AllocationRequest,
  reserved: ReadonlySet<string>,
): AllocateOutcome {
  const existing = findAllocation(state, req.containerId, req.ifName);
  if (existing) return { kind: 'existing', state, allocation: existing };
  const ranges = state.chunks.map(requireCidr);
  const families = familiesOf(state.chunks);
  if (families.length === 0) return { kind: 'noChunks' };
  const taken = new Set([...usedAddresses(state), ...reserved]);
  const ips: string[] = [];
  for (const family of families) {
    const ip = firstFree(
      ranges.filter((r) => r.family === family),
      taken,
    );
    if (ip === undefined) return { kind: 'exhausted', family };
    ips.push(ip);
  }
  const allocation: Allocation = {
    containerId: req.containerId,
    ifName: req.ifName,
    ips,
    ...(req.netns !== undefined ? { netns: req.netns } : {}),
    ...(req.pod !== undefined ? { pod: req.pod } : {}),
  };
  return {
    kind: 'allocated',
    state: { ...state, allocations: [...state.allocations, allocation] },
    allocation,
  };
}

/** Releases the allocations of a container (one interface, or all of them when ifName is omitted). */
export function release(state: IpamState, containerId: string, ifName?: string): ReleaseOutcome {
  return releaseWhere(
    state,
    (a) => a.containerId === containerId && (ifName === undefined || a.ifName === ifName),
  );
}

/** Garbage collection: releases every allocation whose owner is no longer alive. */
export function collectGarbage(
  state: IpamState,
  isLive: (a: Allocation) => boolean,
): ReleaseOutcome {
  return releaseWhere(state, (a) => !isLive(a));
}

function releaseWhere(state: IpamState, doomed: (a: Allocation) => boolean): ReleaseOutcome {
  const released = state.allocations.filter(doomed);
  if (released.length === 0) return { state, released };
  return {
    state: { ...state, allocations: state.allocations.filter((a) => !doomed(a)) },
    released,
  };
}

/**
 * Replaces the chunk list. Allocations outside the new chunks are kept (the
 * pods still use them) and still count as used; no new address comes from a
 * removed chunk.
 */
export function setChunks(state: IpamState, chunks: readonly string[]): IpamState {
  return { ...state, chunks: normalizeChunks(chunks) };
}

function familyUsage(
  state: IpamState,
  reserved: ReadonlySet<string>,
  family: Family,
  expected: boolean,
): FamilyUsage {
  const ranges = state.chunks.map(requireCidr).filter((r) => r.family === family);
  let size = 0n;
  let chunkSize = 0n;
  for (const r of ranges) {
    size += prefixSize(r);
    if (prefixSize(r) > chunkSize) chunkSize = prefixSize(r);
  }
  for (const text of reserved) {
    const ip = requireIp(text);
    if (ranges.some((r) => containsAddress(r, ip))) size -= 1n;
  }
  const addresses = state.allocations
    .flatMap((a) => a.ips)
    .filter((ip) => requireIp(ip).family === family);
  const used = BigInt(addresses.length);
  // As the original host agent: ask for another chunk once less than half a
  // chunk is left, so a burst of pods does not have to wait for the controller.
  const needsMore = ranges.length === 0 ? expected : used > size - chunkSize / 2n;
  return { used: addresses.length, size, chunkSize, addresses, needsMore };
}

/**
 * Usage per family. `expectedFamilies` are the families the cluster has pod
 * subnets in: a family without any chunk then reads as needing more.
 */
export function usage(
  state: IpamState,
  reserved: ReadonlySet<string>,
  expectedFamilies: readonly Family[] = [],
): IpamUsage {
  return {
    v4: familyUsage(state, reserved, 4, expectedFamilies.includes(4)),
    v6: familyUsage(state, reserved, 6, expectedFamilies.includes(6)),
  };
}
