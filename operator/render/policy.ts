/**
 * RBAC cannot say "only the PodIPPool named like my node", so a
 * ValidatingAdmissionPolicy does: a host agent's service-account token is
 * bound to its pod, and the API server puts the pod's node name into the
 * request's user extra (authentication.kubernetes.io/node-name). A host
 * agent that writes another node's PodIPPool status is denied — the same
 * guarantee the Node authorizer gives kubelets for their own Node.
 */
import type { KubeObject } from '../../lib/kube/types.ts';
import { clusterMeta, type RenderInput } from './common.ts';
import { HostAgentAccount } from './names.ts';

export const OwnPodIPPoolPolicy = 'aci-containers-host-own-podippool';
export const NodeNameExtra = 'authentication.kubernetes.io/node-name';

export function renderAdmissionPolicy(input: RenderInput): KubeObject[] {
  const hostAgent = `system:serviceaccount:${input.spec.namespace}:${HostAgentAccount}`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: clusterMeta(input, OwnPodIPPoolPolicy),
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['aci.cni.dev'],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE', 'DELETE'],
              resources: ['podippools', 'podippools/status'],
            },
          ],
        },
        matchConditions: [
          { name: 'is-host-agent', expression: `request.userInfo.username == '${hostAgent}'` },
        ],
        validations: [
          {
            expression:
              `'${NodeNameExtra}' in request.userInfo.extra && ` +
              `request.userInfo.extra['${NodeNameExtra}'].exists(n, n == request.name)`,
            message: 'a host agent may only write the PodIPPool of its own node',
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: clusterMeta(input, OwnPodIPPoolPolicy),
      spec: { policyName: OwnPodIPPoolPolicy, validationActions: ['Deny'] },
    },
  ];
}
