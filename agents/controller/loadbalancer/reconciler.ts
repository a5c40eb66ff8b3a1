/**
 * One reconcile per Service key: LoadBalancer IPs → ServiceGraph (spec and
 * status) → APIC objects of the Service. Also keeps the shared device
 * cluster (one concrete device per node with a service endpoint) current.
 *
 * Steps: read the Service; assign IPs (ipam/service-ips.ts); gather nodes
 * with ready endpoints from EndpointSlices; choose at most
 * maxNodesServiceGraph of them; apply the ServiceGraph; set the APIC
 * desired state; report status once the APIC has it.
 */
import {
  apiVersion as aciApiVersion,
  type ServiceGraphSpec,
  type ServiceGraphStatus,
} from '../../../crds/index.ts';
import { setCondition, type Condition } from '../../../lib/kube/conditions.ts';
import type { ReconcileResult } from '../../../lib/kube/workqueue.ts';
import type { EndpointSlice, Service, ServiceGraphObject } from '../caches.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import type { PodIPPoolManager } from '../ipam/pools.ts';
import { isLoadBalancer, type ServiceIpManager } from '../ipam/service-ips.ts';
import { redirectPolicyDn, serviceObjects, sharedServiceObjects, type GraphNode } from './apic.ts';
import { chooseNodes } from './choose.ts';
import { kubeTime, stableStringify } from '../util.ts';

export const SharedServiceKey = 'lb/shared';
export const serviceApicKey = (key: string) => `svc/${key}`;
const serviceNameLabel = 'kubernetes.io/service-name';

/** Nodes with at least one ready endpoint of the Service (EndpointSlice conditions.ready unset counts as ready). */
export function readyNodes(slices: readonly EndpointSlice[]): string[] {
  const nodes = new Set<string>();
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false || !endpoint.nodeName) continue;
      nodes.add(endpoint.nodeName);
    }
  }
  return [...nodes];
}

export class ServiceReconciler {
  private sharedNodes = '';
  /** Per Service key: the slices' service-name index, rebuilt lazily. */
  constructor(
    private readonly ctx: ControllerContext,
    private readonly pools: PodIPPoolManager,
    private readonly ips: ServiceIpManager,
  ) {}

  slicesOf(namespace: string, name: string): EndpointSlice[] {
    return this.ctx.caches.endpointSlices
      .list()
      .filter(
        (s) => s.metadata.namespace === namespace && s.metadata.labels?.[serviceNameLabel] === name,
      );
  }

  /** The device cluster has one concrete device per node that has a service endpoint. */
  syncSharedObjects(): void {
    const nodes = this.ctx.caches.nodes
      .list()
      .map((n) => n.metadata.name)
      .filter((n) => this.pools.serviceEndpointOf(n) !== undefined)
      .sort();
    const fingerprint = nodes.join(',');
    if (fingerprint === this.sharedNodes) return;
    this.sharedNodes = fingerprint;
    this.ctx.apic.setDesired(SharedServiceKey, sharedServiceObjects(this.ctx.config, nodes));
  }

