/**
 * The informers the controller reads from: one list+watch cache per kind.
 * They run on every replica (a standby has warm caches when it takes over);
 * only the leader acts on them. The controller serves the whole cluster:
 * tests that share one API server give each controller a view of its own
 * (e2e/support/controller/scope-proxy.ts), never a switch in here.
 */
import type {
  V1Deployment,
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1ReplicaSet,
  V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AciFabric, EndpointGroupMapping, PodIPPool, ServiceGraph } from '../../crds/index.ts';
import { apiVersion as aciApiVersion } from '../../crds/index.ts';
import type { KubeClient } from '../../lib/kube/client.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeObject, ObjectMeta } from '../../lib/kube/types.ts';

/** A client-node type with the metadata the kube layer requires. */
export type Kube<T> = Omit<T, 'metadata' | 'apiVersion' | 'kind'> &
  KubeObject & { metadata: ObjectMeta };

export type Node = Kube<V1Node>;
export type Namespace = Kube<V1Namespace>;
export type Pod = Kube<V1Pod>;
export type Service = Kube<V1Service>;
export type EndpointSlice = Kube<V1EndpointSlice>;
export type NetworkPolicy = Kube<V1NetworkPolicy>;
export type Deployment = Kube<V1Deployment>;
export type ReplicaSet = Kube<V1ReplicaSet>;
export type PodIPPoolObject = PodIPPool & KubeObject;
export type EndpointGroupMappingObject = EndpointGroupMapping & KubeObject;
export type ServiceGraphObject = ServiceGraph & KubeObject;
export type AciFabricObject = AciFabric & KubeObject;

export class Caches {
  readonly nodes: Informer<Node>;
  readonly namespaces: Informer<Namespace>;
  readonly pods: Informer<Pod>;
  readonly services: Informer<Service>;
  readonly endpointSlices: Informer<EndpointSlice>;
  readonly networkPolicies: Informer<NetworkPolicy>;
  readonly deployments: Informer<Deployment>;
  readonly replicaSets: Informer<ReplicaSet>;
  readonly podIPPools: Informer<PodIPPoolObject>;
  readonly endpointGroupMappings: Informer<EndpointGroupMappingObject>;
  readonly serviceGraphs: Informer<ServiceGraphObject>;
  readonly fabrics: Informer<AciFabricObject>;
  private readonly all: Informer<KubeObject>[];
  /** namespace → name → pod; pod lookups by namespace are on every policy reconcile's path. */
  private readonly podIndex = new Map<string, Map<string, Pod>>();

  constructor(client: KubeClient, fabricName: string, log: Logger) {
    const onError = (kind: string) => (error: unknown, attempt: number) =>
      log.warn({ kind, attempt, err: String(error) }, 'Watch failed, retrying');
    const make = <T extends KubeObject>(
      apiVersion: string,
      kind: string,
      extra: { labelSelector?: string; fieldSelector?: string } = {},
    ) =>
      new Informer<T>(client, apiVersion, kind, {
        ...extra,
        onError: onError(kind),
        backoff: { initialMs: 200, maxMs: 10_000 },
      });
    this.nodes = make('v1', 'Node');
    this.namespaces = make('v1', 'Namespace');
    this.pods = make<Pod>('v1', 'Pod').on((event, pod) => {
      const ns = pod.metadata.namespace ?? '';
      const byName = this.podIndex.get(ns) ?? new Map<string, Pod>();
      if (event === 'delete') byName.delete(pod.metadata.name);
      else byName.set(pod.metadata.name, pod);
      if (byName.size === 0) this.podIndex.delete(ns);
      else this.podIndex.set(ns, byName);
    });
    this.services = make('v1', 'Service');
    this.endpointSlices = make('discovery.k8s.io/v1', 'EndpointSlice');
    this.networkPolicies = make('networking.k8s.io/v1', 'NetworkPolicy');
    this.deployments = make('apps/v1', 'Deployment');
    this.replicaSets = make('apps/v1', 'ReplicaSet');
    this.podIPPools = make(aciApiVersion, 'PodIPPool');
    this.endpointGroupMappings = make(aciApiVersion, 'EndpointGroupMapping');
    this.serviceGraphs = make(aciApiVersion, 'ServiceGraph');
    this.fabrics = make(aciApiVersion, 'AciFabric', {
      fieldSelector: `metadata.name=${fabricName}`,
    });
    this.all = [
      this.nodes,
      this.namespaces,
      this.pods,
      this.services,
      this.endpointSlices,
      this.networkPolicies,
      this.deployments,
      this.replicaSets,
      this.podIPPools,
      this.endpointGroupMappings,
      this.serviceGraphs,
      this.fabrics,
    ] as unknown as Informer<KubeObject>[];
  }

  start(): void {
    for (const informer of this.all) informer.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.all.map((i) => i.waitForSync()));
  }

  synced(): boolean {
    return this.all.every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }

  hasNode(name: string | undefined): boolean {
    return !!name && this.nodes.get(name) !== undefined;
  }

  /** The fabric this controller reports into, if it exists. */
  fabric(): AciFabricObject | undefined {
    return this.fabrics.list()[0];
  }

  podsIn(namespace: string): Pod[] {
    return [...(this.podIndex.get(namespace)?.values() ?? [])];
  }
}
