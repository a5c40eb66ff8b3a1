/**
 * Least-privilege RBAC per component, as data. The controller reads the
 * cluster and writes the CNI's own resources and Service status; a host
 * agent reads and writes only PodIPPool status (the node's own, enforced by
 * the ValidatingAdmissionPolicy in policy.ts); Open vSwitch gets no API
 * access at all. The operator's own ClusterRole (deploy/) is the union of
 * these plus what it needs to manage them, because Kubernetes only lets a
 * subject grant permissions it holds.
 */
import type { KubeObject } from '../../lib/kube/types.ts';
import { clusterMeta, ownedMeta, type RenderInput } from './common.ts';
import { IpamLedgerName } from '../../lib/config/naming.ts';
import { ControllerName, HostAgentAccount, LeaderElectionLease, OpenvswitchName } from './names.ts';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const read = ['get', 'list', 'watch'];

export const controllerClusterRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: read },
  { apiGroups: [''], resources: ['namespaces', 'pods', 'services'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['services/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
  { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['list', 'watch'] },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['podippools'],
    verbs: ['list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['servicegraphs'],
    verbs: ['list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['endpointgroupmappings', 'acifabrics'],
    verbs: ['list', 'watch'],
  },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['servicegraphs/status', 'endpointgroupmappings/status', 'acifabrics/status'],
    verbs: ['patch'],
  },
];

/** Namespaced: the controller's leader-election Lease and IPAM ledger, by name. */
export const controllerLeaseRules: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    resourceNames: [LeaderElectionLease],
    verbs: ['get', 'update'],
  },
  // Every pod-chunk allocation is a conditional update of this one ConfigMap (agents/controller/ipam/ledger.ts).
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
  {
    apiGroups: [''],
    resources: ['configmaps'],
    resourceNames: [IpamLedgerName],
    verbs: ['get', 'update'],
  },
];

export const hostAgentClusterRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: read },
  { apiGroups: [''], resources: ['namespaces', 'services'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['podippools', 'endpointgroupmappings', 'servicegraphs'],
    verbs: ['list', 'watch'],
  },
  // Server-side apply of its own node's status only (see policy.ts).
  { apiGroups: ['aci.cni.dev'], resources: ['podippools/status'], verbs: ['patch'] },
];
export function serviceAccount(input: RenderInput, name: string, automount: boolean): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: ownedMeta(input, name),
    automountServiceAccountToken: automount,
  };
}

function clusterRole(input: RenderInput, name: string, rules: PolicyRule[]): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: clusterMeta(input, name),
    rules,
  };
}

function clusterRoleBinding(input: RenderInput, name: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: clusterMeta(input, name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: input.spec.namespace }],
  };
}

export function renderRbac(input: RenderInput): KubeObject[] {
  return [
    serviceAccount(input, ControllerName, true),
    clusterRole(input, ControllerName, controllerClusterRules),
    clusterRoleBinding(input, ControllerName),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: ownedMeta(input, ControllerName),
      rules: controllerLeaseRules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: ownedMeta(input, ControllerName),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ControllerName },
      subjects: [{ kind: 'ServiceAccount', name: ControllerName, namespace: input.spec.namespace }],
    },
    serviceAccount(input, HostAgentAccount, true),
    clusterRole(input, HostAgentAccount, hostAgentClusterRules),
    clusterRoleBinding(input, HostAgentAccount),
    // Open vSwitch talks to nobody but the kernel: no token at all.
    serviceAccount(input, OpenvswitchName, false),
  ];
}
