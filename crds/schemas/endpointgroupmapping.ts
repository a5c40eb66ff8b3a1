/**
 * EndpointGroupMapping: which ACI EPG and security groups the pods of a
 * namespace belong to. Replaces the `opflex.cisco.com/endpoint-group` and
 * `security-group` annotations on pods, deployments and namespaces.
 *
 * Precedence for a pod (documented, deterministic): the mapping whose
 * selector has more requirements wins; then the higher `priority`; then the
 * lexically smaller name. A mapping with an empty selector is the namespace
 * default; pods that no mapping selects use the AciFabric's default EPG.
 */
import { z } from 'zod';
import { apicName, conditions, kindObject, LabelSelector, observedGeneration } from './common.ts';

export const EndpointGroupMappingKind = 'EndpointGroupMapping';

export const EndpointGroupMappingSpec = z.object({
  podSelector: LabelSelector.meta({
    description:
      'Pods of this namespace the mapping applies to; {} selects all of them (the namespace default).',
    'x-kubernetes-map-type': 'atomic',
  }),
  endpointGroup: z
    .object({
      tenant: apicName("Tenant of the EPG; defaults to the cluster's tenant.").optional(),
      applicationProfile: apicName('Application profile of the EPG.'),
      name: apicName('Name of the EPG.'),
    })
    .meta({ description: 'The EPG the selected pods join.' }),
  securityGroups: z
    .array(
      z.object({
        tenant: apicName(
          "Tenant of the security group; defaults to the cluster's tenant.",
        ).optional(),
        name: apicName('Name of the security group (hostprotPol).'),
      }),
    )
    .max(16)
    .optional()
    .meta({
      description:
        'Extra APIC security groups of the selected pods, beside those from NetworkPolicies.',
    }),
  priority: z.number().int().min(-1000).max(1000).default(0).meta({
    description: 'Breaks ties between equally specific selectors; higher wins. Default 0.',
  }),
});
export type EndpointGroupMappingSpec = z.infer<typeof EndpointGroupMappingSpec>;

export const EndpointGroupMappingStatus = z.object({
  observedGeneration: observedGeneration(),
  conditions: conditions(),
  matchedPods: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'Pods this mapping decides.' }),
  endpointGroupDn: z
    .string()
    .max(512)
    .optional()
    .meta({ description: 'DN of the EPG on the APIC.' }),
});
export type EndpointGroupMappingStatus = z.infer<typeof EndpointGroupMappingStatus>;

export const EndpointGroupMapping = kindObject(
  EndpointGroupMappingKind,
  EndpointGroupMappingSpec,
  EndpointGroupMappingStatus,
);
export type EndpointGroupMapping = z.infer<typeof EndpointGroupMapping>;
