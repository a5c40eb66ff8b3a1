/**
 * The operator's own install (deploy/operator.yaml, used by the top-level
 * kustomization): its namespace, service account, RBAC and Deployment, and
 * the fabric namespace with the operator's Role in it. Namespaced kinds are
 * granted by that Role, in the fabric namespace only; the ClusterRole holds
 * the cluster-scoped kinds and what the components get cluster-wide; every
 * object with a fixed name is granted by name (resourceNames).
 */
import { ports } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import {
  ConfigMapName,
  ControllerName,
  HostAgentAccount,
  HostAgentName,
  ImageName,
  Labels,
  OpenvswitchName,
} from './names.ts';
import { LeaderFencePolicy, OwnPodIPPoolPolicy } from './policy.ts';
import {
  controllerClusterRules,
  controllerLeaseRules,
  hostAgentClusterRules,
  type PolicyRule,
} from './rbac.ts';

export const OperatorNamespace = 'aci-containers-operator';
export const OperatorName = 'aci-containers-operator';
export const OperatorImage = `ghcr.io/aci-cni/${ImageName}:0.1.0`;
/** The AciFabric spec.namespace this install manages (the CRD's default); `--fabric-namespace`. */
export const DefaultFabricNamespace = 'aci-containers-system';

/** Objects the operator renders under fixed names: only those may it read, change or delete. */
export const OwnedNames = {
  namespaced: {
    configmaps: [ConfigMapName],
    serviceaccounts: [ControllerName, HostAgentAccount, OpenvswitchName],
    deployments: [ControllerName],
    daemonsets: [HostAgentName, OpenvswitchName],
    roles: [ControllerName],
    rolebindings: [ControllerName],
  },
  clusterroles: [ControllerName, HostAgentAccount],
  admission: [OwnPodIPPoolPolicy, LeaderFencePolicy],
} as const;

const namespacedGroups: Record<keyof typeof OwnedNames.namespaced, string> = {
  configmaps: '',
  serviceaccounts: '',
  deployments: 'apps',
  daemonsets: 'apps',
  roles: 'rbac.authorization.k8s.io',
  rolebindings: 'rbac.authorization.k8s.io',
};

/** list/watch feed the informers (label-selected); create cannot be limited by name in RBAC. */
const manage = (apiGroup: string, resource: string, names: readonly string[]): PolicyRule[] => [
  { apiGroups: [apiGroup], resources: [resource], verbs: ['create', 'list', 'watch'] },
  {
    apiGroups: [apiGroup],
    resources: [resource],
    resourceNames: [...names],
    verbs: ['delete', 'get', 'patch', 'update'],
  },
];

/** Cluster-scoped kinds only, each limited to its fixed names where it has them. */
export const operatorOwnClusterRules: PolicyRule[] = [
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['acifabrics'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  {
    apiGroups: ['aci.cni.dev'],
    resources: ['acifabrics/status', 'acifabrics/finalizers'],
    verbs: ['get', 'update', 'patch'],
  },
  // The install creates the fabric namespace; the operator only applies its labels (by name:
  // fabricNamespaceInstall).
  { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
  // Events about the AciFabric, which is cluster-scoped: they land in "default".
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  // The API server lets only a subject that may get every object of a policy's parameter kind
  // write that policy: the controller's leader fence (render/policy.ts) takes the Lease as its
  // parameter. Leases carry holder names and timestamps, nothing secret; no list, no watch.
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get'] },
  ...manage('rbac.authorization.k8s.io', 'clusterroles', OwnedNames.clusterroles),
  ...manage('rbac.authorization.k8s.io', 'clusterrolebindings', OwnedNames.clusterroles),
  ...manage('admissionregistration.k8s.io', 'validatingadmissionpolicies', OwnedNames.admission),
  ...manage(
    'admissionregistration.k8s.io',
    'validatingadmissionpolicybindings',
    OwnedNames.admission,
  ),
];

/** The operator's rights in the fabric namespace: the objects it renders there, the Secrets it checks. */
export const operatorNamespaceRules: PolicyRule[] = [
  ...Object.entries(OwnedNames.namespaced).flatMap(([resource, names]) =>
    manage(namespacedGroups[resource as keyof typeof namespacedGroups], resource, names),
  ),
  // To see that the referenced Secrets exist and carry the right keys, and to notice within
  // seconds when one is deleted or changed (reconcile/secrets.ts). The names come from the spec,
  // so no resourceNames here; the operator only lists and watches with a metadata.name field
  // selector, so an administrator who fixes the names may narrow this rule to them.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
  // Likewise the ConfigMap that may carry the leaf's CA bundle (spec.aci.opflex.tls.caConfigMapRef):
  // read only, and only in the fabric namespace.
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
  // Granted to the controller's Role in this namespace, so held here.
  ...controllerLeaseRules,
];

/** Rules merged per (apiGroup, resource, resourceNames), then folded, so the YAML stays readable. */
export function mergeRules(sources: readonly PolicyRule[]): PolicyRule[] {
  const merged = new Map<string, PolicyRule>();
  for (const rule of sources) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = `${group}|${resource}|${(rule.resourceNames ?? []).join(',')}`;
        const existing = merged.get(key);
        const verbs = new Set([...(existing?.verbs ?? []), ...rule.verbs]);
        merged.set(key, {
          apiGroups: [group],
          resources: [resource],
          ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}),
          verbs: [...verbs].sort(),
        });
      }
    }
  }
  // Fold resources with identical groups, names and verbs back together.
  const folded = new Map<string, PolicyRule>();
  for (const rule of merged.values()) {
    const key = `${rule.apiGroups[0]}|${(rule.resourceNames ?? []).join(',')}|${rule.verbs.join(',')}`;
    const existing = folded.get(key);
    if (existing) existing.resources.push(...rule.resources);
    else folded.set(key, { ...rule, resources: [...rule.resources] });
  }
  return [...folded.values()].map((r) => ({ ...r, resources: r.resources.sort() }));
}

