/**
 * The leaf's bridge domains as the cluster defines them, until the leaf is
 * driven by the APIC simulator's tree: the pod bridge domain (named as the
 * controller names it on the APIC), its encapsulation (the host agent's own
 * functions: the hash into the VMM domain's VLAN pool, or the VNI and the
 * group in the multicast range) and the IPv4 pod subnets; with VXLAN also
 * the leaf's anycast VTEP on the infra VLAN.
 */
import type { AciFabricSpec } from '../../crds/index.ts';
import { aciNames } from '../../lib/config/naming.ts';
import {
  AciInfraDefaults,
  bridgeDomainEncapVlan,
  bridgeDomainGroup,
  bridgeDomainVni,
} from '../../agents/host/node-agents.ts';
import { bridgeDomainVlan } from '../../agents/opflex/model.ts';
import type { LeafBridgeDomain, LeafVxlan } from './leaf.ts';

type FabricSpec = Pick<AciFabricSpec, 'systemId' | 'aci' | 'network'>;

export function bridgeDomainsOfFabric(spec: FabricSpec): LeafBridgeDomain[] {
  const name = aciNames(spec).podBridgeDomain;
  const subnets = spec.network.podSubnets.filter((s) => !s.includes(':'));
  const domain = spec.aci.vmmDomain;
  if (domain.encapType === 'vxlan')
    return [
      {
        name,
        vlan: bridgeDomainVlan(name, {}),
        subnets,
        vni: bridgeDomainVni(name),
        group: bridgeDomainGroup(name, domain.multicastRange),
      },
    ];
  const pool = domain.vlanPool;
  if (!pool) throw new Error('vlan encap needs spec.aci.vmmDomain.vlanPool');
  return [{ name, vlan: bridgeDomainEncapVlan(name, pool), subnets }];
}

/** The leaf's VTEP for a VXLAN fabric: the anycast address in the TEP pool, on the infra VLAN. */
export function vxlanOfFabric(spec: FabricSpec): LeafVxlan | undefined {
  if (spec.aci.vmmDomain.encapType !== 'vxlan') return undefined;
  const [, length] = AciInfraDefaults.tepSubnet.split('/');
  return {
    anycastVtep: `${AciInfraDefaults.anycastVtep}/${length}`,
    infraVlan: spec.network.infraVlan,
    udpPort: AciInfraDefaults.udpPort,
  };
}
