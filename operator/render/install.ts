/**
 * The operator's own install (deploy/operator.yaml, used by the top-level
 * kustomization): namespace, service account, RBAC and Deployment. Its
 * ClusterRole is computed: what the operator manages, plus every rule it
 * grants the components (Kubernetes only lets a subject grant what it holds).
 */
import { ports } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { ImageName, Labels } from './names.ts';
import {
  controllerClusterRules,
  controllerLeaseRules,
  hostAgentClusterRules,
  type PolicyRule,
} from './rbac.ts';

export const OperatorNamespace = 'aci-containers-operator';
export const OperatorName = 'aci-containers-operator';
export const OperatorImage = `ghcr.io/aci-cni/${ImageName}:0.1.0`;

const all = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

export const operatorOwnRules: PolicyRule[] = [
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
  {
    apiGroups: [''],
    resources: ['namespaces'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
  },
  { apiGroups: [''], resources: ['serviceaccounts', 'configmaps'], verbs: all },
  // Only to check that referenced Secrets exist and carry the right keys; no list or watch.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['apps'], resources: ['deployments', 'daemonsets'], verbs: all },
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterroles', 'clusterrolebindings', 'roles', 'rolebindings'],
    verbs: all,
  },
  {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['validatingadmissionpolicies', 'validatingadmissionpolicybindings'],
    verbs: all,
  },
];

/** Rules the operator needs, merged per (apiGroup, resource, resourceNames) so the YAML stays readable. */
export function operatorClusterRules(): PolicyRule[] {
  const merged = new Map<string, PolicyRule>();
  const sources = [
    ...operatorOwnRules,
    ...controllerClusterRules,
    ...hostAgentClusterRules,
    ...controllerLeaseRules,
  ];
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
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: OperatorName, namespace: OperatorNamespace, labels, annotations: wave(-4) },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'create', 'update', 'patch', 'watch'],
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
                ],
                env: [
                  {
                    name: 'POD_NAMESPACE',
                    valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                  },
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
