/**
 * BUM replication (pure). Per bridge domain with local endpoints:
 *   flood group      local ports of the domain + the uplink, tagged with the
 *                    domain's encap VLAN: the leaf floods it to every other
 *                    node's port in that VLAN (VLAN encap needs no
 *                    membership on the node's side)
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
  vlan: number;
  localPorts: number[];
  /** ofport of the uplink toward the leaf, once OVSDB reports it. */
  uplinkOfport?: number;
}

export const floodGroupId = (vlan: number): number => FloodGroupBase + vlan * 2;
export const floodLocalGroupId = (vlan: number): number => FloodGroupBase + vlan * 2 + 1;

/** 239.255.<vlan hi>.<vlan lo>: administratively scoped, one per domain (the GIPo of VXLAN encap). */
export function bridgeDomainGroup(vlan: number): string {
  return `239.255.${vlan >> 8}.${vlan & 255}`;
}

export function mcastCanaryFlow(): Flow {
  return { table: 'Flood', priority: 0, match: '', actions: 'drop', feature: 'Canary' };
}

export function floodGroup(bd: BridgeDomainState): Group {
  const local = bd.localPorts.map((p) => `bucket=actions=output:${p}`);
  const remote =
    bd.uplinkOfport === undefined
      ? []
      : [
          `bucket=actions=push_vlan:0x8100,set_field:${0x1000 | bd.vlan}->vlan_vid,output:${bd.uplinkOfport}`,
        ];
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
