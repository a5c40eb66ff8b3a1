/**
 * One leadership term: everything the leader does, from rebuilding IPAM to
 * shutting down when leadership ends. Reads like a table of contents:
 *
 *   1. wait for the caches;
 *   2. rebuild IPAM from PodIPPools and Service statuses (before any
 *      allocation);
 *   3. start the APIC session and set the static objects;
 *   4. start the work queues and enqueue everything;
 *   5. route informer events to queues until leadership ends;
 *   6. drain the queues, stop the APIC session.
 */
import type { Logger } from 'pino';
import type { ControllerConfig } from '../../lib/config/components.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import type { InformerEvent } from '../../lib/kube/informer.ts';
import { keyOf, type KubeObject } from '../../lib/kube/types.ts';
import type { WorkQueue } from '../../lib/kube/workqueue.ts';
import type { Caches, NetworkPolicy, Pod } from './caches.ts';
import type { ApicCredentials } from './config.ts';
import { makeQueue, type ControllerContext } from './context.ts';
import { PodIPPoolManager } from './ipam/pools.ts';
import { isLoadBalancer, ServiceIpManager } from './ipam/service-ips.ts';
import { ServiceReconciler } from './loadbalancer/reconciler.ts';
import { policyMayConcern, PolicyReconciler } from './policy/reconciler.ts';
import { HostsInventoryKey } from './policy/inventory.ts';
import { ApicState, type ApicTuning } from './runtime/apic.ts';
import type { EventRecorder } from '../../lib/kube/events.ts';
import type { ControllerMetrics } from './runtime/metrics.ts';
import { FabricStatusWriter } from './status/fabric.ts';
import { provisionObjects } from './provision/render.ts';

/** Services-queue key of the objects all LoadBalancer Services share (device cluster, graph template). */
const SharedObjectsKey = '(shared)';

export interface SessionBase {
  config: ControllerConfig;
  client: KubeClient;
  caches: Caches;
  log: Logger;
  events: EventRecorder;
  metrics: ControllerMetrics;
  credentials: ApicCredentials;
  caPem: string | undefined;
  apicTuning?: ApicTuning;
  statusIntervalMs?: number;
  /** Refuses a write once this term has run out (the Kubernetes client carries the same check). */
  writeGuard?: () => void;
  /** The token of this leadership term (LeaderElector.term), which PodIPPool writes carry. */
  leaderTerm?: () => string | undefined;
}

export class LeaderSession {
  readonly ctx: ControllerContext;
  readonly pools: PodIPPoolManager;
  readonly serviceIps: ServiceIpManager;
  readonly services: ServiceReconciler;
  readonly policies: PolicyReconciler;
  readonly status: FabricStatusWriter;
  private readonly queues: Record<
    'nodes' | 'services' | 'policies' | 'mappings' | 'inventory',
    WorkQueue
  >;
  private started = false;
  private endpointNodes = new Set<string>();

  constructor(base: SessionBase, signal: AbortSignal) {
    const apic = new ApicState(
      base.config,
      base.credentials,
      base.caPem,
      base.log,
      () => this.onApicStatus(),
      base.apicTuning,
      base.writeGuard,
    );
    this.ctx = { ...base, apic, signal };
    this.pools = new PodIPPoolManager(this.ctx);
    this.serviceIps = new ServiceIpManager(this.ctx);
    this.services = new ServiceReconciler(this.ctx, this.pools, this.serviceIps);
    this.policies = new PolicyReconciler(this.ctx);
    this.status = new FabricStatusWriter(
      this.ctx,
      () => this.statusInput(),
      base.statusIntervalMs ?? 1000,
    );
    this.queues = {
      nodes: makeQueue(this.ctx, 'nodes', async (name) => {
        await this.pools.reconcile(name);
        this.afterPoolChange(name);
      }),
      services: makeQueue(this.ctx, 'services', async (key) => {
        if (key === SharedObjectsKey) {
          this.services.syncSharedObjects();
          this.enqueueLoadBalancers();
          return;
        }
        return this.services.reconcile(key, (k) => this.queues.services.add(k));
      }),
      policies: makeQueue(
        this.ctx,
        'networkpolicies',
        async (key) => this.policies.reconcileNetworkPolicy(key),
        2,
      ),
      mappings: makeQueue(
        this.ctx,
        'endpointgroupmappings',
        (key) => this.policies.reconcileMapping(key),
        2,
      ),
      inventory: makeQueue(
        this.ctx,
        'inventory',
        async (key) => this.policies.reconcileInventory(key),
        2,
      ),
    };
  }

