/**
 * DNs and names of the APIC objects the controller writes, in one place
 * (the render functions and the tests share them). Names follow the
 * original: `<prefix>_svc_<namespace>_<name>`, `<prefix>_np_<namespace>_<name>`;
 * a name longer than the APIC's 64 characters keeps its head and gets a hash.
 */
import { createHash } from 'node:crypto';
import type { ControllerConfig } from '../../lib/config/components.ts';

export function apicSafeName(raw: string): string {
  const clean = raw.replace(/[^a-zA-Z0-9_.:-]/g, '_');
  if (clean.length <= 64) return clean;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 16);
  return `${clean.slice(0, 47)}_${hash}`;
}

export const tenantDn = (tenant: string) => `uni/tn-${tenant}`;

export function serviceObjectName(
  config: ControllerConfig,
  namespace: string,
  name: string,
): string {
  return apicSafeName(`${config.aci.objectPrefix}_svc_${namespace}_${name}`);
}

export function networkPolicyObjectName(
  config: ControllerConfig,
  namespace: string,
  name: string,
): string {
  return apicSafeName(`${config.aci.objectPrefix}_np_${namespace}_${name}`);
}

export function staticPolicyName(
  config: ControllerConfig,
  which: 'discovery' | 'ingress' | 'egress',
): string {
  return apicSafeName(`${config.aci.objectPrefix}_np_static-${which}`);
}

/** The IP SLA policy that probes every node's service endpoint (original: `<prefix>_monPol_kubernetes-service`). */
export function monitoringPolicyName(config: ControllerConfig): string {
  return apicSafeName(`${config.aci.objectPrefix}_monPol_kubernetes-service`);
}

/** One redirect health group per node: PBR stops sending to a node whose probe fails. */
export function healthGroupName(config: ControllerConfig, node: string): string {
  return apicSafeName(`${config.aci.objectPrefix}_svc_${node}`);
}

export function dns(config: ControllerConfig) {
  const vrfTenant = tenantDn(config.aci.vrf.tenant);
  const clusterTenant = tenantDn(config.aci.tenant);
  const device = `${vrfTenant}/lDevVip-${config.aci.deviceCluster}`;
  return {
    clusterTenant,
    vrfTenant,
    applicationProfile: `${clusterTenant}/ap-${config.aci.applicationProfile}`,
    epg: (ref: { tenant: string; applicationProfile: string; name: string }) =>
      `${tenantDn(ref.tenant)}/ap-${ref.applicationProfile}/epg-${ref.name}`,
    podBd: `${clusterTenant}/BD-${config.aci.podBridgeDomain}`,
    nodeBd: `${clusterTenant}/BD-${config.aci.nodeBridgeDomain}`,
    serviceBd: `${vrfTenant}/BD-${config.aci.serviceBridgeDomain}`,
    device,
    deviceInterface: `${device}/lIf-interface`,
    graph: `${vrfTenant}/AbsGraph-${config.aci.serviceGraphTemplate}`,
    svcCont: `${vrfTenant}/svcCont`,
    monitoringPolicy: `${vrfTenant}/ipslaMonitoringPol-${monitoringPolicyName(config)}`,
    healthGroup: (node: string) =>
      `${vrfTenant}/svcCont/redirectHealthGroup-${healthGroupName(config, node)}`,
    l3out: `${vrfTenant}/out-${config.aci.l3out.name}`,
    vmmDomain: `uni/vmmp-Kubernetes/dom-${config.aci.vmmDomain.name}`,
    physDomain: `uni/phys-${config.systemId}-pdom`,
    injectedContainer: `comp/prov-Kubernetes/ctrlr-[${config.aci.vmmDomain.name}]-${config.aci.vmmDomain.controller}/injcont`,
  };
}
