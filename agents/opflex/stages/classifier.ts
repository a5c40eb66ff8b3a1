/**
 * Classifier and SpoofGuard: where a packet came from, and whether a pod is
 * allowed to send it (its own MAC and IPs only).
 */
import { BridgeDomain, PktSource, Source, loadField, matchField } from '../fields.ts';
import type { LocalEndpoint, Model, Uplink } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';

export function podClassifierFlow(ep: LocalEndpoint): Flow {
  return {
    table: 'Classifier',
    priority: 200,
    match: `in_port=${ep.ofport}`,
    actions: `${loadField(PktSource, Source.Pod)},${loadField(BridgeDomain, ep.vlan)},${goto('SpoofGuard')}`,
    feature: 'PodForwarding',
  };
}

/** The node's host stack; in its bridge domain (if any), so that its traffic to other nodes' pods has an encap VLAN. */
export function gatewayClassifierFlow(ofport: number, vlan?: number): Flow {
  const bd = vlan !== undefined ? `${loadField(BridgeDomain, vlan)},` : '';
  return {
    table: 'Classifier',
    priority: 200,
    match: `in_port=${ofport}`,
    actions: `${loadField(PktSource, Source.Gateway)},${bd}${goto('SpoofGuard')}`,
    feature: 'PodForwarding',
  };
}

/**
 * Frames from the leaf carry their bridge domain's encap VLAN: the VLAN
 * becomes the BridgeDomain register and the tag goes. One flow per bridge
 * domain with local endpoints: a frame of any other VLAN has no receiver here.
 */
export function uplinkVlanClassifierFlow(uplink: Uplink, vlan: number): Flow {
  return {
    table: 'Classifier',
    priority: 210,
    match: `in_port=${uplink.ofport},dl_vlan=${vlan}`,
    actions: `pop_vlan,${loadField(BridgeDomain, vlan)},${loadField(PktSource, Source.Fabric)},${goto('SpoofGuard')}`,
    feature: 'Fabric',
  };
}

/** Untagged frames and other VLANs from the uplink: dropped (said here, not left to the table miss). */
export function uplinkDropFlow(uplink: Uplink): Flow {
  return {
    table: 'Classifier',
    priority: 200,
    match: `in_port=${uplink.ofport}`,
    actions: 'drop',
    feature: 'Fabric',
  };
}

export function spoofGuardIPFlow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'SpoofGuard',
    priority: 200,
    match: `ip,in_port=${ep.ofport},dl_src=${ep.mac},nw_src=${ip}`,
    actions: goto('UnSNAT'),
    feature: 'SpoofGuard',
  };
}

export function spoofGuardARPFlow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'SpoofGuard',
    priority: 200,
    match: `arp,in_port=${ep.ofport},dl_src=${ep.mac},arp_spa=${ip},arp_sha=${ep.mac}`,
    actions: goto('ARPResponder'),
    feature: 'SpoofGuard',
  };
}

/** Anything else a pod sends (other IPs, other MACs, IPv6) is dropped. */
export function spoofGuardPodDropFlow(): Flow {
  return {
    table: 'SpoofGuard',
    priority: 100,
    match: matchField(PktSource, Source.Pod),
    actions: 'drop',
    feature: 'SpoofGuard',
  };
}

/** Gateway and fabric traffic is not spoof-checked (the fabric's leaf does that). */
export function spoofGuardPassFlows(): Flow[] {
  return [
    {
      table: 'SpoofGuard',
      priority: 50,
      match: 'ip',
      actions: goto('UnSNAT'),
      feature: 'SpoofGuard',
    },
    {
      table: 'SpoofGuard',
      priority: 50,
      match: 'arp',
      actions: goto('ARPResponder'),
      feature: 'SpoofGuard',
    },
  ];
}

export function classifierFlows(m: Model): Flow[] {
  const flows: Flow[] = [];
  for (const ep of m.endpoints) {
    flows.push(podClassifierFlow(ep));
    for (const ip of ep.ipv4) flows.push(spoofGuardIPFlow(ep, ip), spoofGuardARPFlow(ep, ip));
  }
  if (m.gatewayOfport !== undefined)
    flows.push(gatewayClassifierFlow(m.gatewayOfport, m.uplink ? m.gatewayVlan : undefined));
  if (m.uplink) {
    for (const vlan of new Set(m.endpoints.map((ep) => ep.vlan)))
      flows.push(uplinkVlanClassifierFlow(m.uplink, vlan));
    flows.push(uplinkDropFlow(m.uplink));
  }
  flows.push(spoofGuardPodDropFlow(), ...spoofGuardPassFlows());
  return flows;
}
