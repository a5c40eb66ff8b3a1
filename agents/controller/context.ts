/**
 * What every part of the leader's work shares: config, clients, caches,
 * Events, metrics, and the names derived from config. Built once per
 * leadership term (the APIC session and the allocators live and die with it).
 */
import type { Logger } from 'pino';
import type { ControllerConfig } from '../../lib/config/components.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import { WorkQueue, type Reconcile } from '../../lib/kube/workqueue.ts';
import type { Caches } from './caches.ts';
import type { ApicState } from './runtime/apic.ts';
import type { EventRecorder } from '../../lib/kube/events.ts';
import type { ControllerMetrics } from './runtime/metrics.ts';

/** Field manager of everything the controller writes. */
export const FieldManager = 'aci-controller';
export const ComponentName = 'aci-containers-controller';

export interface ControllerContext {
  config: ControllerConfig;
  client: KubeClient;
  caches: Caches;
  log: Logger;
  events: EventRecorder;
  metrics: ControllerMetrics;
  apic: ApicState;
  /** Set while the leadership term lasts; work stops when it aborts. */
  signal: AbortSignal;
  /**
   * The token of this leadership term: PodIPPool writes carry it, and the API
   * server refuses them unless the Lease still names this term (the
   * controller's admission policy, operator/render/policy.ts).
   */
  leaderTerm?: () => string | undefined;
}

export function makeQueue(
  ctx: Pick<ControllerContext, 'log' | 'metrics'>,
  name: string,
  reconcile: Reconcile,
  concurrency = 4,
): WorkQueue {
  const depth = ctx.metrics.queueDepth.labels(name);
  return new WorkQueue(
    async (key) => {
      const end = ctx.metrics.reconcileSeconds.labels(name).startTimer();
      try {
        const result = await reconcile(key);
        ctx.metrics.reconciles.labels(name, 'success').inc();
        return result;
      } catch (error) {
        ctx.metrics.reconciles.labels(name, 'error').inc();
        throw error;
      } finally {
        end();
      }
    },
    {
      concurrency,
      backoff: { initialMs: 200, maxMs: 30_000 },
      onError: (key, error, attempt) =>
        ctx.log[attempt > 3 ? 'warn' : 'info'](
          { queue: name, key, attempt, err: String(error) },
          'Reconcile failed, retrying',
        ),
      onDepth: (d) => depth.set(d),
    },
  );
}
