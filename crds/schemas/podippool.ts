/**
 * PodIPPool: one per Node, named after it. Replaces the original's Node
 * annotations `opflex.cisco.com/pod-network-ranges` and `service-endpoint`.
 * The controller owns spec (chunks, service endpoint); the node's host agent
 * owns status (addresses in use) — never the other way round.
 */
import { z } from 'zod';
import {
  cidr,
  conditions,
  ipAddress,
  kindObject,
  macAddress,
  observedGeneration,
} from './common.ts';

export const PodIPPoolKind = 'PodIPPool';

export const PodIPPoolSpec = z.object({
  chunks: z.array(cidr('A chunk of a pod subnet, e.g. 10.2.0.32/27.')).max(1024).meta({
    description:
      'Chunks of the pod subnets assigned to this node; the host agent allocates pod IPs from them.',
    'x-kubernetes-list-type': 'set',
  }),
  gateways: z.array(cidr('Gateway of a pod subnet in gateway/prefix form.')).max(8).meta({
    description:
      'Pod subnet gateways in gateway/prefix form (one per pod subnet the chunks come from).',
  }),
  serviceEndpoint: z
    .object({
      ipv4: ipAddress('IPv4 service endpoint of the node, from nodeServiceSubnet.').optional(),
      ipv6: ipAddress('IPv6 service endpoint of the node, from nodeServiceSubnet.').optional(),
      mac: macAddress('Stable locally administered MAC of the service endpoint.'),
    })
    .optional()
    .meta({
      description: "The node's service endpoint, the next hop of service graph redirects (PBR).",
    }),
});
export type PodIPPoolSpec = z.infer<typeof PodIPPoolSpec>;

export const PodIPPoolStatus = z.object({
  observedGeneration: observedGeneration(),
  conditions: conditions(),
  capacity: z.number().int().min(0).optional().meta({ description: 'Addresses in the chunks.' }),
  used: z.number().int().min(0).optional().meta({ description: 'Addresses allocated to pods.' }),
  allocated: z.array(z.string().max(64)).max(65536).optional().meta({
    description: 'Addresses allocated to pods on this node.',
    'x-kubernetes-list-type': 'set',
  }),
});
export type PodIPPoolStatus = z.infer<typeof PodIPPoolStatus>;

export const PodIPPool = kindObject(PodIPPoolKind, PodIPPoolSpec, PodIPPoolStatus);
export type PodIPPool = z.infer<typeof PodIPPool>;
