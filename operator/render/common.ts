/** Helpers every builder uses: labels, owner references, images, hashes. */
import { createHash } from 'node:crypto';
import type { AciFabricSpec } from '../../crds/index.ts';
import type { KubeObject, OwnerReference } from '../../lib/kube/types.ts';
import { FieldManager, ImageName, Labels } from './names.ts';

export interface RenderInput {
  /** Name and uid of the AciFabric, for labels and owner references. */
  fabric: { name: string; uid: string };
  spec: AciFabricSpec;
}

export type ComponentKey = 'controller' | 'hostAgent' | 'openvswitch';
type ImageKey = 'controller' | 'hostAgent' | 'opflexAgent' | 'mcastDaemon' | 'openvswitch';

export function commonLabels(input: RenderInput, component?: string): Record<string, string> {
  return {
    [Labels.managedBy]: FieldManager,
    [Labels.partOf]: 'aci-containers',
    [Labels.fabric]: input.fabric.name,
    ...(component ? { [Labels.component]: component } : {}),
  };
}

/** Pod template / selector labels: stable across upgrades, so selectors never change. */
export function selectorLabels(name: string): Record<string, string> {
  return { [Labels.name]: name };
}

export function ownerReference(input: RenderInput): OwnerReference {
  return {
    apiVersion: 'aci.cni.dev/v1alpha1',
    kind: 'AciFabric',
    name: input.fabric.name,
    uid: input.fabric.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of a namespaced object the fabric owns (garbage-collected with it). */
export function ownedMeta(
  input: RenderInput,
  name: string,
  component?: string,
): KubeObject['metadata'] {
  return {
    name,
    namespace: input.spec.namespace,
    labels: commonLabels(input, component),
    ownerReferences: [ownerReference(input)],
  };
}

/** Metadata of a cluster-scoped object: labelled, removed by the finalizer. */
export function clusterMeta(
  input: RenderInput,
  name: string,
  component?: string,
): KubeObject['metadata'] {
  return { name, labels: commonLabels(input, component) };
}

export function image(spec: AciFabricSpec, key: ImageKey): string {
  const override = spec.images[key];
  const repository = override?.repository ?? `${spec.images.registry}/${ImageName}`;
  return `${repository}:${override?.tag ?? spec.images.tag}`;
}

export function contentHash(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

export function pullSecrets(spec: AciFabricSpec): { name: string }[] | undefined {
  return spec.images.pullSecrets?.map((name) => ({ name }));
}
