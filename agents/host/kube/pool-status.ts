/**
 * PodIPPool status: what this node's host agent reports about its pool.
 * A pure builder (usage + pool -> status) and a debounced reporter that
 * applies it by server-side apply on the status subresource with the field
 * manager `aci-host-agent/<node>`, so managedFields show the host agent as
 * the one writer of status and never of spec.
 */
import type { Logger } from 'pino';
import { apiVersion, PodIPPoolKind } from '../../../crds/index.ts';
import type { PodIPPoolStatus } from '../../../crds/index.ts';
import type { KubeClient } from '../../../lib/kube/client.ts';
import { backoffDelay } from '../../../lib/kube/backoff.ts';
import {
  setConditions,
  type Condition,
  type ConditionInput,
} from '../../../lib/kube/conditions.ts';
import type { PoolStatusSummary } from '../ipam/index.ts';
import type { NodePortsPlan } from '../node-agents.ts';
import { CommandError } from '../netconf/exec.ts';
import type { PodIPPoolObject } from './objects.ts';

export const fieldManagerFor = (node: string): string => `aci-host-agent/${node}`;

/** Reasons of the Ready condition, a closed list. */
export const PoolReason = {
  Available: 'AddressesAvailable',
  NoChunks: 'NoChunksAssigned',
  Exhausted: 'AddressesExhausted',
} as const;

/** Kind-specific condition: the controller should assign another chunk. */
export const NeedsChunksCondition = 'NeedsChunks';

/**
 * Kind-specific condition: whether this node realized the encapsulation
 * the fabric asks for (spec.aci.vmmDomain.encapType) on its uplink. False
 * means pods on this node reach only this node.
 */
export const UplinkReadyCondition = 'UplinkReady';

/** Reasons of UplinkReady, a closed list. */
export const UplinkReason = {
  /** True: the uplink (vlan) or the VTEP and tunnel (vxlan) are on the bridges. */
  Realized: 'EncapRealized',
  /** Unknown: the pod network is not open yet, nothing was tried. */
  Pending: 'Pending',
  /** False: the host-agent config names no uplink interface. */
  NoUplink: 'NoUplinkInterface',
  /** False: the fabric's encap cannot be realized from this node's facts (no VTEP address, no infra VLAN, ...). */
  Unrealizable: 'EncapUnrealizable',
  /** False: the uplink interface does not exist on the node. */
  UplinkNotFound: 'UplinkNotFound',
  /** False: Open vSwitch or the kernel refused the set-up (retried with backoff). */
  SetupFailed: 'UplinkSetupFailed',
} as const;

/** What the host agent knows about its uplink: not tried, a plan it could not make or apply, or done. */
export type UplinkOutcome =
  | { readonly state: 'pending' }
  | { readonly state: 'unconfigured' }
  | { readonly state: 'unrealizable'; readonly error: unknown }
  | { readonly state: 'failed'; readonly plan: NodePortsPlan; readonly error: unknown }
  | { readonly state: 'realized'; readonly plan: NodePortsPlan };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The uplink a plan puts on the bridges, in words. */
function describeUplink(plan: NodePortsPlan): string {
  const t = plan.tunnel;
  if (t)
    return `vxlan: VTEP ${t.vtep} on ${t.infraBridge}, tunnel ${t.port} to ${t.remoteIp}:${t.udpPort} over ${t.uplinkInterface} (infra VLAN ${t.infraVlan})`;
  return `vlan: ${plan.uplink?.name ?? '(none)'} on ${plan.bridge}`;
}

/** The interface whose absence an error names, if that is what it is. */
function missingInterface(err: unknown, plan: NodePortsPlan): string | undefined {
  const uplink = plan.tunnel?.uplinkInterface ?? plan.uplink?.name;
  if (uplink === undefined || !(err instanceof CommandError)) return undefined;
  const names = err.args.includes(uplink);
  return names && /Cannot find device|does not exist|No such device/.test(err.stderr)
    ? uplink
    : undefined;
}

export function uplinkCondition(outcome: UplinkOutcome): ConditionInput {
  const type = UplinkReadyCondition;
  switch (outcome.state) {
    case 'pending':
      return {
        type,
        status: 'Unknown',
        reason: UplinkReason.Pending,
        message: 'The pod network is not open yet',
      };
    case 'unconfigured':
      return {
        type,
        status: 'False',
        reason: UplinkReason.NoUplink,
        message: 'No uplink interface is configured: pods reach only this node',
      };
    case 'unrealizable':
      return {
        type,
        status: 'False',
        reason: UplinkReason.Unrealizable,
        message: `The fabric's encapsulation cannot be realized on this node: ${errorText(outcome.error)}`,
      };
    case 'failed': {
      const missing = missingInterface(outcome.error, outcome.plan);
      return missing !== undefined
        ? {
            type,
            status: 'False',
            reason: UplinkReason.UplinkNotFound,
            message: `The uplink interface ${missing} does not exist on this node (retrying)`,
          }
        : {
            type,
            status: 'False',
            reason: UplinkReason.SetupFailed,
            message: `Failed to set up ${describeUplink(outcome.plan)} (retrying): ${errorText(outcome.error)}`,
          };
    }
    case 'realized':
      return {
        type,
        status: 'True',
        reason: UplinkReason.Realized,
        message: describeUplink(outcome.plan),
      };
  }
}