  get apic(): ApicState {
    return this.ctx.apic;
  }

  /** Runs the term until the signal aborts. */
  async run(): Promise<void> {
    const { caches, log, signal } = this.ctx;
    await caches.waitForSync();
    if (signal.aborted) return;
    await this.pools.rebuild();
    await this.serviceIps.rebuild();
    if (signal.aborted) return;
    this.ctx.apic.start();
    if (caches.fabric()?.metadata.deletionTimestamp) this.ctx.apic.freeze();
    this.policies.syncStatic();
    this.syncProvisioning();
    for (const queue of Object.values(this.queues)) queue.start();
    this.started = true;
    this.enqueueAll();
    const heartbeat = setInterval(() => this.status.trigger(), 10_000);
    log.info({ nodes: this.pools.nodeCount() }, 'Started leader work');
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    clearInterval(heartbeat);
    this.started = false;
    await Promise.all(Object.values(this.queues).map((q) => q.shutdown()));
    await this.status.stop();
    await this.ctx.apic.stop();
    log.info('Stopped leader work');
  }

  /** What acc-provision used to create (spec.aci.provision); the config only changes with a restart. */
  private syncProvisioning(): void {
    for (const [key, mos] of Object.entries(provisionObjects(this.ctx.config)))
      this.ctx.apic.setDesired(key, mos.length > 0 ? mos : undefined);
  }

  private enqueueAll(): void {
    const { caches } = this.ctx;
    for (const node of caches.nodes.list()) this.queues.nodes.add(node.metadata.name);
    for (const service of caches.services.list()) this.queues.services.add(keyOf(service.metadata));
    // ServiceGraphs whose Service is gone (deleted while no leader ran) are cleaned up by the Service key.
    for (const graph of caches.serviceGraphs.list())
      this.queues.services.add(keyOf(graph.metadata));
    for (const policy of caches.networkPolicies.list())
      this.queues.policies.add(keyOf(policy.metadata));
    for (const mapping of caches.endpointGroupMappings.list())
      this.queues.mappings.add(keyOf(mapping.metadata));
    for (const ns of caches.namespaces.list()) this.queues.inventory.add(ns.metadata.name);
    this.queues.inventory.add(HostsInventoryKey);
    this.status.trigger();
  }

  private onApicStatus(): void {
    const status = this.ctx.apic.status();
    this.ctx.metrics.apicConnected.set(status.connected ? 1 : 0);
    this.ctx.metrics.apicObjectsOwned.set(status.objectsOwned);
    this.status.trigger();
  }

