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

/** Node-level settings that do not come from the per-object files. */
export const DataplaneConfig = z.object({
  nodeName: z.string().min(1),
  /** The pods' default gateway. ARP for it is answered with `mac`; `port`, if set, is the OVS port behind which it lives. */
  gateway: z.object({ ip: z.ipv4(), mac: macAddress, port: z.string().optional() }),
  /** Node addresses that NodePort services listen on. */
  nodeIPs: z.array(z.ipv4()).default([]),
  hairpinIP: z.ipv4().default(DefaultHairpinIP),
  /** Links of the (simulated) fabric toward other nodes and the pod subnets behind each. */
  fabricLinks: z
    .array(z.object({ node: z.string(), port: z.string(), subnets: z.array(z.cidrv4()) }))
    .default([]),
  /** Bridge domain -> VLAN used on fabric links; unnamed domains get a stable hash. */
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

export interface FabricLink {
  node: string;
  port: string;
  ofport: number;
  subnets: string[];
}

export interface Model {
  config: DataplaneConfig;
  endpoints: LocalEndpoint[];
  securityGroups: Map<string, SecurityGroupFile>;
  services: ServiceFile[];
  gatewayOfport?: number;
  links: FabricLink[];
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
  const links: FabricLink[] = [];
  for (const l of config.fabricLinks) {
    const ofport = ofports.get(l.port);
    if (ofport !== undefined) links.push({ ...l, ofport });
  }
  return {
    config,
    endpoints,
    securityGroups: new Map(files.securityGroups.map((g) => [g.name, g])),
    services: [...files.services].sort((a, b) => a.uuid.localeCompare(b.uuid)),
    gatewayOfport: config.gateway.port ? ofports.get(config.gateway.port) : undefined,
    links,
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
