/**
 * Names of the objects acc-provision creates, as it derives them from the
 * system id and the naming convention, shared by the render, the migration
 * and the tests. Pools and domains keep the `<systemId>-…` names under both
 * conventions; the tenant contracts and filters get the
 * `aci-containers-<systemId>-` prefix unless legacy naming is on, and the
 * API-server contract is the one whose subject and entries are renamed too.
 */
import type { ControllerConfig } from '../../../lib/config/components.ts';

export interface ProvisionNames {
  staticVlanPool: string;
  dynamicVlanPool: string;
  multicastPool: string;
  physDomain: string;
  l3outFilter: string;
  l3outContract: string;
  contract: (base: ContractBase) => string;
  filter: (base: FilterBase) => string;
  apiSubject: string;
  apiEntries: readonly [string, string];
  /** The nested-VMware port group of the node VMs. */
  portGroup: string;
}

export type ContractBase = 'dns' | 'kube-api' | 'health-check' | 'icmp';
export type FilterBase =
  | 'dns-filter'
  | 'kube-api-filter'
  | 'health-check-filter-in'
  | 'health-check-filter-out'
  | 'icmp-filter';

export function provisionNames(config: Pick<ControllerConfig, 'systemId' | 'aci'>): ProvisionNames {
  const id = config.systemId;
  const legacy = config.aci.legacyNaming;
  const prefix = `aci-containers-${id}-`;
  // acc-provision: the prefix replaces the "kube-" of kube-api (aci-containers-<id>-api).
  const prefixed = (name: string) => (legacy ? name : prefix + name.replace(/^kube-/, ''));
  return {
    staticVlanPool: `${id}-pool`,
    dynamicVlanPool: `${id}-vpool`,
    multicastPool: `${id}-mpool`,
    physDomain: `${id}-pdom`,
    l3outFilter: `${id}-allow-all-filter`,
    l3outContract: `${id}-l3out-allow-all`,
    contract: prefixed,
    filter: prefixed,
    apiSubject: legacy ? 'kube-api-subj' : 'aci-containers-api-subj',
    apiEntries: legacy ? ['kube-api', 'kube-api2'] : ['aci-containers-api', 'aci-containers-api2'],
    portGroup: id,
  };
}

export const vmmDomainDn = (domain: string) => `uni/vmmp-Kubernetes/dom-${domain}`;
export const physDomainDn = (names: ProvisionNames) => `uni/phys-${names.physDomain}`;
export const staticVlanPoolDn = (names: ProvisionNames) =>
  `uni/infra/vlanns-[${names.staticVlanPool}]-static`;
export const dynamicVlanPoolDn = (names: ProvisionNames) =>
  `uni/infra/vlanns-[${names.dynamicVlanPool}]-dynamic`;
export const multicastPoolDn = (names: ProvisionNames) =>
  `uni/infra/maddrns-${names.multicastPool}`;
export const aepDn = (aep: string) => `uni/infra/attentp-${aep}`;
/** The fabric's infra EPG, where the infra VLAN is provisioned on the AEP. */
export const infraEpgDn = 'uni/tn-infra/ap-access/epg-default';
export const opflexSettingsDn = 'uni/infra/settings';
/** acc-provision's default fabric multicast address of the VMM domain. */
export const defaultFabricMulticast = '225.1.2.3';
