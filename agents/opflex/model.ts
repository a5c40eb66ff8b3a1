/**
 * The node's data-plane model: what the files say, joined with the OpenFlow
 * port numbers OVSDB reports. Render functions take only this, so they are
 * pure and tests build it by hand.
 */
import { z } from 'zod';
import type { EndpointFile, SecurityGroupFile, ServiceFile } from './files.ts';
import { DefaultHairpinIP } from './fields.ts';
import { familyOf } from '../../lib/node-state/families.ts';
import { type ContractModel, epgUri } from './policy/contract-model.ts';

const macAddress = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

/**
 * A pod subnet of the cluster and its pervasive gateway (the same on every
 * node and on the leaf). IPv6 subnets get neighbour discovery for their
 * gateway and pod-to-pod forwarding on the node; what IPv6 still lacks
 * (uplink, services) is listed in docs/dataplane.md, "Dual stack".
 */
export const PodSubnet = z.union([
  z.object({ cidr: z.cidrv4(), gateway: z.ipv4() }),
  z.object({ cidr: z.cidrv6(), gateway: z.ipv6() }),
]);
export type PodSubnet = z.infer<typeof PodSubnet>;

/**
 * The node's uplink toward the ACI leaf. `vlan`: the port is the physical
 * uplink interface itself, and every frame on it carries its bridge
 * domain's encap VLAN (the leaf switches and routes per VLAN). `vxlan`: the
 * port is the integration bridge's VXLAN tunnel port toward the leaf's
 * anycast VTEP, and every frame carries its bridge domain's VNI
 * (`bridgeDomainVnis`); the tunnel itself (VTEP address, infra VLAN) is the
 * host agent's business, not the pipeline's.
 */
export const UplinkConfig = z.object({
  port: z.string().min(1),
  encap: z.enum(['vlan', 'vxlan']),
});
export type UplinkConfig = z.infer<typeof UplinkConfig>;

/** A VXLAN network identifier: 24 bits, 0 unused. */
export const Vni = z.number().int().min(1).max(0xffffff);

/** Node-level settings that do not come from the per-object files. */
export const DataplaneConfig = z.object({
  nodeName: z.string().min(1),
  /** The pods' default gateway. ARP for it is answered with `mac`; `port`, if set, is the OVS port of the node's host stack. */
  gateway: z.object({
    ip: z.ipv4(),
    mac: macAddress,
    port: z.string().optional(),
    /**
     * The bridge domain in which the node's host stack (behind `port`)
     * reaches pods of other nodes, through the leaf's SVI; with `hostMac`,
     * the source MAC of those frames on the uplink (the router MAC is the
     * leaf's, which must not learn it on a node port). Unset: the host stack
     * reaches local pods only.
     */
    bridgeDomain: z.string().optional(),
    hostMac: macAddress.optional(),
  }),
  /**
   * Every pod subnet of the cluster: ARP for each gateway is answered
   * locally, and any address in them that is not a local pod is behind the
   * uplink (the leaf knows where; no per-node routes).
   */
  podSubnets: z.array(PodSubnet).default([]),
  uplink: UplinkConfig.optional(),
  /** Node addresses that NodePort services listen on. */
  nodeIPs: z.array(z.ipv4()).default([]),
  hairpinIP: z.ipv4().default(DefaultHairpinIP),
  /** Bridge domain -> encap VLAN on the uplink; unnamed domains get a stable hash. */
  bridgeDomainVlans: z.record(z.string(), z.number().int().min(1).max(4094)).default({}),
  /**
   * Bridge domain -> VNI on a vxlan uplink: an input (today the host agent's
   * from the fabric spec; with OpFlex the EPG's resolved encapId), never
   * computed here. A domain without one does not leave the node.
   */
  bridgeDomainVnis: z.record(z.string(), Vni).default({}),
});
export type DataplaneConfig = z.infer<typeof DataplaneConfig>;

export interface LocalEndpoint {
  uuid: string;
  ofport: number;
  mac: string;
  ipv4: string[];
  ipv6: string[];
  vlan: number;
  bridgeDomain: string;
  /** The bridge domain's VNI on a vxlan uplink, when it has one. */
  vni?: number;
  securityGroups: string[];
  /** OpFlex URI of the endpoint's EPG (the endpoint file's `endpointGroup`). */
  endpointGroup?: string;
}

/** The uplink once OVSDB reports its ofport. */
export interface Uplink {
  port: string;
  ofport: number;
  encap: UplinkConfig['encap'];
}

export interface Model {
  config: DataplaneConfig;
  endpoints: LocalEndpoint[];
  securityGroups: Map<string, SecurityGroupFile>;
  services: ServiceFile[];
  gatewayOfport?: number;
  /** Encap VLAN of the host stack's traffic toward the leaf (gateway.bridgeDomain). */
  gatewayVlan?: number;
  /** Its VNI on a vxlan uplink. */
  gatewayVni?: number;
  uplink?: Uplink;
  /** The resolved OpFlex contract policy; unset when the agent has no policy source (contracts pass everything). */
  contracts?: ContractModel;
}

