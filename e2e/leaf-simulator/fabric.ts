/**
 * The leaf's bridge domains as the cluster defines them, until the leaf is
 * driven by the APIC simulator's tree: the pod bridge domain (named as the
 * controller names it on the APIC), its encap VLAN (the same hash into the
 * VMM domain's VLAN pool the host agent uses) and the IPv4 pod subnets.
 */
import type { AciFabricSpec } from '../../crds/index.ts';
import { aciNames } from '../../lib/config/naming.ts';
import { bridgeDomainEncapVlan } from '../../agents/host/node-agents.ts';
import type { LeafBridgeDomain } from './leaf.ts';

export function bridgeDomainsOfFabric(
  spec: Pick<AciFabricSpec, 'systemId' | 'aci' | 'network'>,
): LeafBridgeDomain[] {
  const pool = spec.aci.vmmDomain.vlanPool;
  if (spec.aci.vmmDomain.encapType !== 'vlan' || !pool)
    throw new Error('the leaf simulator does VLAN encap only: set encapType vlan and a vlanPool');
  const name = aciNames(spec).podBridgeDomain;
  return [
    {
      name,
      vlan: bridgeDomainEncapVlan(name, pool),
      subnets: spec.network.podSubnets.filter((s) => !s.includes(':')),
    },
  ];
}
