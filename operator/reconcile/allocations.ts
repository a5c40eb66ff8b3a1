/**
 * Network changes the CRD cannot judge, because they depend on what IPAM
 * already handed out: the CRD sees only the old and new spec, not the IPAM
 * ledger (agents/controller/ipam/ledger.ts), which records every node's pod
 * chunks and service endpoint. Nodes keep what they were given, so a new
 * chunk size or a node service subnet that no longer holds the assigned
 * endpoints would leave running nodes with addresses the configuration
 * disowns. Such a change is refused (Degraded, field named) before anything
 * is applied; the running configuration stays.
 *
 * Only a change is judged (the spec against the configuration the operator
 * applied last): what was accepted once is never refused later because the
 * controller, still on the old configuration during a rollout, allocated
 * meanwhile.
 */
import type { AciFabricSpec } from '../../crds/index.ts';
import { AddressAllocator, addressOf } from '../../agents/controller/ipam/addresses.ts';
import { decodeAllocation, type Allocations } from '../../agents/controller/ipam/ledger.ts';
import { ControllerConfig } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { parseCidr, prefixSize } from '../../lib/net/cidr.ts';
import { ConfigKeys } from '../render/names.ts';

/** The fields of the applied controller configuration these rules compare with. */
export interface AppliedNetwork {
  podSubnetChunkSize: number;
  nodeServiceSubnet: string;
}

interface ConfigMapLike extends KubeObject {
  data?: Record<string, string>;
}

/** What the applied aci-containers-config says; undefined when absent or unreadable (then every allocation is judged). */
export function appliedNetwork(configMap: KubeObject | undefined): AppliedNetwork | undefined {
  const text = (configMap as ConfigMapLike | undefined)?.data?.[ConfigKeys.controller];
  if (!text) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ControllerConfig.safeParse(json);
  if (!parsed.success) return undefined;
  const { podSubnetChunkSize, nodeServiceSubnet } = parsed.data.network;
  return { podSubnetChunkSize, nodeServiceSubnet };
}

/** The ledger ConfigMap's entries (node → allocation). */
export function ledgerAllocations(ledger: KubeObject | undefined): Allocations {
  const data = (ledger as ConfigMapLike | undefined)?.data ?? {};
  return new Map(Object.entries(data).map(([node, text]) => [node, decodeAllocation(text)]));
}

/** Whether the spec changes a field these rules guard (so the ledger must be read). */
export function changesAllocatedFields(
  network: AciFabricSpec['network'],
  applied: AppliedNetwork | undefined,
): boolean {
  return (
    applied === undefined ||
    applied.podSubnetChunkSize !== network.podSubnetChunkSize ||
    applied.nodeServiceSubnet !== network.nodeServiceSubnet
  );
}

const shown = 3;
function examples(items: string[]): string {
  const more = items.length - shown;
  return items.slice(0, shown).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

/** Addresses in a chunk, or undefined for text that is no CIDR (not ours to judge). */
function chunkSize(cidr: string): bigint | undefined {
  const prefix = parseCidr(cidr);
  return prefix ? prefixSize(prefix) : undefined;
}

/**
 * One message per refused field, `spec.network.<field>: …`, naming the
 * allocations in the way and the value to go back to; empty when the change
 * is safe.
 */
export function allocationProblems(
  network: AciFabricSpec['network'],
  applied: AppliedNetwork | undefined,
  allocations: Allocations,
): string[] {
  const problems: string[] = [];
  const nodes = [...allocations.keys()].sort();

  if (applied?.podSubnetChunkSize !== network.podSubnetChunkSize) {
    const wanted = BigInt(network.podSubnetChunkSize);
    const other = nodes.flatMap((node) =>
      (allocations.get(node)?.chunks ?? [])
        .filter((cidr) => {
          const size = chunkSize(cidr);
          return size !== undefined && size !== wanted;
        })
        .map((cidr) => `${cidr} on ${node}`),
    );
    if (other.length > 0) {
      const back = applied ? `set it back to ${applied.podSubnetChunkSize}` : 'set it back';
      problems.push(
        `spec.network.podSubnetChunkSize: ${network.podSubnetChunkSize} differs from the size of pod address ` +
          `chunks already allocated (${examples(other)}); nodes keep their chunks, so the size can only ` +
          `change while none is allocated: ${back}`,
      );
    }
  }

  if (applied?.nodeServiceSubnet !== network.nodeServiceSubnet) {
    const subnet = new AddressAllocator([network.nodeServiceSubnet]);
    const outside = nodes.flatMap((node) => {
      const ip = allocations.get(node)?.serviceEndpoint;
      const address = ip ? addressOf(ip) : undefined;
      return address && !subnet.covers(address) ? [`${ip} on ${node}`] : [];
    });
    if (outside.length > 0) {
      const back = applied
        ? `set it back to ${applied.nodeServiceSubnet} or to a subnet that holds them`
        : 'use a subnet that holds them';
      problems.push(
        `spec.network.nodeServiceSubnet: ${network.nodeServiceSubnet} does not hold the node service endpoints ` +
          `already assigned (${examples(outside)}); nodes keep their endpoints: ${back}`,
      );
    }
  }
  return problems;
}
