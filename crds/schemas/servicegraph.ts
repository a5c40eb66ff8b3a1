/**
 * ServiceGraph: one per LoadBalancer Service (same name and namespace, owned
 * by it). Replaces the `lb-ipam-ips` / `service-graph-name` annotations and
 * the state the original controller kept only in memory. The controller
 * writes spec and status; host agents read spec to program external IPs.
 */
import { z } from 'zod';
import { conditions, ipAddress, kindObject, macAddress, observedGeneration } from './common.ts';

export const ServiceGraphKind = 'ServiceGraph';

export const ServiceGraphSpec = z.object({
  externalIPs: z
    .array(ipAddress('An external (LoadBalancer) IP of the Service.'))
    .min(1)
    .max(2)
    .meta({ description: 'External IPs, one per IP family.', 'x-kubernetes-list-type': 'set' }),
  ports: z
    .array(
      z.object({
        name: z.string().max(63).default('').meta({ description: 'Service port name.' }),
        protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP').meta({ description: 'Protocol.' }),
        port: z.number().int().min(1).max(65535).meta({ description: 'External port.' }),
        nodePort: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .optional()
          .meta({ description: 'Node port, if any.' }),
      }),
    )
    .min(1)
    .max(128)
    .meta({ description: 'Ports of the Service.' }),
  nodes: z
    .array(
      z.object({
        name: z.string().min(1).max(253).meta({ description: 'Node name.' }),
        serviceEndpoint: z
          .object({
            ipv4: ipAddress("IPv4 of the node's service endpoint.").optional(),
            ipv6: ipAddress("IPv6 of the node's service endpoint.").optional(),
            mac: macAddress("MAC of the node's service endpoint."),
          })
          .meta({ description: "The node's service endpoint (PBR next hop)." }),
      }),
    )
    .max(256)
    .meta({
      description:
        'Nodes with ready endpoints that receive redirected traffic (at most maxNodesServiceGraph).',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
});
export type ServiceGraphSpec = z.infer<typeof ServiceGraphSpec>;

export const ServiceGraphStatus = z.object({
  observedGeneration: observedGeneration(),
  conditions: conditions(),
  nodeCount: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'Nodes in the redirect policy.' }),
  apic: z
    .object({
      synced: z.boolean().meta({ description: 'The APIC objects match spec.' }),
      lastSync: z
        .string()
        .optional()
        .meta({ description: 'Last successful sync.', format: 'date-time' }),
      redirectPolicyDn: z
        .string()
        .max(512)
        .optional()
        .meta({ description: 'DN of the vnsSvcRedirectPol.' }),
    })
    .optional()
    .meta({ description: 'APIC sync result.' }),
});
export type ServiceGraphStatus = z.infer<typeof ServiceGraphStatus>;

export const ServiceGraph = kindObject(ServiceGraphKind, ServiceGraphSpec, ServiceGraphStatus);
export type ServiceGraph = z.infer<typeof ServiceGraph>;
