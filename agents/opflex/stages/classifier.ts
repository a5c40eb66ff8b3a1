/**
 * Classifier and SpoofGuard: where a packet came from, and whether a pod is
 * allowed to send it (its own MAC and IPs only).
 *
 * IPv6 has no ARP: neighbour discovery is ICMPv6, so the spoof guard sorts
 * it out before the generic IPv6 flow could send it on as traffic. A pod may
 * solicit (NS) from its own addresses or its link-local one (RFC 4861 NUD
 * and resolution use either), advertise (NA) only its own addresses as
 * target, and never send router advertisements or redirects (it would
 * become the other pods' router). Everything else ND from a pod is dropped,
 * including DAD probes from `::`: nothing on the node answers them, so the
 * pod's DAD succeeds as it should.
 */
import { BridgeDomain, PktSource, Source, loadField, matchField } from '../fields.ts';
import { type LocalEndpoint, type Model, type Uplink, carriesIPv6 } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';
import { tunnelIngressFlows } from './encap.ts';

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

/** IPv6 from the pod's MAC and one of its IPv6 addresses: on to conntrack like IPv4. */
export function spoofGuardIPv6Flow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'SpoofGuard',
    priority: 200,
    match: `ipv6,in_port=${ep.ofport},dl_src=${ep.mac},ipv6_src=${ip}`,
    actions: goto('UnSNAT'),
    feature: 'SpoofGuard',
  };
}

/** ICMPv6 types of neighbour discovery (RFC 4861). */
export const Icmpv6 = {
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
} as const;

/** Link-local sources (fe80::/10): ND and NUD of the pod's kernel may use its link-local address. */
export const LinkLocal = 'fe80::/10';

/** A solicitation from the pod's MAC and one of its own (or link-local) addresses goes to the responder. */
export function spoofGuardNSFlow(ep: LocalEndpoint, source: string): Flow {
  return {
    table: 'SpoofGuard',
    priority: 210,
    match: `icmp6,in_port=${ep.ofport},dl_src=${ep.mac},ipv6_src=${source},icmp_type=${Icmpv6.NeighborSolicitation},icmp_code=0`,
    actions: goto('ARPResponder'),
    feature: 'SpoofGuard',
  };
}

/** An advertisement only for an address of the pod (the target check), from its MAC. */
export function spoofGuardNAFlow(ep: LocalEndpoint, target: string): Flow {
  return {
    table: 'SpoofGuard',
    priority: 210,
    match: `icmp6,in_port=${ep.ofport},dl_src=${ep.mac},icmp_type=${Icmpv6.NeighborAdvertisement},icmp_code=0,nd_target=${target}`,
    actions: goto('ARPResponder'),
    feature: 'SpoofGuard',
  };
}

/**
 * Every other ND message of a pod (spoofed targets, router advertisements,
 * redirects, DAD from ::) is dropped, above the generic IPv6 flow that would
 * otherwise forward one sent from a valid source.
 */
export function spoofGuardPodNDDropFlows(): Flow[] {
  return [
    Icmpv6.RouterAdvertisement,
    Icmpv6.NeighborSolicitation,
    Icmpv6.NeighborAdvertisement,
    Icmpv6.Redirect,
  ].map((type) => ({
    table: 'SpoofGuard',
    priority: 205,
    match: `icmp6,${matchField(PktSource, Source.Pod)},icmp_type=${type}`,
    actions: 'drop',
    feature: 'SpoofGuard',
  }));
}

/** Anything else a pod sends (other IPs, other MACs, other protocols) is dropped. */
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

export function spoofGuardIPv6PassFlow(): Flow {
  return {
    table: 'SpoofGuard',
    priority: 50,
    match: 'ipv6',
    actions: goto('UnSNAT'),
    feature: 'SpoofGuard',
  };
}

export function classifierFlows(m: Model): Flow[] {
  const flows: Flow[] = [];
  for (const ep of m.endpoints) {
    flows.push(podClassifierFlow(ep));
    for (const ip of ep.ipv4) flows.push(spoofGuardIPFlow(ep, ip), spoofGuardARPFlow(ep, ip));
    for (const ip of ep.ipv6)
      flows.push(spoofGuardIPv6Flow(ep, ip), spoofGuardNSFlow(ep, ip), spoofGuardNAFlow(ep, ip));
    if (ep.ipv6.length > 0) flows.push(spoofGuardNSFlow(ep, LinkLocal));
  }
  if (m.gatewayOfport !== undefined)
    flows.push(gatewayClassifierFlow(m.gatewayOfport, m.uplink ? m.gatewayVlan : undefined));
  if (m.uplink?.encap === 'vxlan') flows.push(...tunnelIngressFlows(m, m.uplink));
  else if (m.uplink) {
    for (const vlan of new Set(m.endpoints.map((ep) => ep.vlan)))
      flows.push(uplinkVlanClassifierFlow(m.uplink, vlan));
    flows.push(uplinkDropFlow(m.uplink));
  }
  flows.push(spoofGuardPodDropFlow(), ...spoofGuardPassFlows());
  if (carriesIPv6(m)) flows.push(...spoofGuardPodNDDropFlows(), spoofGuardIPv6PassFlow());
  return flows;
}
