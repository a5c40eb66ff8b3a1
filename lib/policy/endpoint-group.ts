/**
 * Which EPG and security groups a pod belongs to. The controller (to report
 * EndpointGroupMapping status and push APIC state) and the host agent (to
 * write the pod's endpoint file) call this same function, so both always
 * agree.
 *
 * Precedence, in order:
 *  1. mappings of the pod's namespace whose podSelector matches the pod;
 *     the one with more selector requirements wins (an empty selector is the
 *     namespace default, the least specific), then the higher priority,
 *     then the lexically smaller name;
 *  2. the cluster default EPG from the AciFabric (or the system EPG for
 *     pods of system namespaces).
 */
import { matchesSelector, selectorSpecificity, type Labels } from '../kube/selector.ts';
import type { EndpointGroupMappingSpec } from '../../crds/index.ts';

export interface EndpointGroupRef {
  tenant: string;
  applicationProfile: string;
  name: string;
}

export interface SecurityGroupRef {
  tenant: string;
  name: string;
}

export interface MappingInput {
  name: string;
  namespace: string;
  spec: Pick<EndpointGroupMappingSpec, 'podSelector' | 'endpointGroup' | 'securityGroups'> & {
    priority?: number;
  };
}

export interface PodInput {
  namespace: string;
  name: string;
  labels: Labels;
}

export interface ClusterDefaults {
  tenant: string;
  defaultEndpointGroup: EndpointGroupRef;
  /** EPG of pods in systemNamespaces (kube-system, the CNI's own namespace), as in the original. */
  systemEndpointGroup: EndpointGroupRef;
  systemNamespaces: readonly string[];
}

export interface EndpointGroupDecision {
  endpointGroup: EndpointGroupRef;
  securityGroups: SecurityGroupRef[];
  /** `namespace/name` of the deciding mapping, or undefined for a cluster default. */
  mapping?: string;
}

export function compareMappings(a: MappingInput, b: MappingInput): number {
  return (
    selectorSpecificity(b.spec.podSelector) - selectorSpecificity(a.spec.podSelector) ||
    (b.spec.priority ?? 0) - (a.spec.priority ?? 0) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

export function resolveEndpointGroup(
  pod: PodInput,
  mappings: readonly MappingInput[],
  defaults: ClusterDefaults,
): EndpointGroupDecision {
  const winner = mappings
    .filter((m) => m.namespace === pod.namespace && matchesSelector(m.spec.podSelector, pod.labels))
    .sort(compareMappings)[0];
  if (winner) {
    const { endpointGroup, securityGroups } = winner.spec;
    return {
      endpointGroup: {
        tenant: endpointGroup.tenant ?? defaults.tenant,
        applicationProfile: endpointGroup.applicationProfile,
        name: endpointGroup.name,
      },
      securityGroups: (securityGroups ?? []).map((sg) => ({
        tenant: sg.tenant ?? defaults.tenant,
        name: sg.name,
      })),
      mapping: `${winner.namespace}/${winner.name}`,
    };
  }
  const system = defaults.systemNamespaces.includes(pod.namespace);
  return {
    endpointGroup: system ? defaults.systemEndpointGroup : defaults.defaultEndpointGroup,
    securityGroups: [],
  };
}
