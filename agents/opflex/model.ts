/**
 * The node's data-plane model: what the files say, joined with the OpenFlow
 * port numbers OVSDB reports. Render functions take only this, so they are
 * pure and tests build it by hand.
 */
import { z } from 'zod';
import type { EndpointFile, SecurityGroupFile, ServiceFile } from './files.ts';
import { DefaultHairpinIP } from './fields.ts';
import { isIPv4Cidr } from './iprange.ts';

const macAddress = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

/** A pod subnet of the cluster and its pervasive gateway (the same on every node and on the leaf). */
export const PodSubnet = z.object({ cidr: z.cidrv4(), gateway: z.ipv4() });
export type PodSubnet = z.infer<typeof PodSubnet>;

/**
 * The node's uplink toward the ACI leaf. `vlan`: the port is the physical
 * uplink interface itself, and every frame on it carries its bridge
 * domain's encap VLAN (the leaf switches and routes per VLAN).
 */
export const UplinkConfig = z.object({ port: z.string().min(1), encap: z.literal('vlan') });
export type UplinkConfig = z.infer<typeof UplinkConfig>;

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
});
export type DataplaneConfig = z.infer<typeof DataplaneConfig>;

export interface LocalEndpoint {
  uuid: string;
  ofport: number;
  mac: string;
  ipv4: string[];
  vlan: number;
  bridgeDomain: string;
  securityGroups: string[];
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
  uplink?: Uplink;
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

/** The gateway IPs ARP is answered for: the configured one and each pod subnet's. */
export function gatewayIPs(config: DataplaneConfig): string[] {
  return [...new Set([config.gateway.ip, ...config.podSubnets.map((s) => s.gateway)])];
}

export function bridgeDomainVlan(name: string, overrides: Record<string, number>): number {
  return overrides[name] ?? 1 + (fnv1a(name) % 4094);
}

const isIPv4 = (ip: string): boolean => isIPv4Cidr(ip);

/**
 * Endpoints whose interface has no ofport yet are left out; they appear on
 * the next render after OVSDB reports the port.
 */
export function buildModel(
  config: DataplaneConfig,
  files: FileSet,
  ofports: ReadonlyMap<string, number>,
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
      vlan: bridgeDomainVlan(ep.bridgeDomain, config.bridgeDomainVlans),
      bridgeDomain: ep.bridgeDomain,
      securityGroups: ep.securityGroups,
    });
  }
  const uplinkOfport = config.uplink ? ofports.get(config.uplink.port) : undefined;
  return {
    config,
    endpoints,
    securityGroups: new Map(files.securityGroups.map((g) => [g.name, g])),
    services: [...files.services].sort((a, b) => a.uuid.localeCompare(b.uuid)),
    gatewayOfport: config.gateway.port ? ofports.get(config.gateway.port) : undefined,
    ...(config.gateway.bridgeDomain !== undefined && config.gateway.hostMac !== undefined
      ? { gatewayVlan: bridgeDomainVlan(config.gateway.bridgeDomain, config.bridgeDomainVlans) }
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
