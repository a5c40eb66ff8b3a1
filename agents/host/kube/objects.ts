/**
 * The Kubernetes objects the host agent watches, typed as the kube layer
 * needs them (KubeObject: apiVersion, kind, metadata) plus the fields the
 * agent reads. Built-in kinds reuse @kubernetes/client-node's model types
 * for everything but metadata, so the pure cores (network-policy compiler,
 * service builder) see the API's field names and nothing is redefined.
 */
import type {
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import type {
  EndpointGroupMappingSpec,
  PodIPPoolSpec,
  PodIPPoolStatus,
  ServiceGraphSpec,
} from '../../../crds/index.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';

type WithMeta<T> = KubeObject & Omit<T, 'metadata' | 'apiVersion' | 'kind'>;

export type PodObject = WithMeta<V1Pod>;
export type NamespaceObject = WithMeta<V1Namespace>;
export type NetworkPolicyObject = WithMeta<V1NetworkPolicy>;
export type ServiceObject = WithMeta<V1Service>;
export type EndpointSliceObject = WithMeta<V1EndpointSlice>;

export interface PodIPPoolObject extends KubeObject {
  spec: PodIPPoolSpec;
  status?: PodIPPoolStatus;
}

export interface EndpointGroupMappingObject extends KubeObject {
  spec: EndpointGroupMappingSpec;
}

export interface ServiceGraphObject extends KubeObject {
  spec: ServiceGraphSpec;
}

/**
 * The client-node model types declare timestamps as Date while the wire
 * (and so the informer cache) has strings; the pure cores that take these
 * types never read timestamps, so the JSON object is handed over as is.
 */
export const asV1 = <T>(object: KubeObject): T => object as unknown as T;