  async reconcile(key: string, requeue: (key: string) => void): Promise<ReconcileResult | void> {
    const { caches, client, config, apic } = this.ctx;
    const [namespace = '', name = ''] = key.split('/');
    const service = caches.services.get(key);
    // 1. IPs.
    const ips = await this.ips.reconcile(key, service);
    const graph = caches.serviceGraphs.get(key);
    if (
      !service ||
      !isLoadBalancer(service) ||
      ips.length === 0 ||
      (service.spec?.ports ?? []).length === 0
    ) {
      apic.setDesired(serviceApicKey(key), undefined);
      if (graph)
        await client.delete({ apiVersion: aciApiVersion, kind: 'ServiceGraph', name, namespace });
      return;
    }
    // 2. Nodes: ready endpoints on nodes with a service endpoint, at most maxNodesServiceGraph.
    const candidates = readyNodes(this.slicesOf(namespace, name)).filter(
      (n) => caches.hasNode(n) && this.pools.serviceEndpointOf(n),
    );
    const chosen = chooseNodes(key, candidates, config.loadBalancing.maxNodesServiceGraph);
    const nodes: GraphNode[] = chosen.map((n) => ({
      name: n,
      ...(this.pools.serviceEndpointOf(n) as { mac: string }),
    }));
    const spec: ServiceGraphSpec = {
      externalIPs: ips,
      ports: (service.spec?.ports ?? []).map((p) => ({
        name: p.name ?? '',
        protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP',
        port: p.port,
        ...(p.nodePort ? { nodePort: p.nodePort } : {}),
      })),
      nodes: nodes.map((n) => ({
        name: n.name,
        serviceEndpoint: {
          ...(n.ipv4 ? { ipv4: n.ipv4 } : {}),
          ...(n.ipv6 ? { ipv6: n.ipv6 } : {}),
          mac: n.mac,
        },
      })),
    };
    // 3. ServiceGraph spec (owned by the Service, so it goes with it).
    let current = graph;
    if (
      !graph ||
      stableStringify(graph.spec) !== stableStringify(spec) ||
      !ownedBy(graph, service)
    ) {
      current = await client.apply<ServiceGraphObject>(
        {
          apiVersion: aciApiVersion,
          kind: 'ServiceGraph',
          metadata: {
            name,
            namespace,
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Service',
                name,
                uid: service.metadata.uid ?? '',
                controller: true,
              },
            ],
          },
          spec,
        },
        { fieldManager: FieldManager, force: true },
      );
    }
    // 4. APIC.
    this.syncSharedObjects();
    const changed = apic.setDesired(
      serviceApicKey(key),
      serviceObjects(config, { namespace, name, externalIPs: ips, ports: spec.ports, nodes }),
    );
    const written = !changed && apic.written();
    if (!written) apic.onceWritten(() => requeue(key));
    // 5. Status.
    if (current) await this.writeStatus(current, nodes.length, written, namespace, name);
  }

  private async writeStatus(
    graph: ServiceGraphObject,
    nodeCount: number,
    synced: boolean,
    namespace: string,
    name: string,
  ): Promise<void> {
    const now = new Date();
    const generation = graph.metadata.generation;
    const previous = graph.status ?? {};
    const ready =
      nodeCount === 0
        ? {
            type: 'Ready',
            status: 'False' as const,
            reason: 'NoReadyEndpoints',
            message: 'no node with a ready endpoint has a service endpoint',
          }
        : synced
          ? {
              type: 'Ready',
              status: 'True' as const,
              reason: 'Synced',
              message: `redirecting to ${nodeCount} node(s)`,
            }
          : {
              type: 'Ready',
              status: 'False' as const,
              reason: 'ApicSyncPending',
              message: 'waiting for the APIC to accept the service graph objects',
            };
    const conditions = setCondition(
      previous.conditions as Condition[] | undefined,
      ready,
      generation,
      now,
    );
    const status: ServiceGraphStatus = {
      observedGeneration: generation,
      conditions,
      nodeCount,
      apic: {
        synced,
        ...(synced
          ? { lastSync: kubeTime(now) }
          : previous.apic?.lastSync
            ? { lastSync: previous.apic.lastSync }
            : {}),
        redirectPolicyDn: redirectPolicyDn(this.ctx.config, namespace, name),
      },
    };
    const same =
      previous.observedGeneration === status.observedGeneration &&
      previous.nodeCount === status.nodeCount &&
      previous.apic?.synced === synced &&
      JSON.stringify(previous.conditions?.map((c) => [c.type, c.status, c.reason, c.message])) ===
        JSON.stringify(conditions.map((c) => [c.type, c.status, c.reason, c.message]));
    if (same) return;
    await this.ctx.client.apply(
      { apiVersion: aciApiVersion, kind: 'ServiceGraph', metadata: { name, namespace }, status },
      { fieldManager: FieldManager, subresource: 'status', force: true },
    );
  }
}

function ownedBy(graph: ServiceGraphObject, service: Service): boolean {
  return (graph.metadata.ownerReferences ?? []).some(
    (o) => o.kind === 'Service' && o.uid === service.metadata.uid,
  );
}
