/**
 * The host agent of one node, wired to Kubernetes. Its parts, in start order:
 *
 *  1. CNI install: plugin wrapper + conflist into the node's CNI folders.
 *  2. Informers: this node's PodIPPool and pods (field selectors), and the
 *     cluster-wide kinds the policy and service files depend on.
 *  3. Pod network: once the PodIPPool is known, the IPAM store gets its
 *     chunks and the CNI server starts on the unix socket (reconciled first).
 *     A change of the pool's gateways (pod subnets) restarts both.
 *  4. Pool status: capacity, used, allocated, conditions, by server-side
 *     apply on the status subresource as `aci-host-agent/<node>`, debounced.
 *  5. Files for the opflex agent, level-based through one work queue:
 *     `policy` (security-group files, endpoint file EPG/groups), `services`
 *     (service files), `gc` (allocations of deleted pods).
 *  6. /healthz and /readyz.
 *
 * The data plane is injected (LinuxDataplane in production, a fake in the
 * e2e test), as are the Kubernetes client and the logger.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostAgentConfig } from '../../lib/config/components.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import { WorkQueue } from '../../lib/kube/workqueue.ts';
import type { ClusterDefaults } from '../../lib/policy/endpoint-group.ts';
import { ServiceFileSuffix } from '../opflex/files.ts';
import { bundledPlugin, installCni, hostPathOf } from './cni-install.ts';
import {
  type NodeFacts,
  type NodePortsShell,
  ensureNodePorts,
  nodeAgentFiles,
  nodePortsPlan,
  writeNodeAgentFiles,
} from './node-agents.ts';
import { CniServer } from './cniserver/index.ts';
import { EndpointFileStore } from './endpoints/index.ts';
import type { EndpointPolicy, PodIdentity } from './endpoints/index.ts';
import {
  IpamStore,
  poolStatusSummary,
  reservedAddresses,
  subnetFamilies,
  subnetsFromGateways,
} from './ipam/index.ts';
import type { Allocation, IpamState } from './ipam/index.ts';
import type { PodDataplane } from './netconf/types.ts';
import { startHealthServer, type HealthServer } from '../../lib/health/probes.ts';
import { allInformers, createInformers, type HostInformers } from './kube/informers.ts';
import type { PodIPPoolObject, PodObject } from './kube/objects.ts';
import { PoolStatusReporter, type UplinkOutcome } from './kube/pool-status.ts';
import { syncDirectory } from './policy/dirsync.ts';
import {
  EndpointsDir,
  SecurityGroupsDir,
  syncEndpointFiles,
  syncSecurityGroupFiles,
} from './policy/sync.ts';
import { NetworkPolicyCompiler } from '../../lib/policy/network-policy.ts';
import { computePolicyView, type PolicyView } from './policy/view.ts';
import { splitByDataplane } from '../../lib/node-state/families.ts';
import { buildServiceFiles } from './services/build.ts';

export const ServicesDir = 'services';
export const IpamFile = 'ipam.json';

export interface HostAgentOptions {
  readonly config: HostAgentConfig;
  readonly nodeName: string;
  readonly client: KubeClient;
  readonly dataplane: PodDataplane;
  readonly log: Logger;
  /** Overrides config.healthPort (0: any free port, for tests). */
  readonly healthPort?: number;
  /** Install the CNI plugin and conflist at start (default true); the socket path the node sees. */
  readonly cniInstall?: false | { readonly hostCniSocket?: string };
  /** Debounce of PodIPPool status writes (default 300 ms). */
  readonly statusDebounceMs?: number;
  /** Period of the full resync: garbage collection, files (default 60 s). */
  readonly resyncIntervalMs?: number;
  /**
   * Where to write the opflex agent's and mcast daemon's node configuration
   * (the shared opflex-hostconfig volume), with the node's addresses; omitted: not written.
   */
  readonly nodeAgents?: {
    readonly dir: string;
    readonly nodeIPs: readonly string[];
    readonly ovsRunDir: string;
    /** Creates the gateway and uplink ports on the integration bridge; omitted: not created. */
    readonly ports?: NodePortsShell;
  };
}

