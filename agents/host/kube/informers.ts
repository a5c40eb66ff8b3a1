/**
 * The host agent's view of the cluster: one informer per kind it reads.
 * Node-scoped kinds use field selectors so the API server sends only this
 * node's objects (its PodIPPool, its pods). NetworkPolicy peers can be pods
 * on any node, so a second, cluster-wide pod informer feeds the policy
 * compiler; it is the price of compiling remote addresses on the node.
 */
import type { Logger } from 'pino';
import {
  apiVersion as aciApiVersion,
  EndpointGroupMappingKind,
  PodIPPoolKind,
  ServiceGraphKind,
} from '../../../crds/index.ts';
import type { KubeClient } from '../../../lib/kube/client.ts';
import { Informer, type InformerOptions } from '../../../lib/kube/informer.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';
import type {
  EndpointGroupMappingObject,
  EndpointSliceObject,
  NamespaceObject,
  NetworkPolicyObject,
  PodIPPoolObject,
  PodObject,
  ServiceGraphObject,
  ServiceObject,
} from './objects.ts';

export interface HostInformers {
  readonly pool: Informer<PodIPPoolObject>;
  readonly localPods: Informer<PodObject>;
  readonly pods: Informer<PodObject>;
  readonly namespaces: Informer<NamespaceObject>;
  readonly networkPolicies: Informer<NetworkPolicyObject>;
  readonly mappings: Informer<EndpointGroupMappingObject>;
  readonly services: Informer<ServiceObject>;
  readonly endpointSlices: Informer<EndpointSliceObject>;
  readonly serviceGraphs: Informer<ServiceGraphObject>;
}

export function createInformers(client: KubeClient, node: string, log: Logger): HostInformers {
  const make = <T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: InformerOptions = {},
  ): Informer<T> =>
    new Informer<T>(client, apiVersion, kind, {
      ...options,
      backoff: { initialMs: 200, maxMs: 30_000 },
      onError: (err, attempt) => log.warn({ err, kind, attempt }, 'Failed to watch, retrying'),
    });
  return {
    pool: make(aciApiVersion, PodIPPoolKind, { fieldSelector: `metadata.name=${node}` }),
    localPods: make('v1', 'Pod', { fieldSelector: `spec.nodeName=${node}` }),
    pods: make('v1', 'Pod'),
    namespaces: make('v1', 'Namespace'),
    networkPolicies: make('networking.k8s.io/v1', 'NetworkPolicy'),
    mappings: make(aciApiVersion, EndpointGroupMappingKind),
    services: make('v1', 'Service'),
    endpointSlices: make('discovery.k8s.io/v1', 'EndpointSlice'),
    serviceGraphs: make(aciApiVersion, ServiceGraphKind),
  };
}

export const allInformers = (i: HostInformers): Informer<KubeObject>[] =>
  Object.values(i) as Informer<KubeObject>[];
