/**
 * The CNI ADD result: its schema (spec "Success" section, 1.0) and a pure
 * builder from the allocation. Results for 0.3.x/0.4.0 configs add the
 * per-IP `version` those versions require.
 */
import { z } from 'zod';
import { isCidr } from '../../../lib/net/cidr.ts';
import { versionAtLeast } from './protocol.ts';
import type { NetworkConfig } from './protocol.ts';
import type { Route } from '../netconf/types.ts';

const ip = z.union([z.ipv4(), z.ipv6()]);
const cidr = z.union([z.cidrv4(), z.cidrv6()]);
/** An interface address: an address with a prefix length, host bits allowed (unlike z.cidrv4). */
const ipWithPrefix = z.string().refine(isCidr, 'address/prefix');

export const CniInterface = z.strictObject({
  name: z.string().min(1),
  mac: z.string().optional(),
  mtu: z.number().int().optional(),
  sandbox: z.string().optional(),
  socketPath: z.string().optional(),
  pciID: z.string().optional(),
});

export const CniIpConfig = z.strictObject({
  address: ipWithPrefix,
  gateway: ip.optional(),
  interface: z.number().int().nonnegative().optional(),
});

export const CniRoute = z.strictObject({
  dst: cidr,
  gw: ip.optional(),
  mtu: z.number().int().optional(),
  advmss: z.number().int().optional(),
  priority: z.number().int().optional(),
  table: z.number().int().optional(),
  scope: z.number().int().optional(),
});

export const CniDns = z.strictObject({
  nameservers: z.array(ip).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

/** CNI 1.0 result, strict: a field the spec does not define fails validation. */
export const CniResult = z.strictObject({
  cniVersion: z.string(),
  interfaces: z.array(CniInterface).optional(),
  ips: z.array(CniIpConfig).optional(),
  routes: z.array(CniRoute).optional(),
  dns: CniDns.optional(),
});
export type CniResult = z.infer<typeof CniResult>;

export interface ResultInput {
  readonly cniVersion: string;
  readonly hostIfName: string;
  readonly hostMac?: string;
  readonly ifName: string;
  readonly mac: string;
  readonly netns: string;
  /** address/prefix with the gateway of its subnet. */
  readonly ips: readonly { readonly address: string; readonly gateway?: string }[];
  readonly routes: readonly Route[];
  readonly dns?: NetworkConfig['dns'];
}

/** Index of the pod interface in `interfaces`: the host veth comes first, as the bridge plugin lists it. */
export const PodInterfaceIndex = 1;

export function buildResult(input: ResultInput): Record<string, unknown> {
  const legacy = !versionAtLeast(input.cniVersion, '1.0.0');
  return {
    cniVersion: input.cniVersion,
    interfaces: [
      { name: input.hostIfName, ...(input.hostMac !== undefined ? { mac: input.hostMac } : {}) },
      { name: input.ifName, mac: input.mac, sandbox: input.netns },
    ],
    ips: input.ips.map((a) => ({
      // 0.3.x and 0.4.0 require the family on each IP; 1.0 removed it.
      ...(legacy ? { version: a.address.includes(':') ? '6' : '4' } : {}),
      address: a.address,
      ...(a.gateway !== undefined ? { gateway: a.gateway } : {}),
      interface: PodInterfaceIndex,
    })),
    routes: input.routes.map((r) => ({ dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}) })),
    dns: { ...(input.dns ?? {}) },
  };
}