export interface HostAgent {
  readonly healthPort: number;
  /** Undefined until the PodIPPool is known and the CNI server listens. */
  readonly ipam: IpamStore | undefined;
  /** Resolves once the CNI server listens. */
  readonly serving: Promise<void>;
  stop(): Promise<void>;
}

const Keys = {
  policy: 'policy',
  services: 'services',
  gc: 'gc',
  ports: 'ports',
  attachments: 'attachments',
} as const;

/** The IPAM store and CNI server for one set of pod subnets. */
interface PodNetwork {
  readonly gateways: string;
  readonly ipam: IpamStore;
  readonly server: CniServer;
}

export async function startHostAgent(options: HostAgentOptions): Promise<HostAgent> {
  const { config, nodeName: node, client, dataplane } = options;
  const log = options.log.child({ node });
  // The opflex agent and mcast daemon mount the state dir read-only: the folders they watch exist first.
  for (const dir of [EndpointsDir, SecurityGroupsDir, ServicesDir])
    await mkdir(join(config.stateDir, dir), { recursive: true });

  // 1. CNI install.
  if (options.cniInstall !== false) {
    const report = await installCni({
      binDir: config.cniBinDir,
      confDir: config.cniConfDir,
      serverSocket: options.cniInstall?.hostCniSocket ?? hostPathOf(config.cniSocket),
      mtu: config.mtu,
      ...(bundledPlugin() ? { bundled: bundledPlugin() } : {}),
    });
    log.info(report, 'Installed CNI plugin');
  }

  // 2. Informers.
  const informers: HostInformers = createInformers(client, node, log);
  const defaults: ClusterDefaults = {
    tenant: config.aci.tenant,
    defaultEndpointGroup: config.aci.defaultEndpointGroup,
    systemEndpointGroup: config.aci.systemEndpointGroup,
    systemNamespaces: config.aci.systemNamespaces,
  };
  const podLabels = (namespace: string, name: string): Readonly<Record<string, string>> =>
    informers.localPods.get(`${namespace}/${name}`)?.metadata.labels ?? {};

  let network: PodNetwork | undefined;
  /** The node's facts for the opflex agent and mcast daemon, once the PodIPPool is known. */
  let nodeFacts: NodeFacts | undefined;
  let view: PolicyView | undefined;
  const allocations = (): readonly Allocation[] => network?.ipam.list() ?? [];
  // One compiler for the agent's life: each view recompiles only the policies a change touches.
  const policyCompiler = new NetworkPolicyCompiler();
  const computeView = (): PolicyView =>
    computePolicyView({
      compiler: policyCompiler,
      pods: informers.pods.list(),
      nodeName: node,
      namespaces: informers.namespaces.list(),
      networkPolicies: informers.networkPolicies.list(),
      mappings: informers.mappings.list(),
      allocations: allocations(),
      defaults,
      bridgeDomain: config.aci.podBridgeDomain,
    });
  // The CNI server asks at ADD; the last computed view is current up to the last event.
  const endpointPolicy = (pod: PodIdentity): EndpointPolicy =>
    (view ??= computeView()).policyOf(pod);

  // 4. Pool status.
  let uplink: UplinkOutcome = { state: 'pending' };
  const reporter = new PoolStatusReporter({
    client,
    node,
    log,
    pool: () => informers.pool.get(node),
    usage: () => {
      const ipam = network?.ipam;
      if (!ipam)
        return { summary: { capacity: 0, used: 0, allocated: [], needsMore: true }, chunkCount: 0 };
      return { summary: poolStatusSummary(ipam.usage()), chunkCount: ipam.chunks.length };
    },
    ...(options.nodeAgents?.ports ? { uplink: () => uplink } : {}),
    ...(options.statusDebounceMs !== undefined ? { debounceMs: options.statusDebounceMs } : {}),
  });
  const reportUplink = (next: UplinkOutcome): void => {
    uplink = next;
    reporter.poke();
  };

  // 3. Pod network, serialized: pool events may arrive while a restart is under way.
  let serving!: () => void;
  const servingPromise = new Promise<void>((resolve) => (serving = resolve));
  let networkChain: Promise<void> = Promise.resolve();
  let stopping = false;
  // Subnets and chunks of a family the pipeline drops are never handed out (lib/node-state/families.ts).
  let refusedLogged = '';
  const carriedSpec = (pool: PodIPPoolObject): { gateways: string[]; chunks: string[] } => {
    const gateways = splitByDataplane(pool.spec.gateways);
    const chunks = splitByDataplane(pool.spec.chunks);
    const refused = [...gateways.refused, ...chunks.refused].join(',');
    if (refused !== '' && refused !== refusedLogged)
      log.warn(
        { podIPPool: pool.metadata.name, gateways: gateways.refused, chunks: chunks.refused },
        'Ignored PodIPPool subnets and chunks of a family the data plane does not carry',
      );
    refusedLogged = refused;
    return { gateways: gateways.carried, chunks: chunks.carried };
  };
  const applyPool = (pool: PodIPPoolObject): void => {
    networkChain = networkChain
      .then(async () => {
        if (stopping) return;
        const carried = carriedSpec(pool);
        const gateways = [...carried.gateways].sort().join(',');
        if (network && network.gateways !== gateways) {
          log.info(
            { podIPPool: pool.metadata.name, from: network.gateways, to: gateways },
            'Restarting CNI server for new pod subnets',
          );
          await network.server.close();
          network = undefined;
        }
        if (!network) {
          if (carried.gateways.length === 0) {
            log.info(
              { podIPPool: pool.metadata.name },
              'Waited for pod subnet gateways in PodIPPool',
            );
            return;
          }
          network = await openNetwork(pool, carried, gateways);
          queue.add(Keys.policy);
          serving();
        } else {
          await network.ipam.setChunks(carried.chunks);
        }
        reporter.poke();
      })
      .catch((err: unknown) => {
        log.error({ err, podIPPool: pool.metadata.name }, 'Failed to apply PodIPPool');
        // Retry from the informer's state, which may have moved on.
        setTimeout(() => {
          const current = informers.pool.get(node);
          if (current && !stopping) applyPool(current);
        }, 2_000).unref();
      });
  };
  const openNetwork = async (
    pool: PodIPPoolObject,
    carried: { gateways: string[]; chunks: string[] },
    gateways: string,
  ): Promise<PodNetwork> => {
    const subnets = subnetsFromGateways(carried.gateways);
    const ipam = await IpamStore.open({
      path: join(config.stateDir, IpamFile),
      reserved: reservedAddresses(subnets),
      families: subnetFamilies(subnets),
    });
    await ipam.setChunks(carried.chunks);
    const server = new CniServer({
      socketPath: config.cniSocket,
      ipam,
      subnets,
      mtu: config.mtu,
      endpoints: new EndpointFileStore(join(config.stateDir, EndpointsDir)),
      dataplane,
      endpointPolicy,
      podLabels,
      logger: log.child({ subsystem: 'cniserver' }),
    });
    const reconciled = await server.reconcile();
    await server.listen();
    if (reconciled.failed > 0) queue.add(Keys.attachments);
    if (options.nodeAgents) {
      nodeFacts = {
        nodeName: node,
        gateways: carried.gateways,
        nodeIPs: options.nodeAgents.nodeIPs,
        stateDir: config.stateDir,
        ovsRunDir: options.nodeAgents.ovsRunDir,
        bridge: config.integrationBridge,
        encapType: config.encapType,
        ...(config.uplinkInterface !== undefined
          ? { uplinkInterface: config.uplinkInterface }
          : {}),
        ...(config.vlanPool ? { vlanPool: config.vlanPool } : {}),
        infraVlan: config.infraVlan,
        ...(config.multicastRange ? { multicastRange: config.multicastRange } : {}),
        bridgeDomains: [config.aci.podBridgeDomain],
        ...(config.opflex ? { opflex: config.opflex } : {}),
      };
      let files: ReturnType<typeof nodeAgentFiles> | undefined;
      try {
        files = nodeAgentFiles(nodeFacts);
      } catch (err) {
        // The node's facts do not change until its config does: reported, not retried. The
        // pod network stays open (pods reach each other on this node once the agents run).
        log.error({ err }, 'Failed to plan the node agents for the fabric encapsulation');
        reportUplink({ state: 'unrealizable', error: err });
      }
      if (files) {
        await writeNodeAgentFiles(options.nodeAgents.dir, files);
        log.info(
          { dir: options.nodeAgents.dir },
          'Wrote opflex agent and mcast daemon configuration',
        );
        queue.add(Keys.ports);
      }
    }
    log.info(
      { podIPPool: pool.metadata.name, chunks: carried.chunks, subnets },
      'Started pod network',
    );
    return { gateways, ipam, server };
  };

  // 5. Files and garbage collection.
  const queue = new WorkQueue(
    async (key) => {
      if (!allInformers(informers).every((i) => i.hasSynced())) return;
      if (key === Keys.policy) await syncPolicy();
      else if (key === Keys.services) await syncServices();
      else if (key === Keys.gc) await collectGarbage();
      else if (key === Keys.ports) await syncNodePorts();
      else if (key === Keys.attachments) await retryAttachments();
    },
    { onError: (key, err, attempt) => log.warn({ err, key, attempt }, 'Failed to sync, retrying') },
  );
  const syncPolicy = async (): Promise<void> => {
    // Before the pod network is open no allocation is known, and every endpoint file
    // would look orphaned; opening it enqueues this sync again.
    if (!network) return;
    view = computeView();
    const groups = await syncSecurityGroupFiles(config.stateDir, view.securityGroups);
    const current = view;
    const endpoints = await syncEndpointFiles({
      stateDir: config.stateDir,
      allocations,
      podLabels,
      policyOf: (pod) => current.policyOf(pod),
    });
    if (
      groups.written.length +
        groups.removed.length +
        endpoints.written.length +
        endpoints.removed.length >
      0
    ) {
      log.info(
        {
          securityGroupsWritten: groups.written,
          securityGroupsRemoved: groups.removed,
          endpointsWritten: endpoints.written,
          endpointsRemoved: endpoints.removed,
        },
        'Synced policy files',
      );
    }
  };
  /** Pods the start-up reconcile could not restore, e.g. before ovs-vswitchd ran; retried with backoff. */
  const retryAttachments = async (): Promise<void> => {
    const left = (await network?.server.retryUnreconciled()) ?? 0;
    if (left > 0) throw new Error(`${left} pod attachments still unreconciled`);
  };
  /** Gateway and uplink ports; retried with the queue's backoff (ovs-vswitchd may not run yet, the uplink may not exist yet). */
  const syncNodePorts = async (): Promise<void> => {
    const shell = options.nodeAgents?.ports;
    if (!shell || !nodeFacts) return;
    let plan: ReturnType<typeof nodePortsPlan>;
    try {
      plan = nodePortsPlan(nodeFacts);
    } catch (err) {
      log.error({ err }, 'Failed to plan the uplink for the fabric encapsulation');
      reportUplink({ state: 'unrealizable', error: err });
      return;
    }
    try {
      await ensureNodePorts(plan, shell);
    } catch (err) {
      reportUplink({ state: 'failed', plan, error: err });
      throw err;
    }
    reportUplink(
      plan.uplink || plan.tunnel ? { state: 'realized', plan } : { state: 'unconfigured' },
    );
    log.debug({ plan }, 'Ensured gateway and uplink ports');
  };
  const syncServices = async (): Promise<void> => {
    const built = buildServiceFiles({
      services: informers.services.list(),
      endpointSlices: informers.endpointSlices.list(),
      serviceGraphs: informers.serviceGraphs.list(),
    });
    for (const { key, reason } of built.rejected)
      log.warn({ service: key, reason }, 'Skipped invalid service file');
    const report = await syncDirectory(
      join(config.stateDir, ServicesDir),
      ServiceFileSuffix,
      new Map(built.files.map((f) => [f.uuid, f])),
    );
    if (report.written.length + report.removed.length > 0) {
      log.info({ written: report.written, removed: report.removed }, 'Synced service files');
    }
  };
  /**
   * Releases allocations of pods that no longer exist. The informer may lag
   * behind a CNI ADD of a brand-new pod, so a pod missing from it is
   * confirmed by a GET before its allocation goes; the live set is then
   * taken from the allocations in the same tick as collectDeadPods reads
   * them, so an ADD that lands meanwhile is never collected.
   */
  const collectGarbage = async (): Promise<void> => {
    const current = network;
    if (!current) return;
    const missing = new Map<string, Allocation['pod']>();
    for (const a of current.ipam.list()) {
      if (!a.pod || informers.localPods.get(`${a.pod.namespace}/${a.pod.name}`)) continue;
      missing.set(`${a.pod.namespace}/${a.pod.name}`, a.pod);
    }
    const dead = new Set<string>();
    for (const [key, pod] of missing) {
      if (!pod) continue;
      const found = await client.read<PodObject>({
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: pod.namespace,
        name: pod.name,
      });
      const foundNode = found?.spec?.nodeName;
      if (!found || (foundNode !== undefined && foundNode !== node)) dead.add(key);
    }
    if (dead.size === 0) return;
    const live = new Set(
      current.ipam
        .list()
        .flatMap((a) => (a.pod ? [`${a.pod.namespace}/${a.pod.name}`] : []))
        .filter((key) => !dead.has(key)),
    );
    const released = await current.server.collectDeadPods(live);
    log.info({ pods: [...dead], released }, 'Released addresses of deleted pods');
  };

  // Event wiring.
  informers.pool.on((event, pool) => {
    if (event === 'delete') {
      log.warn(
        { podIPPool: pool.metadata.name },
        'Found PodIPPool deleted, kept the current chunks',
      );
      return;
    }
    applyPool(pool);
  });
  informers.localPods.on((event) => {
    queue.add(Keys.policy);
    if (event === 'delete') queue.add(Keys.gc);
  });
  // Remote pods matter only as NetworkPolicy peers.
  informers.pods.on(() => {
    if (informers.networkPolicies.list().length > 0) queue.add(Keys.policy);
  });
  for (const i of [informers.namespaces, informers.networkPolicies, informers.mappings]) {
    i.on(() => queue.add(Keys.policy));
  }
  for (const i of [informers.services, informers.endpointSlices, informers.serviceGraphs]) {
    i.on(() => queue.add(Keys.services));
  }
  // IpamStore has no change event; its state is an immutable value replaced on each
  // persisted change, so comparing references is a free and exact change test.
  let lastState: IpamState | undefined;
  const ipamWatch = setInterval(() => {
    const state = network?.ipam.snapshot();
    if (state === lastState) return;
    lastState = state;
    reporter.poke();
    queue.add(Keys.policy);
  }, 100);
  ipamWatch.unref();

  queue.start();
  for (const i of allInformers(informers)) i.start();

  // 6. Health.
  const health: HealthServer = await startHealthServer(options.healthPort ?? config.healthPort, {
    ready: {
      informers: () => {
        const waiting = Object.entries(informers)
          .filter(([, i]) => !(i as { hasSynced(): boolean }).hasSynced())
          .map(([name]) => name);
        return waiting.length > 0 ? `waiting for ${waiting.join(', ')}` : undefined;
      },
      cniServer: () => (network ? undefined : `waiting for PodIPPool ${node} with gateways`),
    },
  });

  void Promise.all(allInformers(informers).map((i) => i.waitForSync())).then(() => {
    log.info({}, 'Synced informers');
    for (const key of Object.values(Keys)) queue.add(key);
  });
  const resync = setInterval(() => {
    for (const key of Object.values(Keys)) queue.add(key);
  }, options.resyncIntervalMs ?? 60_000);
  resync.unref();

  log.info(
    { healthPort: health.port, stateDir: config.stateDir, socket: config.cniSocket },
    'Started host agent',
  );
  return {
    healthPort: health.port,
    get ipam() {
      return network?.ipam;
    },
    serving: servingPromise,
    async stop() {
      stopping = true;
      clearInterval(ipamWatch);
      clearInterval(resync);
      await Promise.all(allInformers(informers).map((i) => i.stop()));
      await queue.shutdown();
      await networkChain;
      await reporter.stop();
      await network?.server.close();
      await health.close();
      log.info({}, 'Stopped host agent');
    },
  };
}
