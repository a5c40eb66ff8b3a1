/**
 * The file contract between the host agent (writer) and the opflex agent
 * (reader). The original exchanges `.ep` and `.service` JSON files in
 * /var/lib/opflex-agent-ovs/{endpoints,services}; this keeps that shape (one
 * file per endpoint or service, atomically renamed into place) but validates
 * it with zod, so a corrupt file is rejected on its own and never takes the
 * rest down. Security groups get files of their own because several
 * endpoints share one group and a policy change must not rewrite every
 * endpoint file.
 *
 * Directories (under the agent state dir, default /var/lib/aci-containers):
 *   endpoints/<uuid>.ep          EndpointFile
 *   services/<uuid>.service      ServiceFile
 *   security-groups/<name>.sg    SecurityGroupFile
 *
 * Writers replace files atomically (write `<name>.tmp`, rename). The reader
 * ignores other suffixes, so temporary files are never read.
 *
 * Changes since the first version (all backward compatible):
 * - ServiceFile.backends entries may be objects `{ ip, targetPorts }` where
 *   `targetPorts` maps a service port name to that backend's port (named
 *   target ports can resolve differently per pod); a plain IP string still
 *   means "use the service port's targetPort".
 * - SecurityGroupRule.ports without a protocol apply to TCP, UDP and SCTP.
 * - The data plane renders IPv4; IPv6 addresses are accepted and ignored.
 */
import { z } from 'zod';

export const EndpointFileSuffix = '.ep';
export const ServiceFileSuffix = '.service';
export const SecurityGroupFileSuffix = '.sg';

const ipAddress = z.union([z.ipv4(), z.ipv6()]);
const cidr = z.union([z.cidrv4(), z.cidrv6()]);
const macAddress = z
  .string()
  .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'lower-case MAC aa:bb:cc:dd:ee:ff');
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

export const EndpointGroupRef = z.object({
  tenant: z.string().min(1),
  appProfile: z.string().min(1),
  name: z.string().min(1),
});

export const EndpointFile = z.object({
  /** Stable id of the pod interface: `<pod uid>_<container id>_<ifname>` as the original. */
  uuid: z.string().min(1),
  namespace: z.string(),
  podName: z.string(),
  /** Host side of the veth, the port on the access bridge. */
  interfaceName: z.string().min(1),
  mac: macAddress,
  ips: z.array(ipAddress).min(1),
  gateways: z.array(ipAddress),
  endpointGroup: EndpointGroupRef,
  /** Names of SecurityGroupFiles that apply; empty means not isolated in any direction. */
  securityGroups: z.array(z.string()),
  /** Bridge domain (for BUM replication by the mcast daemon). */
  bridgeDomain: z.string().min(1),
  attributes: z.record(z.string(), z.string()).default({}),
});
export type EndpointFile = z.infer<typeof EndpointFile>;

export const PortRange = z
  .object({ from: z.number().int().min(1).max(65535), to: z.number().int().min(1).max(65535) })
  .refine((r) => r.from <= r.to, 'from must be <= to');

export const SecurityGroupRule = z.object({
  direction: z.enum(['ingress', 'egress']),
  /** Omitted: every protocol. */
  protocol: protocol.optional(),
  /** Omitted or empty: every port. Named ports are already resolved by the host agent. */
  ports: z.array(PortRange).default([]),
  /**
   * Remote addresses (source for ingress, destination for egress); omitted
   * means any address. `except` carves holes (NetworkPolicy ipBlock.except).
   */
  remotes: z.array(z.object({ cidr, except: z.array(cidr).default([]) })).optional(),
});
export type SecurityGroupRule = z.infer<typeof SecurityGroupRule>;

export const SecurityGroupFile = z.object({
  name: z.string().min(1),
  /**
   * Directions this group isolates (NetworkPolicy policyTypes): an endpoint is
   * default-deny in a direction only if one of its groups isolates it; allowed
   * traffic is the union of all its groups' rules in that direction.
   */
  isolates: z.array(z.enum(['ingress', 'egress'])),
  rules: z.array(SecurityGroupRule),
});
export type SecurityGroupFile = z.infer<typeof SecurityGroupFile>;

export const ServiceBackend = z.object({
  ip: ipAddress,
  /** Service port name -> this backend's port; missing names use the port's targetPort. */
  targetPorts: z.record(z.string(), z.number().int().min(1).max(65535)).default({}),
});
export type ServiceBackend = z.infer<typeof ServiceBackend>;

/** The backend's port for one service port. */
export function backendPort(
  backend: string | ServiceBackend,
  port: { name: string; targetPort: number },
): number {
  return typeof backend === 'string'
    ? port.targetPort
    : (backend.targetPorts[port.name] ?? port.targetPort);
}

export const backendIp = (backend: string | ServiceBackend): string =>
  typeof backend === 'string' ? backend : backend.ip;

export const ServiceFile = z.object({
  uuid: z.string().min(1),
  namespace: z.string(),
  name: z.string(),
  /** Frontend addresses: ClusterIPs, external (ServiceGraph / LoadBalancer) IPs. */
  frontends: z.array(z.object({ ip: ipAddress, kind: z.enum(['ClusterIP', 'External']) })),
  ports: z.array(
    z.object({
      name: z.string().default(''),
      protocol,
      port: z.number().int().min(1).max(65535),
      targetPort: z.number().int().min(1).max(65535),
      nodePort: z.number().int().min(1).max(65535).optional(),
    }),
  ),
  /** Ready backends (from EndpointSlices). */
  backends: z.array(z.union([ipAddress, ServiceBackend])),
  sessionAffinity: z.enum(['None', 'ClientIP']).default('None'),
  affinityTimeoutSeconds: z.number().int().min(1).max(86400).default(10800),
});
export type ServiceFile = z.infer<typeof ServiceFile>;
