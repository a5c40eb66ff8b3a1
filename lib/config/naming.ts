/**
 * Names of the APIC objects a cluster uses, following acc-provision's
 * convention: everything prefixed `aci-containers-<systemId>` (5.x), or the
 * short legacy names (`kube-default`, `kube-pod-bd`, application profile
 * `kubernetes`) with `legacyNaming`, so an existing fabric keeps its objects.
 */
import type { AciFabricSpec } from '../../crds/index.ts';

export interface AciNames {
  tenant: string;
  applicationProfile: string;
  defaultEndpointGroup: string;
  systemEndpointGroup: string;
  nodesEndpointGroup: string;
  podBridgeDomain: string;
  nodeBridgeDomain: string;
  serviceBridgeDomain: string;
  vmmDomain: string;
  vmmController: string;
  deviceCluster: string;
  serviceGraphTemplate: string;
  /** Prefix of every object the controller owns (and its ownership tag). */
  objectPrefix: string;
}

export function aciNames(spec: Pick<AciFabricSpec, 'systemId' | 'aci'>): AciNames {
  const id = spec.systemId;
  const tenant = spec.aci.tenant.name ?? id;
  const vmmDomain = spec.aci.vmmDomain.name ?? id;
  if (spec.aci.legacyNaming) {
    return {
      tenant,
      applicationProfile: 'kubernetes',
      defaultEndpointGroup: 'kube-default',
      systemEndpointGroup: 'kube-system',
      nodesEndpointGroup: 'kube-nodes',
      podBridgeDomain: 'kube-pod-bd',
      nodeBridgeDomain: 'kube-node-bd',
      serviceBridgeDomain: `${id}_bd_kubernetes-service`,
      vmmDomain,
      vmmController: id,
      deviceCluster: `${id}_svc_global`,
      serviceGraphTemplate: `${id}_svc_global`,
      objectPrefix: id,
    };
  }
  const prefix = `aci-containers-${id}`;
  return {
    tenant,
    applicationProfile: prefix,
    defaultEndpointGroup: 'aci-containers-default',
    systemEndpointGroup: 'aci-containers-system',
    nodesEndpointGroup: 'aci-containers-nodes',
    podBridgeDomain: `${prefix}-pod-bd`,
    nodeBridgeDomain: `${prefix}-node-bd`,
    serviceBridgeDomain: `${id}_bd_kubernetes-service`,
    vmmDomain,
    vmmController: id,
    deviceCluster: `${id}_svc_global`,
    serviceGraphTemplate: `${id}_svc_global`,
    objectPrefix: prefix,
  };
}

/**
 * The controller's IPAM ledger (a ConfigMap in the component namespace): the
 * controller commits every allocation to it, and the operator grants exactly
 * this name.
 */
export const IpamLedgerName = 'aci-containers-ipam';
