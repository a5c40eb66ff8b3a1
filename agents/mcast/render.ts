/**
 * BUM replication (pure). Per bridge domain with local endpoints:
 *   flood group      local ports of the domain + the uplink, tagged with the
 *                    domain's encap VLAN (the leaf floods it to every other
 *                    node's port in that VLAN) or, with VXLAN, carrying its
 *                    VNI to the leaf's anycast VTEP (the leaf sends it to the
 *                    domain's multicast group, which the daemon joined)
 *   flood-local      local ports only: for broadcasts that came from the
 *                    leaf (split horizon: never send them back out)
 * and the Flood-table flows choosing between them by packet source.
 * OpenFlow skips a bucket's output to the ingress port, so the sender
 * never gets its own broadcast back.
 */
import { BridgeDomain, PktSource, Source, matchField } from '../opflex/fields.ts';
import { type Flow, FloodGroupBase, type Group } from '../opflex/pipeline.ts';

export interface BridgeDomainState {
  name: string;
  /** The node-local bridge-domain id (BridgeDomain register): the encap VLAN with vlan encap. */
  vlan: number;
  localPorts: number[];
  /** ofport of the uplink toward the leaf, once OVSDB reports it. */
  uplinkOfport?: number;
  /** vxlan uplink: the domain's VNI (without one the flood stays on the node). */
  vni?: number;
  encap?: 'vlan' | 'vxlan';
}

export const floodGroupId = (vlan: number): number => FloodGroupBase + vlan * 2;
export const floodLocalGroupId = (vlan: number): number => FloodGroupBase + vlan * 2 + 1;

export function mcastCanaryFlow(): Flow {
  return { table: 'Flood', priority: 0, match: '', actions: 'drop', feature: 'Canary' };
}

export function floodGroup(bd: BridgeDomainState): Group {
  const local = bd.localPorts.map((p) => `bucket=actions=output:${p}`);
  const remote: string[] = [];
  if (bd.uplinkOfport !== undefined && bd.encap === 'vxlan') {
    // To the leaf's anycast VTEP with the domain's VNI; the leaf replicates to the domain's group.
    if (bd.vni !== undefined)
      remote.push(
        `bucket=actions=set_field:0x${bd.vni.toString(16)}->tun_id,output:${bd.uplinkOfport}`,
      );
  } else if (bd.uplinkOfport !== undefined)
    remote.push(
      `bucket=actions=push_vlan:0x8100,set_field:${0x1000 | bd.vlan}->vlan_vid,output:${bd.uplinkOfport}`,
    );
  return { id: floodGroupId(bd.vlan), spec: ['type=all', ...local, ...remote].join(',') };
}

export function floodLocalGroup(bd: BridgeDomainState): Group {
  return {
    id: floodLocalGroupId(bd.vlan),
    spec: ['type=all', ...bd.localPorts.map((p) => `bucket=actions=output:${p}`)].join(','),
  };
}

export function floodFromPodFlow(bd: BridgeDomainState): Flow {
  return {
    table: 'Flood',
    priority: 200,
    match: `${matchField(PktSource, Source.Pod)},${matchField(BridgeDomain, bd.vlan)}`,
    actions: `group:${floodGroupId(bd.vlan)}`,
    feature: 'Flood',
  };
}

export function floodFromFabricFlow(bd: BridgeDomainState): Flow {
  return {
    table: 'Flood',
    priority: 200,
    match: `${matchField(PktSource, Source.Fabric)},${matchField(BridgeDomain, bd.vlan)}`,
    actions: `group:${floodLocalGroupId(bd.vlan)}`,
    feature: 'Flood',
  };
}

export function renderFlood(domains: BridgeDomainState[]): { flows: Flow[]; groups: Group[] } {
  const flows: Flow[] = [mcastCanaryFlow()];
  const groups: Group[] = [];
  for (const bd of [...domains].sort((a, b) => a.vlan - b.vlan)) {
    groups.push(floodGroup(bd), floodLocalGroup(bd));
    flows.push(floodFromPodFlow(bd), floodFromFabricFlow(bd));
  }
  return { flows, groups };
}
