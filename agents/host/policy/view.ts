/**
 * Pure: where each pod of this node belongs, from what the informers hold.
 * The EPG comes from resolveEndpointGroup (the controller calls the same
 * function, so both agree), the security groups from the NetworkPolicy
 * compiler. Only groups that a pod of this node uses become files.
 *
 * Peers of a NetworkPolicy are pods anywhere in the cluster, so the
 * compiler gets every pod; for this node's pods the addresses come from the
 * IPAM allocations, which exist before the kubelet reports status.podIPs.
 */
import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { NetworkPolicyCompiler } from '../../../lib/policy/network-policy.ts';
import { resolveEndpointGroup } from '../../../lib/policy/endpoint-group.ts';
import type { ClusterDefaults, MappingInput } from '../../../lib/policy/endpoint-group.ts';
import type { SecurityGroupFile } from '../../opflex/files.ts';
import type { EndpointPolicy, PodIdentity } from '../endpoints/index.ts';
import type { Allocation } from '../ipam/index.ts';
import {
  asV1,
  type EndpointGroupMappingObject,
  type NamespaceObject,
  type NetworkPolicyObject,
  type PodObject,
} from '../kube/objects.ts';

export interface PolicyInputs {
  /** Every pod the agent knows (for NetworkPolicy peers); this node's pods among them. */
  readonly pods: readonly PodObject[];
  readonly nodeName: string;
  readonly namespaces: readonly NamespaceObject[];
  readonly networkPolicies: readonly NetworkPolicyObject[];
  readonly mappings: readonly EndpointGroupMappingObject[];
  readonly allocations: readonly Allocation[];
  readonly defaults: ClusterDefaults;
  readonly bridgeDomain: string;
  /** Kept by the caller across views, so a view recompiles only what changed; a fresh one compiles all. */
  readonly compiler?: NetworkPolicyCompiler;
}

export interface PolicyView {
  /** The endpoint policy of a pod (EPG, security-group file names, bridge domain). */
  policyOf(pod: PodIdentity): EndpointPolicy;
  /** Security-group files used by this node's pods, by name. */
  readonly securityGroups: ReadonlyMap<string, SecurityGroupFile>;
}

const podKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export function mappingInputs(mappings: readonly EndpointGroupMappingObject[]): MappingInput[] {
  return mappings.map((m) => ({
    name: m.metadata.name,
    namespace: m.metadata.namespace ?? '',
    spec: m.spec,
  }));
}

export function computePolicyView(input: PolicyInputs): PolicyView {
  const allocatedIps = new Map<string, string[]>();
  for (const a of input.allocations) {
    if (!a.pod) continue;
    const key = podKey(a.pod.namespace, a.pod.name);
    allocatedIps.set(key, [...(allocatedIps.get(key) ?? []), ...a.ips]);
  }
  const pods = input.pods.map((pod): V1Pod => {
    const v1 = asV1<V1Pod>(pod);
    const ips = allocatedIps.get(podKey(pod.metadata.namespace ?? '', pod.metadata.name));
    if (!ips || pod.spec?.nodeName !== input.nodeName) return v1;
    return { ...v1, status: { ...v1.status, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } };
  });
  const compiled = (input.compiler ?? new NetworkPolicyCompiler()).compile({
    policies: input.networkPolicies.map((p) => asV1<V1NetworkPolicy>(p)),
    pods,
    namespaces: input.namespaces.map((n) => asV1<V1Namespace>(n)),
  });
  const mappings = mappingInputs(input.mappings);
  const localGroups = new Set<string>();
  for (const pod of input.pods) {
    if (pod.spec?.nodeName !== input.nodeName) continue;
    for (const g of compiled.podGroups.get(
      podKey(pod.metadata.namespace ?? '', pod.metadata.name),
    ) ?? []) {
      localGroups.add(g);
    }
  }
  const securityGroups = new Map(
    compiled.groups.filter((g) => localGroups.has(g.name)).map((g) => [g.name, g]),
  );
  return {
    securityGroups,
    policyOf(pod: PodIdentity): EndpointPolicy {
      const decision = resolveEndpointGroup(
        { namespace: pod.namespace, name: pod.name, labels: pod.labels },
        mappings,
        input.defaults,
      );
      return {
        endpointGroup: {
          tenant: decision.endpointGroup.tenant,
          appProfile: decision.endpointGroup.applicationProfile,
          name: decision.endpointGroup.name,
        },
        // Only NetworkPolicy groups have files; a mapping's APIC security groups are the controller's to push.
        securityGroups: compiled.podGroups.get(podKey(pod.namespace, pod.name)) ?? [],
        bridgeDomain: input.bridgeDomain,
      };
    },
  };
}
