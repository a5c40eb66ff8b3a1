/**
 * aci-containers-controller: the process. Informers on every replica,
 * leader election (Lease), the leader's work in a LeaderSession per term,
 * health/readiness/metrics, graceful shutdown. `startController` is what
 * main.ts and the tests call.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { ControllerConfig } from '../../lib/config/components.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import { LeaderElector, NotLeadingError } from '../../lib/kube/leader.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { Caches, type Pod } from './caches.ts';
import { loadCredentials, type ApicCredentials } from './config.ts';
import { ComponentName } from './context.ts';
import type { ApicTuning } from './runtime/apic.ts';
import { EventRecorder } from '../../lib/kube/events.ts';
import { startHealthServer, type HealthServer } from '../../lib/kube/health.ts';
import { ControllerMetrics } from './runtime/metrics.ts';
import { LeaderSession } from './session.ts';

export interface ControllerOptions {
  config: ControllerConfig;
  /** Default: read from config.apic.credentialsDir. */
  credentials?: ApicCredentials;
  /** Default: read config.apic.caBundleFile when set. */
  apicCaPem?: string;
  /** Default: KUBECONFIG, else the in-cluster service account. */
  client?: KubeClient;
  /** Default config.healthPort; 0 picks a free port. */
  healthPort?: number;
  healthHost?: string;
  logger?: Logger;
  apicTuning?: ApicTuning;
  statusIntervalMs?: number;
  /** process_* and nodejs_* metrics (off in tests that run several controllers in one process). */
  defaultMetrics?: boolean;
}

export interface RunningController {
  readonly identity: string;
  readonly healthPort: number;
  readonly caches: Caches;
  readonly metrics: ControllerMetrics;
  isLeader(): boolean;
  /** The current leadership term, if leading (tests and the benchmark look inside). */
  session(): LeaderSession | undefined;
  stop(): Promise<void>;
}

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const { config } = options;
  const log =
    options.logger ?? pino({ level: config.logLevel, base: { component: ComponentName } });
  // The pod name in a cluster; the suffix keeps a restarted container from passing for the holder of the last term.
  const identity = `${os.hostname()}_${randomUUID().slice(0, 8)}`;
  const credentials =
    options.credentials ??
    (await loadCredentials(config.apic.credentialsDir, config.apic.method, config.apic.username));
  const caPem =
    options.apicCaPem ??
    (config.apic.caBundleFile ? await readFile(config.apic.caBundleFile, 'utf8') : undefined);
  if (config.apic.insecureSkipTLSVerify)
    log.warn(
      { hosts: config.apic.hosts },
      'APIC certificate verification is disabled by configuration',
    );
  const client = options.client ?? KubeClient.fromDefault();
  const metrics = new ControllerMetrics(options.defaultMetrics ?? true);
  const caches = new Caches(client, config.fabricName, log);
  const events = new EventRecorder(client, {
    component: ComponentName,
    onError: (error, object, reason) =>
      log.warn(
        { kind: object.kind, name: object.metadata.name, reason, err: String(error) },
        'Failed to record Event',
      ),
  });

  let session: LeaderSession | undefined;
  const route =
    <T extends KubeObject>(
      handler: (
        s: LeaderSession,
        event: 'add' | 'update' | 'delete',
        object: T,
        previous?: T,
      ) => void,
    ) =>
    (event: 'add' | 'update' | 'delete', object: T, previous?: T) => {
      if (session) handler(session, event, object, previous);
    };
  caches.nodes.on(route((s, e, o) => s.onNode(e, o)));
  caches.podIPPools.on(route((s, e, o) => s.onPodIPPool(e, o)));
  caches.services.on(route((s, e, o) => s.onService(e, o)));
  caches.endpointSlices.on(route((s, e, o) => s.onEndpointSlice(e, o)));
  caches.serviceGraphs.on(route((s, e, o) => s.onServiceGraph(e, o)));
  caches.pods.on(route<Pod>((s, e, o, p) => s.onPod(e, o, p)));
  caches.namespaces.on(route((s, e, o) => s.onNamespace(e, o)));
  caches.networkPolicies.on(route((s, e, o) => s.onNetworkPolicy(e, o)));
  caches.endpointGroupMappings.on(route((s, e, o) => s.onMapping(e, o)));
  caches.deployments.on(route((s, e, o) => s.onWorkload(e, o)));
  caches.replicaSets.on(route((s, e, o) => s.onWorkload(e, o)));
  caches.fabrics.on(route((s, e, o) => s.onFabric(e, o)));
  caches.start();

  const health: HealthServer = await startHealthServer(
    options.healthPort ?? config.healthPort,
    {
      live: () => true,
      ready: () => caches.synced(),
      registry: metrics.registry,
    },
    options.healthHost,
  );

  const { leaseDurationSeconds, renewDeadlineMs, retryPeriodMs } = config.leaderElection;
  const elector = new LeaderElector(client, {
    namespace: config.leaderElection.namespace,
    name: config.leaderElection.leaseName,
    identity,
    ...(leaseDurationSeconds !== undefined ? { leaseDurationSeconds } : {}),
    ...(renewDeadlineMs !== undefined ? { renewDeadlineMs } : {}),
    ...(retryPeriodMs !== undefined ? { retryPeriodMs } : {}),
    log: (message, fields) => log.info({ ...fields }, message),
    onStartedLeading: async (signal) => {
      metrics.leader.set(1);
      // The term writes only while this process still leads by its own monotonic clock: a leader
      // resumed after a pause past its lease (SIGSTOP, a stalled VM) has every write refused before it
      // is sent, even the ones its queues had decided before the pause.
      const writeGuard = () => {
        if (!elector.isLeader()) throw new NotLeadingError(identity);
      };
      const termClient = client.withWriteGuard(writeGuard);
      const term = new LeaderSession(
        {
          config,
          client: termClient,
          writeGuard,
          leaderTerm: () => elector.term(),
          caches,
          log,
          events,
          metrics,
          credentials,
          caPem,
          ...(options.apicTuning ? { apicTuning: options.apicTuning } : {}),
          ...(options.statusIntervalMs !== undefined
            ? { statusIntervalMs: options.statusIntervalMs }
            : {}),
        },
        signal,
      );
      session = term;
      try {
        await term.run();
      } finally {
        if (session === term) session = undefined;
        metrics.leader.set(0);
        termClient.close();
      }
    },
    onNewLeader: (holder) => log.info({ leader: holder }, 'Observed new leader'),
  });
  elector.start();
  log.info(
    { identity, healthPort: health.port, fabric: config.fabricName, systemId: config.systemId },
    'Started controller',
  );

  let stopping: Promise<void> | undefined;
  return {
    identity,
    healthPort: health.port,
    caches,
    metrics,
    isLeader: () => elector.isLeader(),
    session: () => session,
    stop: () =>
      (stopping ??= (async () => {
        log.info({ identity }, 'Stopping controller');
        await elector.stop();
        await caches.stop();
        await health.close();
        client.close();
        log.info({ identity }, 'Stopped controller');
      })()),
  };
}