export function readyCondition(summary: PoolStatusSummary, chunkCount: number): ConditionInput {
  if (chunkCount === 0) {
    return {
      type: 'Ready',
      status: 'False',
      reason: PoolReason.NoChunks,
      message: 'No pod address chunk is assigned to this node yet',
    };
  }
  if (summary.used >= summary.capacity) {
    return {
      type: 'Ready',
      status: 'False',
      reason: PoolReason.Exhausted,
      message: `All ${summary.capacity} addresses of the chunks are in use`,
    };
  }
  return {
    type: 'Ready',
    status: 'True',
    reason: PoolReason.Available,
    message: `${summary.capacity - summary.used} of ${summary.capacity} addresses free`,
  };
}

/**
 * Pure: the complete status this agent owns. Conditions keep their
 * lastTransitionTime while their status does not change, so an idle agent
 * computes an identical status and writes nothing.
 */
export function buildPoolStatus(
  summary: PoolStatusSummary,
  pool: PodIPPoolObject,
  chunkCount: number,
  now: Date,
  /** Undefined where the agent manages no uplink (no node ports shell): no UplinkReady condition. */
  uplink?: UplinkOutcome,
): PodIPPoolStatus {
  const generation = pool.metadata.generation;
  const previous = (pool.status?.conditions ?? []) as Condition[];
  const ours = new Set<string>(['Ready', NeedsChunksCondition, UplinkReadyCondition]);
  const conditions = setConditions(
    previous.filter((c) => ours.has(c.type)),
    [
      readyCondition(summary, chunkCount),
      summary.needsMore
        ? {
            type: NeedsChunksCondition,
            status: 'True',
            reason: 'LowOnAddresses',
            message: 'Assign another chunk',
          }
        : {
            type: NeedsChunksCondition,
            status: 'False',
            reason: 'EnoughAddresses',
            message: 'No chunk needed',
          },
      ...(uplink ? [uplinkCondition(uplink)] : []),
    ],
    generation,
    now,
  );
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    capacity: summary.capacity,
    used: summary.used,
    allocated: [...summary.allocated].sort(),
    conditions,
  };
}

/** Status without timestamps, to tell whether an apply would change anything. */
function comparable(status: PodIPPoolStatus | undefined): string {
  if (!status) return '';
  const conditions = (status.conditions ?? [])
    .map(({ lastTransitionTime: _t, ...rest }) => rest)
    .sort((a, b) => a.type.localeCompare(b.type));
  return stableJson({ ...status, allocated: [...(status.allocated ?? [])].sort(), conditions });
}

/** JSON with sorted object keys: the API server does not keep our key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

export interface PoolStatusReporterOptions {
  readonly client: KubeClient;
  readonly node: string;
  readonly log: Logger;
  /** The pool as the informer has it, or undefined while it does not exist. */
  readonly pool: () => PodIPPoolObject | undefined;
  /** Current IPAM summary and number of chunks. */
  readonly usage: () => { summary: PoolStatusSummary; chunkCount: number };
  /** What became of the node's uplink; absent where the agent manages none. */
  readonly uplink?: () => UplinkOutcome;
  /** Coalesces bursts of allocations into one write. */
  readonly debounceMs?: number;
  readonly now?: () => Date;
}

/**
 * Debounced writer: `poke()` schedules one apply after debounceMs; a poke
 * during an apply schedules another afterwards. A failed apply retries
 * with backoff; an apply that would change nothing is skipped.
 */
export class PoolStatusReporter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private stopped = false;
  /** The last status this agent applied (comparable form). */
  private lastApplied = '';

  constructor(private readonly opts: PoolStatusReporterOptions) {}

  poke(delayMs = this.opts.debounceMs ?? 300): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.report().finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async report(): Promise<void> {
    const pool = this.opts.pool();
    if (!pool) return; // The controller has not created it yet; its add event pokes again.
    const { summary, chunkCount } = this.opts.usage();
    const status = buildPoolStatus(
      summary,
      pool,
      chunkCount,
      (this.opts.now ?? (() => new Date()))(),
      this.opts.uplink?.(),
    );
    const next = comparable(status);
    if (next === this.lastApplied && next === comparable(pool.status)) return;
    try {
      await this.opts.client.apply(
        { apiVersion, kind: PodIPPoolKind, metadata: { name: pool.metadata.name }, status },
        { fieldManager: fieldManagerFor(this.opts.node), subresource: 'status' },
      );
      this.lastApplied = next;
      this.failures = 0;
      this.opts.log.info(
        { podIPPool: pool.metadata.name, capacity: status.capacity, used: status.used },
        'Reported PodIPPool status',
      );
    } catch (err) {
      this.failures++;
      const delayMs = backoffDelay(this.failures, { initialMs: 200, maxMs: 30_000 });
      this.opts.log.warn(
        { err, podIPPool: pool.metadata.name, retryInMs: delayMs },
        'Failed to report PodIPPool status',
      );
      this.again = false;
      this.running = undefined;
      this.poke(delayMs);
    }
  }
}