  private statusInput() {
    const apic = this.ctx.apic.status();
    const deleting = this.ctx.apic.isFrozen;
    const ipam = {
      podAddresses: this.pools.chunks.totalAddresses(),
      podAddressesAssigned: this.pools.chunks.assignedAddresses(),
      nodes: this.pools.nodeCount(),
      loadBalancerIPsInUse: this.serviceIps.ipam.inUse(),
    };
    this.ctx.metrics.podIPPools.set(ipam.nodes);
    this.ctx.metrics.podAddressesAssigned.set(Number(ipam.podAddressesAssigned));
    this.ctx.metrics.loadBalancerIPs.set(ipam.loadBalancerIPsInUse);
    return {
      apic,
      host: this.ctx.apic.client.currentHost.replace(/^https?:\/\//, ''),
      ipam,
      cleanedUp: deleting && this.ctx.apic.cleanedUp(() => this.status.trigger()),
      provisioned: this.ctx.config.aci.provision,
    };
  }

  /** A node got or lost its service endpoint: the device cluster and the LB services may change. */
  private afterPoolChange(name: string): void {
    const has =
      this.pools.serviceEndpointOf(name) !== undefined &&
      this.ctx.caches.nodes.get(name) !== undefined;
    if (has !== this.endpointNodes.has(name)) {
      if (has) this.endpointNodes.add(name);
      else this.endpointNodes.delete(name);
      // One queued key, not a rebuild per node: a burst of N new nodes would
      // otherwise rebuild the N-device cluster N times (quadratic at scale).
      this.queues.services.add(SharedObjectsKey);
    }
    this.status.trigger();
  }

  private enqueueLoadBalancers(): void {
    for (const service of this.ctx.caches.services.list()) {
      if (isLoadBalancer(service)) this.queues.services.add(keyOf(service.metadata));
    }
  }

  // ---------------------------------------------------------------- event routing

  onNode(event: InformerEvent, node: KubeObject): void {
    if (!this.started) return;
    this.queues.nodes.add(node.metadata.name);
    if (event !== 'update') this.queues.inventory.add(HostsInventoryKey);
    if (event === 'delete') this.enqueueLoadBalancers();
  }

  onPodIPPool(_event: InformerEvent, pool: KubeObject): void {
    if (!this.started) return;
    if (this.ctx.caches.hasNode(pool.metadata.name) || _event === 'delete')
      this.queues.nodes.add(pool.metadata.name);
  }

  onService(_event: InformerEvent, service: KubeObject): void {
    if (!this.started) return;
    this.queues.services.add(keyOf(service.metadata));
    this.queues.inventory.add(service.metadata.namespace ?? '');
  }

  onEndpointSlice(_event: InformerEvent, slice: KubeObject): void {
    if (!this.started) return;
    const service = slice.metadata.labels?.['kubernetes.io/service-name'];
    if (service) this.queues.services.add(`${slice.metadata.namespace}/${service}`);
    this.queues.inventory.add(slice.metadata.namespace ?? '');
  }

  onServiceGraph(_event: InformerEvent, graph: KubeObject): void {
    if (!this.started) return;
    this.queues.services.add(keyOf(graph.metadata));
  }

  onPod(event: InformerEvent, pod: Pod, previous?: Pod): void {
    const namespace = pod.metadata.namespace ?? '';
    if (!this.started) return;
    this.queues.inventory.add(namespace);
    if (event === 'update' && previous && !policyRelevantChange(previous, pod)) return;
    for (const policy of this.ctx.caches.networkPolicies.list()) {
      if (policyMayConcern(policy as NetworkPolicy, namespace))
        this.queues.policies.add(keyOf(policy.metadata));
    }
    for (const mapping of this.ctx.caches.endpointGroupMappings.list()) {
      if (mapping.metadata.namespace === namespace)
        this.queues.mappings.add(keyOf(mapping.metadata));
    }
  }

  onNamespace(_event: InformerEvent, namespace: KubeObject): void {
    if (!this.started) return;
    this.queues.inventory.add(namespace.metadata.name);
    for (const policy of this.ctx.caches.networkPolicies.list())
      this.queues.policies.add(keyOf(policy.metadata));
  }

  onNetworkPolicy(_event: InformerEvent, policy: KubeObject): void {
    if (!this.started) return;
    this.queues.policies.add(keyOf(policy.metadata));
  }

  onMapping(_event: InformerEvent, mapping: KubeObject): void {
    if (!this.started) return;
    // Precedence: one mapping's change can move pods from or to its neighbours.
    for (const other of this.ctx.caches.endpointGroupMappings.list()) {
      if (other.metadata.namespace === mapping.metadata.namespace)
        this.queues.mappings.add(keyOf(other.metadata));
    }
    this.queues.mappings.add(keyOf(mapping.metadata));
  }

  onWorkload(_event: InformerEvent, object: KubeObject): void {
    if (!this.started) return;
    this.queues.inventory.add(object.metadata.namespace ?? '');
  }

  onFabric(_event: InformerEvent, fabric: KubeObject): void {
    if (!this.started) return;
    if (fabric.metadata.deletionTimestamp && !this.ctx.apic.isFrozen) {
      this.ctx.log.info(
        { kind: 'AciFabric', name: fabric.metadata.name },
        'Removing APIC objects of deleted fabric',
      );
      this.ctx.apic.freeze();
      this.ctx.apic.onceWritten(() => this.status.trigger());
    }
    this.status.trigger();
  }
}

/** Only these pod changes can change a hostprotPol or a mapping's count. */
function policyRelevantChange(a: Pod, b: Pod): boolean {
  const ips = (p: Pod) =>
    (p.status?.podIPs ?? []).map((i) => i.ip).join(',') + (p.status?.podIP ?? '');
  const ports = (p: Pod) => JSON.stringify((p.spec?.containers ?? []).map((c) => c.ports ?? []));
  return (
    JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {}) ||
    ips(a) !== ips(b) ||
    a.status?.phase !== b.status?.phase ||
    !!a.metadata.deletionTimestamp !== !!b.metadata.deletionTimestamp ||
    ports(a) !== ports(b)
  );
}
