/**
 * Where each kind lives in the API. A static table instead of discovery: the
 * components use a known, small set of kinds, and a table keeps every request
 * path deterministic (no discovery round trips at start-up).
 */
import { customResources, group as aciGroup, version as aciVersion } from '../../crds/index.ts';

export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const builtin: ResourceInfo[] = [
  ['v1', 'Namespace', 'namespaces', false],
  ['v1', 'Node', 'nodes', false],
  ['v1', 'Pod', 'pods', true],
  ['v1', 'Service', 'services', true],
  ['v1', 'ServiceAccount', 'serviceaccounts', true],
  ['v1', 'ConfigMap', 'configmaps', true],
  ['v1', 'Secret', 'secrets', true],
  ['v1', 'Event', 'events', true],
  ['v1', 'Endpoints', 'endpoints', true],
  ['apps/v1', 'Deployment', 'deployments', true],
  ['apps/v1', 'DaemonSet', 'daemonsets', true],
  ['apps/v1', 'ReplicaSet', 'replicasets', true],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', false],
  ['rbac.authorization.k8s.io/v1', 'Role', 'roles', true],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true],
  ['coordination.k8s.io/v1', 'Lease', 'leases', true],
  ['discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', true],
  ['networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', true],
  ['scheduling.k8s.io/v1', 'PriorityClass', 'priorityclasses', false],
  ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false],
  ['policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true],
  [
    'admissionregistration.k8s.io/v1',
    'ValidatingAdmissionPolicy',
    'validatingadmissionpolicies',
    false,
  ],
  [
    'admissionregistration.k8s.io/v1',
    'ValidatingAdmissionPolicyBinding',
    'validatingadmissionpolicybindings',
    false,
  ],
].map(([apiVersion, kind, plural, namespaced]) => ({
  apiVersion: apiVersion as string,
  kind: kind as string,
  plural: plural as string,
  namespaced: namespaced as boolean,
}));

const custom: ResourceInfo[] = customResources.map((r) => ({
  apiVersion: `${aciGroup}/${aciVersion}`,
  kind: r.kind,
  plural: r.plural,
  namespaced: r.scope === 'Namespaced',
}));

const byKind = new Map(
  [...builtin, ...custom].map((info) => [`${info.apiVersion}/${info.kind}`, info]),
);

export function resourceFor(apiVersion: string, kind: string): ResourceInfo {
  const info = byKind.get(`${apiVersion}/${kind}`);
  if (!info)
    throw new Error(`Unknown resource ${apiVersion} ${kind}: add it to lib/kube/resources.ts`);
  return info;
}

/** The collection path, e.g. /apis/apps/v1/namespaces/x/deployments. */
export function collectionPath(info: ResourceInfo, namespace?: string): string {
  const base = info.apiVersion.includes('/')
    ? `/apis/${info.apiVersion}`
    : `/api/${info.apiVersion}`;
  if (info.namespaced && namespace)
    return `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
  return `${base}/${info.plural}`;
}

export function objectPath(info: ResourceInfo, name: string, namespace?: string): string {
  if (info.namespaced && !namespace) throw new Error(`${info.kind} ${name} needs a namespace`);
  return `${collectionPath(info, namespace)}/${encodeURIComponent(name)}`;
}
