/**
 * EndpointGroupMapping status: how many pods the mapping decides (through
 * the same resolveEndpointGroup the host agent uses), the EPG's DN, and
 * whether the EPG is real — one of this cluster's own EPGs, or found on the
 * APIC. Ready / Invalid conditions with reasons from a closed list.
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';
import type { Condition } from '../../../lib/kube/conditions.ts';
import { setConditions } from '../../../lib/kube/conditions.ts';
import {
  resolveEndpointGroup,
  type ClusterDefaults,
  type MappingInput,
} from '../../../lib/policy/endpoint-group.ts';
import { dns } from '../apicnames.ts';
import type { EndpointGroupMappingObject, Pod } from '../caches.ts';

export const EpgReasons = {
  found: 'EndpointGroupFound',
  owned: 'EndpointGroupOwnedByCluster',
  notFound: 'EndpointGroupNotFound',
  apicUnreachable: 'ApicUnreachable',
} as const;

export type EpgValidity = 'owned' | 'found' | 'notFound' | 'unknown';

export function clusterDefaults(config: ControllerConfig): ClusterDefaults {
  return {
    tenant: config.aci.tenant,
    defaultEndpointGroup: config.aci.defaultEndpointGroup,
    systemEndpointGroup: config.aci.systemEndpointGroup,
    systemNamespaces: config.aci.systemNamespaces,
  };
}

export function mappingInput(m: EndpointGroupMappingObject): MappingInput {
  return { name: m.metadata.name, namespace: m.metadata.namespace ?? '', spec: m.spec };
}

/** Pods of the namespace that this mapping decides. */
export function matchedPods(
  mapping: EndpointGroupMappingObject,
  all: readonly EndpointGroupMappingObject[],
  pods: readonly Pod[],
  defaults: ClusterDefaults,
): number {
  const key = `${mapping.metadata.namespace}/${mapping.metadata.name}`;
  const inputs = all.map(mappingInput);
  let count = 0;
  for (const pod of pods) {
    const decision = resolveEndpointGroup(
      {
        namespace: pod.metadata.namespace ?? '',
        name: pod.metadata.name,
        labels: pod.metadata.labels,
      },
      inputs,
      defaults,
    );
    if (decision.mapping === key) count++;
  }
  return count;
}

export function endpointGroupDn(
  config: ControllerConfig,
  mapping: EndpointGroupMappingObject,
): string {
  const epg = mapping.spec.endpointGroup;
  return dns(config).epg({
    tenant: epg.tenant ?? config.aci.tenant,
    applicationProfile: epg.applicationProfile,
    name: epg.name,
  });
}

/** The EPGs this cluster creates itself (static objects), by DN. */
export function ownedEndpointGroupDns(config: ControllerConfig): Set<string> {
  const { aci } = config;
  return new Set(
    [aci.defaultEndpointGroup, aci.systemEndpointGroup, aci.nodesEndpointGroup]
      .filter((e) => e.tenant === aci.tenant && e.applicationProfile === aci.applicationProfile)
      .map((e) => dns(config).epg(e)),
  );
}

export function mappingConditions(
  previous: readonly Condition[] | undefined,
  validity: EpgValidity,
  dn: string,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const inputs =
    validity === 'owned' || validity === 'found'
      ? [
          {
            type: 'Ready',
            status: 'True' as const,
            reason: validity === 'owned' ? EpgReasons.owned : EpgReasons.found,
            message: `EPG ${dn} exists`,
          },
          {
            type: 'Invalid',
            status: 'False' as const,
            reason: validity === 'owned' ? EpgReasons.owned : EpgReasons.found,
            message: `EPG ${dn} exists`,
          },
        ]
      : validity === 'notFound'
        ? [
            {
              type: 'Ready',
              status: 'False' as const,
              reason: EpgReasons.notFound,
              message: `EPG ${dn} does not exist on the APIC`,
            },
            {
              type: 'Invalid',
              status: 'True' as const,
              reason: EpgReasons.notFound,
              message: `EPG ${dn} does not exist on the APIC`,
            },
          ]
        : [
            {
              type: 'Ready',
              status: 'Unknown' as const,
              reason: EpgReasons.apicUnreachable,
              message: `could not check EPG ${dn}: the APIC is unreachable`,
            },
            {
              type: 'Invalid',
              status: 'Unknown' as const,
              reason: EpgReasons.apicUnreachable,
              message: `could not check EPG ${dn}: the APIC is unreachable`,
            },
          ];
  return setConditions(previous, inputs, generation, now);
}
