/**
 * render: AciFabric spec → every Kubernetes object the CNI needs, pure.
 * Reads like a table of contents; each builder lives in its own module.
 */
import type { KubeObject } from '../../lib/kube/types.ts';
import { clusterMeta, type RenderInput } from './common.ts';
import { configMap, renderConfig } from './config.ts';
import { Annotations } from './names.ts';
import { renderAdmissionPolicy } from './policy.ts';
import { renderRbac } from './rbac.ts';
import { controllerDeployment, hostDaemonSet, openvswitchDaemonSet } from './workloads.ts';

export type { RenderInput } from './common.ts';

export interface RenderResult {
  /** In apply order: namespace, identities, configuration, policy, workloads. */
  objects: KubeObject[];
  /** The rollouts whose progress status reports. */
  workloads: { controller: KubeObject; hostAgent: KubeObject; openvswitch: KubeObject };
}

function namespace(input: RenderInput): KubeObject {
  const meta = clusterMeta(input, input.spec.namespace);
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    // The namespace also holds the user's credentials Secret: never deleted by the operator.
    metadata: { ...meta, annotations: { [Annotations.retain]: 'true' } },
  };
}

export function renderFabric(input: RenderInput): RenderResult {
  const config = renderConfig(input);
  const workloads = {
    controller: controllerDeployment(input, config),
    hostAgent: hostDaemonSet(input, config),
    openvswitch: openvswitchDaemonSet(input, config),
  };
  return {
    objects: [
      namespace(input),
      ...renderRbac(input),
      configMap(input, config),
      ...renderAdmissionPolicy(input),
      workloads.controller,
      workloads.hostAgent,
      workloads.openvswitch,
    ],
    workloads,
  };
}
