/**
 * The project's custom resources: one entry per kind, with everything the
 * generator, the kube layer and the components need to know about it.
 */
import type { z } from 'zod';
import { AciFabric, AciFabricKind, AciFabricSpec, AciFabricStatus } from './schemas/acifabric.ts';
import { apiVersion, group, version } from './schemas/common.ts';
import {
  EndpointGroupMapping,
  EndpointGroupMappingKind,
  EndpointGroupMappingSpec,
  EndpointGroupMappingStatus,
} from './schemas/endpointgroupmapping.ts';
import { PodIPPool, PodIPPoolKind, PodIPPoolSpec, PodIPPoolStatus } from './schemas/podippool.ts';
import {
  ServiceGraph,
  ServiceGraphKind,
  ServiceGraphSpec,
  ServiceGraphStatus,
} from './schemas/servicegraph.ts';

export { apiVersion, group, version };
export * from './schemas/acifabric.ts';
export * from './schemas/podippool.ts';
export * from './schemas/endpointgroupmapping.ts';
export * from './schemas/servicegraph.ts';
export { Condition } from './schemas/common.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResource {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  description: string;
  object: z.ZodType;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const reasonColumn: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  priority: 1,
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
};

export const aciFabricResource: CustomResource = {
  kind: AciFabricKind,
  plural: 'acifabrics',
  singular: 'acifabric',
  shortNames: ['acif'],
  scope: 'Cluster',
  description:
    'AciFabric installs the ACI CNI on this cluster: APIC access, ACI objects, address plan, images and placement. One per cluster.',
  object: AciFabric,
  spec: AciFabricSpec,
  status: AciFabricStatus,
  printerColumns: [
    readyColumn,
    { name: 'Controller', type: 'string', jsonPath: '.status.components.controller.summary' },
    { name: 'Host agents', type: 'string', jsonPath: '.status.components.hostAgent.summary' },
    { name: 'OVS', type: 'string', jsonPath: '.status.components.openvswitch.summary' },
    { name: 'APIC', type: 'boolean', jsonPath: '.status.apic.connected', priority: 1 },
    { name: 'System ID', type: 'string', jsonPath: '.spec.systemId', priority: 1 },
    reasonColumn,
    ageColumn,
  ],
};

export const podIPPoolResource: CustomResource = {
  kind: PodIPPoolKind,
  plural: 'podippools',
  singular: 'podippool',
  shortNames: ['pip'],
  scope: 'Cluster',
  description:
    'PodIPPool holds the pod address chunks and the service endpoint of one node (named after the node). Spec: controller; status: host agent.',
  object: PodIPPool,
  spec: PodIPPoolSpec,
  status: PodIPPoolStatus,
  printerColumns: [
    { name: 'Chunks', type: 'string', jsonPath: '.spec.chunks' },
    { name: 'Used', type: 'integer', jsonPath: '.status.used' },
    { name: 'Capacity', type: 'integer', jsonPath: '.status.capacity' },
    { name: 'Service IP', type: 'string', jsonPath: '.spec.serviceEndpoint.ipv4' },
    // Why a node's pods may reach only their node: the host agent's UplinkReady reason.
    {
      name: 'Uplink',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="UplinkReady")].reason',
    },
    ageColumn,
  ],
};

export const endpointGroupMappingResource: CustomResource = {
  kind: EndpointGroupMappingKind,
  plural: 'endpointgroupmappings',
  singular: 'endpointgroupmapping',
  shortNames: ['epgm'],
  scope: 'Namespaced',
  description:
    'EndpointGroupMapping puts the selected pods of its namespace into an ACI EPG and security groups.',
  object: EndpointGroupMapping,
  spec: EndpointGroupMappingSpec,
  status: EndpointGroupMappingStatus,
  printerColumns: [
    {
      name: 'App profile',
      type: 'string',
      jsonPath: '.spec.endpointGroup.applicationProfile',
      priority: 1,
    },
    { name: 'EPG', type: 'string', jsonPath: '.spec.endpointGroup.name' },
    { name: 'Pods', type: 'integer', jsonPath: '.status.matchedPods' },
    readyColumn,
    reasonColumn,
    ageColumn,
  ],
};

export const serviceGraphResource: CustomResource = {
  kind: ServiceGraphKind,
  plural: 'servicegraphs',
  singular: 'servicegraph',
  shortNames: ['sg'],
  scope: 'Namespaced',
  description:
    'ServiceGraph is the ACI service graph (PBR) of one LoadBalancer Service, same name, owned by the Service.',
  object: ServiceGraph,
  spec: ServiceGraphSpec,
  status: ServiceGraphStatus,
  printerColumns: [
    { name: 'External IP', type: 'string', jsonPath: '.spec.externalIPs' },
    { name: 'Nodes', type: 'integer', jsonPath: '.status.nodeCount' },
    readyColumn,
    reasonColumn,
    ageColumn,
  ],
};

export const customResources: readonly CustomResource[] = [
  aciFabricResource,
  podIPPoolResource,
  endpointGroupMappingResource,
  serviceGraphResource,
];

export function crdName(resource: CustomResource): string {
  return `${resource.plural}.${group}`;
}
