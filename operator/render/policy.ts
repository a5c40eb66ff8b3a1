/**
 * What RBAC cannot say, two ValidatingAdmissionPolicies do.
 *
 * Own PodIPPool: RBAC cannot say "only the PodIPPool named like my node". A
 * host agent's service-account token is bound to its pod, and the API server
 * puts the pod's node name into the request's user extra
 * (authentication.kubernetes.io/node-name). A host agent that writes another
 * node's PodIPPool status is denied — the same guarantee the Node authorizer
 * gives kubelets for their own Node.
 *
 * Leader fence: the controller's PodIPPool writes carry the leader term they
 * were decided in (the `aci.cni.dev/leader-term` annotation, holder identity
 * and leaseTransitions), and the API server admits them only while the
 * controller's leader-election Lease (the policy's parameter) still records
 * that term. A leader paused after its own checks and resumed after another
 * took the Lease has its write refused by the server, which no client-side
 * check can do for a create (it has no resourceVersion to be conditional on).
 * The Lease is read from the API server's informer, so the fence lags a
 * takeover by that informer's delay (milliseconds), far inside the gap
 * between the old leader's renew deadline and the lease duration. Before
 * the first controller has created the Lease nobody leads and the policy
 * admits everything. kube-apiserver up to 1.36 can stop seeing the Lease
 * after the fabric's binding was deleted and created again
 * (kubernetes/kubernetes#130887); the fence then admits everything too
 * (docs/controller.md).
 */
import { LeaderTermAnnotation } from '../../lib/kube/leader.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { clusterMeta, type RenderInput } from './common.ts';
import { ControllerName, HostAgentAccount, LeaderElectionLease } from './names.ts';

export const OwnPodIPPoolPolicy = 'aci-containers-host-own-podippool';
export const LeaderFencePolicy = 'aci-containers-controller-leader-fence';
export const NodeNameExtra = 'authentication.kubernetes.io/node-name';

export function renderAdmissionPolicy(input: RenderInput): KubeObject[] {
  return [...ownPodIPPoolPolicy(input), ...leaderFencePolicy(input)];
}

const podIPPoolRule = (resources: string[]) => ({
  apiGroups: ['aci.cni.dev'],
  apiVersions: ['*'],
  operations: ['CREATE', 'UPDATE', 'DELETE'],
  resources,
});

function leaderFencePolicy(input: RenderInput): KubeObject[] {
  const controller = `system:serviceaccount:${input.spec.namespace}:${ControllerName}`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: clusterMeta(input, LeaderFencePolicy),
      spec: {
        failurePolicy: 'Fail',
        paramKind: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
        matchConstraints: {
          // Spec writes only: a delete is conditional on what was read, status is the host agent's.
          resourceRules: [{ ...podIPPoolRule(['podippools']), operations: ['CREATE', 'UPDATE'] }],
        },
        matchConditions: [
          { name: 'is-controller', expression: `request.userInfo.username == '${controller}'` },
        ],
        // Each side of the comparison once; '' when the write names no term or the Lease no holder.
        variables: [
          {
            name: 'term',
            expression:
              `has(object.metadata.annotations) && '${LeaderTermAnnotation}' in object.metadata.annotations ? ` +
              `object.metadata.annotations['${LeaderTermAnnotation}'] : ''`,
          },
          {
            name: 'leaseTerm',
            expression:
              `has(params.spec.holderIdentity) ? params.spec.holderIdentity + '/' + ` +
              `string(has(params.spec.leaseTransitions) ? params.spec.leaseTransitions : 0) : ''`,
          },
        ],
        validations: [
          {
            expression: "variables.term != '' && variables.term == variables.leaseTerm",
            messageExpression:
              "'a PodIPPool write of leader term ' + (variables.term != '' ? variables.term : '(none)') + " +
              "' while the Lease records ' + (variables.leaseTerm != '' ? variables.leaseTerm : 'no holder')",
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: clusterMeta(input, LeaderFencePolicy),
      spec: {
        policyName: LeaderFencePolicy,
        validationActions: ['Deny'],
        paramRef: {
          name: LeaderElectionLease,
          namespace: input.spec.namespace,
          // The API server resolves the parameter before it evaluates matchConditions, so `Deny`
          // would refuse everyone's PodIPPool writes until a controller first created its Lease.
          // No Lease means no leader, so there is no term to fence.
          parameterNotFoundAction: 'Allow',
        },
      },
    },
  ];
}

function ownPodIPPoolPolicy(input: RenderInput): KubeObject[] {
  const hostAgent = `system:serviceaccount:${input.spec.namespace}:${HostAgentAccount}`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: clusterMeta(input, OwnPodIPPoolPolicy),
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [podIPPoolRule(['podippools', 'podippools/status'])],
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