export interface FileSet {
  endpoints: EndpointFile[];
  securityGroups: SecurityGroupFile[];
  services: ServiceFile[];
}

/** FNV-1a: stable across processes and nodes (ids derived from names must agree everywhere). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The gateway IPs ARP is answered for: the configured one and each IPv4 pod subnet's. */
export function gatewayIPs(config: DataplaneConfig): string[] {
  return [...new Set([config.gateway.ip, ...ipv4Subnets(config).map((s) => s.gateway)])];
}

/** The gateway IPs neighbour solicitations are answered for: each IPv6 pod subnet's. */
export function gatewayIPv6s(config: DataplaneConfig): string[] {
  return [...new Set(ipv6Subnets(config).map((s) => s.gateway))];
}

/**
 * Whether the node has any IPv6 to carry. IPv6 flows are rendered only
 * then, so an IPv4-only node keeps exactly its IPv4 pipeline.
 */
export const carriesIPv6 = (m: Pick<Model, 'config' | 'endpoints'>): boolean =>
  ipv6Subnets(m.config).length > 0 || m.endpoints.some((ep) => ep.ipv6.length > 0);

export const ipv4Subnets = (config: DataplaneConfig): PodSubnet[] =>
  config.podSubnets.filter((s) => familyOf(s.cidr) === 'ipv4');
export const ipv6Subnets = (config: DataplaneConfig): PodSubnet[] =>
  config.podSubnets.filter((s) => familyOf(s.cidr) === 'ipv6');

export function bridgeDomainVlan(name: string, overrides: Record<string, number>): number {
  return overrides[name] ?? 1 + (fnv1a(name) % 4094);
}

const isIPv4 = (ip: string): boolean => familyOf(ip) === 'ipv4';
const isIPv6 = (ip: string): boolean => familyOf(ip) === 'ipv6';

/**
 * Endpoints whose interface has no ofport yet are left out; they appear on
 * the next render after OVSDB reports the port.
 */
export function buildModel(
  config: DataplaneConfig,
  files: FileSet,
  ofports: ReadonlyMap<string, number>,
  contracts?: ContractModel,
): Model {
  const endpoints: LocalEndpoint[] = [];
  for (const ep of [...files.endpoints].sort((a, b) => a.uuid.localeCompare(b.uuid))) {
    const ofport = ofports.get(ep.interfaceName);
    if (ofport === undefined) continue;
    endpoints.push({
      uuid: ep.uuid,
      ofport,
      mac: ep.mac,
      ipv4: ep.ips.filter(isIPv4),
      ipv6: ep.ips.filter(isIPv6),
      vlan: bridgeDomainVlan(ep.bridgeDomain, config.bridgeDomainVlans),
      bridgeDomain: ep.bridgeDomain,
      ...(config.bridgeDomainVnis[ep.bridgeDomain] !== undefined
        ? { vni: config.bridgeDomainVnis[ep.bridgeDomain] }
        : {}),
      securityGroups: ep.securityGroups,
      endpointGroup: epgUri(ep.endpointGroup),
    });
  }
  const uplinkOfport = config.uplink ? ofports.get(config.uplink.port) : undefined;
  return {
    config,
    endpoints,
    securityGroups: new Map(files.securityGroups.map((g) => [g.name, g])),
    services: [...files.services].sort((a, b) => a.uuid.localeCompare(b.uuid)),
    ...(contracts ? { contracts } : {}),
    gatewayOfport: config.gateway.port ? ofports.get(config.gateway.port) : undefined,
    ...(config.gateway.bridgeDomain !== undefined && config.gateway.hostMac !== undefined
      ? { gatewayVlan: bridgeDomainVlan(config.gateway.bridgeDomain, config.bridgeDomainVlans) }
      : {}),
    ...(config.gateway.bridgeDomain !== undefined &&
    config.gateway.hostMac !== undefined &&
    config.bridgeDomainVnis[config.gateway.bridgeDomain] !== undefined
      ? { gatewayVni: config.bridgeDomainVnis[config.gateway.bridgeDomain] }
      : {}),
    ...(config.uplink && uplinkOfport !== undefined
      ? { uplink: { ...config.uplink, ofport: uplinkOfport } }
      : {}),
  };
}

/**
 * Deterministic ids for keys: a hash into [base, base+size), probing on
 * collision in sorted key order, so the same key set always yields the same
 * ids (an agent restart re-renders identical flows and changes nothing).
 */
export function allocateIds(
  keys: Iterable<string>,
  base: number,
  size: number,
): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const key of [...new Set(keys)].sort()) {
    let slot = fnv1a(key) % size;
    while (used.has(slot)) slot = (slot + 1) % size;
    used.add(slot);
    out.set(key, base + slot);
  }
  return out;
}
