/**
 * The operator process: wires informers (AciFabric and every owned kind,
 * filtered by the managed-by label) to a keyed work queue running the
 * FabricReconciler, behind Lease leader election. Caches run only while
 * leading, so a standby costs the API server nothing.
 */
import type { Logger } from 'pino';
import { apiVersion as aciApiVersion } from '../crds/index.ts';
import type { KubeClient } from '../lib/kube/client.ts';
import { EventRecorder } from '../lib/kube/events.ts';
import { Informer } from '../lib/kube/informer.ts';
import { LeaderElector } from '../lib/kube/leader.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import { WorkQueue } from '../lib/kube/workqueue.ts';
import { startHealthServer, type HealthServer } from '../lib/kube/health.ts';
import { DefaultFabricNamespace } from './render/install.ts';
import { OperatorMetrics } from './metrics.ts';
import {
  FabricReconciler,
  kindKey,
  ownedKinds,
  type FabricObject,
  type OwnedCaches,
} from './reconcile/fabric.ts';
import { ReferenceWatches, type ReferencedKind } from './reconcile/secrets.ts';
import { FieldManager, Labels } from './render/names.ts';

export interface OperatorOptions {
  client: KubeClient;
  log: Logger;
  /** Namespace of the operator's leader-election Lease. */
  namespace: string;
  leaseName?: string;
  identity?: string;
  leaderElection?: boolean;
  leaseDurationSeconds?: number;
  healthPort?: number;
  /** Default loopback. */
  healthHost?: string;
  /**
   * The one namespace whose namespaced objects this operator manages (its
   * Role is there); a fabric with another spec.namespace is Degraded.
   * Default aci-containers-system.
   */
  fabricNamespace?: string;
  cleanupTimeoutMs?: number;
  resyncMs?: number;
}

export interface OperatorHandle {
  metrics: OperatorMetrics;
  health: HealthServer;
  identity: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions): Promise<OperatorHandle> {
  const { client, log } = options;
  const metrics = new OperatorMetrics();
  const fabricNamespace = options.fabricNamespace ?? DefaultFabricNamespace;
  client.onRequest = (verb) => metrics.apiRequests.inc({ verb });
  let leading = false;
  let synced = false;
  let stopping = false;

  const runWhileLeading = async (signal: AbortSignal) => {
    leading = true;
    metrics.leader.set(1);
    const onError = (kind: string) => (error: unknown, attempt: number) =>
      log.warn({ kind, attempt, err: String(error) }, 'Watch failed, retrying with backoff');
    const fabrics = new Informer<FabricObject>(client, aciApiVersion, 'AciFabric', {
      onError: onError('AciFabric'),
    });
    const owned: OwnedCaches = {};
    for (const [apiVersion, kind, scope] of ownedKinds) {
      owned[kindKey(apiVersion, kind)] = new Informer<KubeObject>(client, apiVersion, kind, {
        // Namespaced kinds only in the fabric namespace: the operator's Role is there.
        ...(scope === 'namespaced' ? { namespace: fabricNamespace } : {}),
        labelSelector: `${Labels.managedBy}=${FieldManager}`,
        onError: onError(kind),
      });
    }
    const events = new EventRecorder(client, {
      component: FieldManager,
      onError: (error, object, reason) =>
        log.warn(
          { kind: object.kind, name: object.metadata.name, reason, err: String(error) },
          'Failed to record event',
        ),
    });
    // Started by the reconciler for the Secrets a fabric names; a change wakes every fabric (one is active).
    let wake = () => {};
    const referenceWatches = (kind: ReferencedKind) =>
      new ReferenceWatches({
        client,
        kind,
        onChange: () => wake(),
        // Names only: the error of a Secret watch never carries the Secret's data.
        onError: (namespace, name, error, attempt) =>
          log.warn(
            { kind, namespace, name, attempt, err: String(error) },
            `${kind} watch failed, retrying with backoff`,
          ),
      });
    const secrets = referenceWatches('Secret');
    const configMaps = referenceWatches('ConfigMap');
    const reconciler = new FabricReconciler({
      client,
      fabrics,
      owned,
      fabricNamespace,
      events,
      secrets,
      configMaps,
      log,
      ...(options.cleanupTimeoutMs !== undefined
        ? { cleanupTimeoutMs: options.cleanupTimeoutMs }
        : {}),
      ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
    });
    const queue = new WorkQueue(
      async (name) => {
        const end = metrics.reconcileDuration.startTimer();
        try {
          const result = await reconciler.reconcile(name);
          metrics.reconciles.inc({
            result: result?.requeueAfterMs !== undefined ? 'requeue' : 'success',
          });
          return result;
        } catch (error) {
          metrics.reconciles.inc({ result: 'error' });
          metrics.reconcileErrors.inc();
          throw error;
        } finally {
          end();
        }
      },
      {
        backoff: { initialMs: 200, maxMs: 60_000 },
        onDepth: (depth) => metrics.queueDepth.set(depth),
        onError: (key, error, attempt) =>
          log.error(
            {
              acifabric: key,
              attempt,
              err: error instanceof Error ? error.message : String(error),
            },
            'Reconcile failed, retrying with backoff',
          ),
      },
    );
    // Any fabric change can change which fabric is active: look at all of them.
    wake = () => {
      for (const fabric of fabrics.list()) queue.add(fabric.metadata.name);
    };
    fabrics.on(() => wake());
    fabrics.on((event, object) => {
      if (event === 'delete') queue.add(object.metadata.name);
    });
    for (const informer of Object.values(owned)) {
      informer.on((_event, object) => {
        const fabric = object.metadata.labels?.[Labels.fabric];
        if (fabric) queue.add(fabric);
      });
    }
    const informers = [fabrics, ...Object.values(owned)];
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((i) => i.waitForSync()));
    synced = true;
    log.info({ fabrics: fabrics.list().length }, 'Caches synced, reconciling');
    queue.start();
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    await queue.shutdown();
    await Promise.all([...informers.map((i) => i.stop()), secrets.stop(), configMaps.stop()]);
    synced = false;
    leading = false;
    metrics.leader.set(0);
  };

  const elector =
    options.leaderElection === false
      ? undefined
      : new LeaderElector(client, {
          namespace: options.namespace,
          name: options.leaseName ?? 'aci-containers-operator',
          ...(options.identity ? { identity: options.identity } : {}),
          leaseDurationSeconds: options.leaseDurationSeconds ?? 15,
          renewDeadlineMs: ((options.leaseDurationSeconds ?? 15) * 2000) / 3,
          retryPeriodMs: Math.max(200, ((options.leaseDurationSeconds ?? 15) * 1000) / 7),
          onStartedLeading: runWhileLeading,
          onNewLeader: (identity) => log.info({ leader: identity }, 'Observed leader'),
          log: (message, fields) => log.info(fields ?? {}, message),
        });

  const health = await startHealthServer(
    options.healthPort ?? 8081,
    {
      live: () => !stopping,
      ready: () => !stopping && (!leading || synced),
      registry: metrics.registry,
    },
    options.healthHost,
  );

  let noElection: AbortController | undefined;
  let running: Promise<void> | undefined;
  if (elector) elector.start();
  else {
    noElection = new AbortController();
    running = runWhileLeading(noElection.signal);
  }
  return {
    metrics,
    health,
    identity: elector?.identity ?? 'single',
    isLeader: () => leading,
    stop: async () => {
      stopping = true;
      if (elector) await elector.stop();
      noElection?.abort();
      await running;
      await health.close();
    },
  };
}