/**
 * The operator's ClusterRole: its own cluster-scoped rules plus every
 * cluster-wide rule it grants the components (Kubernetes only lets a
 * subject grant what it holds; `escalate` or `bind` instead would let it
 * grant anything).
 */
export function operatorClusterRules(): PolicyRule[] {
  return mergeRules([
    ...operatorOwnClusterRules,
    ...controllerClusterRules,
    ...hostAgentClusterRules,
  ]);
}

/** The fabric namespace itself, by name: the only Namespace the operator may change. */
export const operatorNamespaceObjectRules = (fabricNamespace: string): PolicyRule[] => [
  {
    apiGroups: [''],
    resources: ['namespaces'],
    resourceNames: [fabricNamespace],
    verbs: ['get', 'patch', 'update'],
  },
];

/**
 * Everything the install says about the fabric namespace: the namespace,
 * the operator's right to change that Namespace object (by name), and its
 * Role and RoleBinding in it. For a fabric with another spec.namespace,
 * apply these for that namespace and start the operator with
 * --fabric-namespace (docs/operator.md).
 */
export function fabricNamespaceInstall(fabricNamespace = DefaultFabricNamespace): KubeObject[] {
  const namespaceRole = `${OperatorName}:namespace:${fabricNamespace}`;
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: fabricNamespace, labels, annotations: wave(-5) },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: namespaceRole, labels, annotations: wave(-4) },
      rules: operatorNamespaceObjectRules(fabricNamespace),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: namespaceRole, labels, annotations: wave(-4) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: namespaceRole },
      subjects: [{ kind: 'ServiceAccount', name: OperatorName, namespace: OperatorNamespace }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: OperatorName, namespace: fabricNamespace, labels, annotations: wave(-4) },
      rules: mergeRules(operatorNamespaceRules),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: OperatorName, namespace: fabricNamespace, labels, annotations: wave(-4) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OperatorName },
      subjects: [{ kind: 'ServiceAccount', name: OperatorName, namespace: OperatorNamespace }],
    },
  ];
}

const labels = {
  [Labels.name]: OperatorName,
  [Labels.partOf]: 'aci-containers',
  [Labels.component]: 'operator',
};
const wave = (n: number) => ({ 'argocd.argoproj.io/sync-wave': String(n) });

export function operatorInstall(): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: OperatorNamespace, labels, annotations: wave(-5) },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: OperatorName, namespace: OperatorNamespace, labels, annotations: wave(-4) },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: OperatorName, labels, annotations: wave(-4) },
      rules: operatorClusterRules(),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: OperatorName, labels, annotations: wave(-4) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OperatorName },
      subjects: [{ kind: 'ServiceAccount', name: OperatorName, namespace: OperatorNamespace }],
    },
    ...fabricNamespaceInstall(),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: OperatorName, namespace: OperatorNamespace, labels, annotations: wave(-4) },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          // lib/kube/leader.ts reads, creates and replaces its Lease; it neither watches nor patches.
          verbs: ['get', 'create', 'update'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: OperatorName, namespace: OperatorNamespace, labels, annotations: wave(-4) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OperatorName },
      subjects: [{ kind: 'ServiceAccount', name: OperatorName, namespace: OperatorNamespace }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: OperatorName, namespace: OperatorNamespace, labels, annotations: wave(0) },
      spec: {
        replicas: 1,
        selector: { matchLabels: { [Labels.name]: OperatorName } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: OperatorName,
            priorityClassName: 'system-cluster-critical',
            // The operator installs the CNI, so it runs where there is none yet:
            // on the node's network (a pod network does not exist), on nodes that
            // are NotReady and tainted for it (as tigera-operator does).
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            tolerations: [{ operator: 'Exists' }],
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'operator',
                image: OperatorImage,
                command: [
                  '/usr/local/bin/aci-containers',
                  'operator',
                  `--health-port=${ports.operatorHealth}`,
                  // Probed and scraped on the pod IP (the node's address), not on every address.
                  '--health-address=$(POD_IP)',
                  `--fabric-namespace=${DefaultFabricNamespace}`,
                ],
                env: [
                  {
                    name: 'POD_NAMESPACE',
                    valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                  },
                  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                ],
                ports: [{ name: 'health', containerPort: ports.operatorHealth }],
                livenessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 5 },
                resources: {
                  requests: { cpu: '50m', memory: '96Mi' },
                  limits: { memory: '512Mi' },
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
          },
        },
      },
    },
  ];
}
