/**
 * Status as a pure function of what the caches show: per-component rollout
 * counts and the three standard conditions with stable reasons. Every
 * failure reaches status through `degraded` with a reason from `Reasons`.
 */
import { setConditions, type Condition, type ConditionInput } from '../../lib/kube/conditions.ts';
import type { KubeObject } from '../../lib/kube/types.ts';

export const Reasons = {
  Ready: 'Ready',
  RolledOut: 'RolledOut',
  RollingOut: 'RollingOut',
  AsExpected: 'AsExpected',
  Duplicate: 'Duplicate',
  Paused: 'Paused',
  Deleting: 'Deleting',
  InvalidSpec: 'InvalidSpec',
  CredentialsInvalid: 'CredentialsInvalid',
  /** A network change IPAM's allocations forbid (reconcile/allocations.ts). */
  ConflictsWithAllocations: 'ConflictsWithAllocations',
  ApplyFailed: 'ApplyFailed',
  PruneFailed: 'PruneFailed',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];

export interface ComponentStatus {
  desired: number;
  updated: number;
  ready: number;
  available: number;
  summary: string;
}

export interface Rollout {
  status: ComponentStatus;
  done: boolean;
  /** The workload does not exist yet (never applied, or a spec the operator refused). */
  missing?: boolean;
}

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  desiredNumberScheduled?: number;
  updatedNumberScheduled?: number;
  numberReady?: number;
  numberAvailable?: number;
}

/** Rollout of a Deployment or DaemonSet as the cache shows it; undefined object = not created yet. */
export function rolloutOf(workload: KubeObject | undefined): Rollout {
  if (!workload)
    return {
      status: { desired: 0, updated: 0, ready: 0, available: 0, summary: '0/0' },
      done: false,
      missing: true,
    };
  const status = (workload.status ?? {}) as WorkloadStatus;
  const observed = (status.observedGeneration ?? 0) >= (workload.metadata.generation ?? 1);
  const counts =
    workload.kind === 'Deployment'
      ? {
          desired: (workload.spec as { replicas?: number } | undefined)?.replicas ?? 1,
          updated: status.updatedReplicas ?? 0,
          ready: status.readyReplicas ?? 0,
          available: status.availableReplicas ?? 0,
          total: status.replicas ?? 0,
        }
      : {
          desired: status.desiredNumberScheduled ?? 0,
          updated: status.updatedNumberScheduled ?? 0,
          ready: status.numberReady ?? 0,
          available: status.numberAvailable ?? 0,
          total: status.desiredNumberScheduled ?? 0,
        };
  const done =
    observed &&
    counts.updated === counts.desired &&
    counts.available === counts.desired &&
    counts.total === counts.desired;
  return {
    status: {
      desired: counts.desired,
      updated: counts.updated,
      ready: counts.ready,
      available: counts.available,
      summary: `${counts.ready}/${counts.desired}`,
    },
    done,
  };
}

export interface FabricStatusInput {
  generation: number | undefined;
  previous: readonly Condition[] | undefined;
  now: Date;
  rollouts?: { controller: Rollout; hostAgent: Rollout; openvswitch: Rollout };
  /** A failure that stops progress; undefined when all is well. */
  degraded?: { reason: Reason; message: string };
  /** Overrides Ready (Duplicate, Paused, Deleting). */
  notReady?: { reason: Reason; message: string };
}

export interface FabricStatus {
  observedGeneration?: number;
  conditions: Condition[];
  components?: {
    controller: ComponentStatus;
    hostAgent: ComponentStatus;
    openvswitch: ComponentStatus;
  };
}

const componentLabels = {
  controller: 'controller',
  hostAgent: 'host agents',
  openvswitch: 'openvswitch',
} as const;

export function fabricStatus(input: FabricStatusInput): FabricStatus {
  const rollouts = input.rollouts;
  const keys = Object.keys(componentLabels) as (keyof typeof componentLabels)[];
  const unfinished = rollouts
    ? keys.filter((key) => !rollouts[key].done).map((key) => ({ key, rollout: rollouts[key] }))
    : [];
  const pending = unfinished.map(({ key, rollout }) =>
    rollout.missing
      ? `${componentLabels[key]} not created yet`
      : `${componentLabels[key]} ${rollout.status.updated}/${rollout.status.desired} updated`,
  );
  // Degraded before a workload exists (a refused spec): nothing is on its way, so nothing progresses.
  const blocked =
    !input.notReady &&
    input.degraded !== undefined &&
    unfinished.length > 0 &&
    unfinished.every(({ rollout }) => rollout.missing);
  const progressing = !input.notReady && unfinished.length > 0 && !blocked;
  const summary = rollouts
    ? keys.map((key) => `${componentLabels[key]} ${rollouts[key].status.summary}`).join(', ')
    : '';
  const conditions: ConditionInput[] = [];
  if (input.notReady) {
    conditions.push({ type: 'Ready', status: 'False', ...input.notReady });
  } else if (input.degraded) {
    conditions.push({ type: 'Ready', status: 'False', ...input.degraded });
  } else if (!rollouts || pending.length > 0) {
    conditions.push({
      type: 'Ready',
      status: 'False',
      reason: Reasons.RollingOut,
      message: `Waiting for ${pending.join(', ') || 'rollout'}`,
    });
  } else {
    conditions.push({
      type: 'Ready',
      status: 'True',
      reason: Reasons.Ready,
      message: `All components ready: ${summary}`,
    });
  }
  conditions.push(
    progressing
      ? {
          type: 'Progressing',
          status: 'True',
          reason: Reasons.RollingOut,
          message: `Rolling out: ${pending.join(', ')}`,
        }
      : blocked && input.degraded
        ? {
            type: 'Progressing',
            status: 'False',
            reason: input.degraded.reason,
            message: `Nothing to roll out until this is fixed: ${input.degraded.message}`,
          }
        : {
            type: 'Progressing',
            status: 'False',
            reason: Reasons.RolledOut,
            message: summary ? `Rolled out: ${summary}` : 'Nothing to roll out',
          },
  );
  conditions.push(
    input.degraded
      ? { type: 'Degraded', status: 'True', ...input.degraded }
      : { type: 'Degraded', status: 'False', reason: Reasons.AsExpected, message: 'No errors' },
  );
  return {
    ...(input.generation !== undefined ? { observedGeneration: input.generation } : {}),
    conditions: setConditions(
      (input.previous ?? []).filter((c) => ['Ready', 'Progressing', 'Degraded'].includes(c.type)),
      conditions,
      input.generation,
      input.now,
    ),
    ...(rollouts
      ? {
          components: {
            controller: rollouts.controller.status,
            hostAgent: rollouts.hostAgent.status,
            openvswitch: rollouts.openvswitch.status,
          },
        }
      : {}),
  };
}
