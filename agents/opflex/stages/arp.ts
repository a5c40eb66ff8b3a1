/**
 * ARP: the agent answers for the gateway and for local pods (proxy ARP for
 * known endpoints, as opflex does), so local traffic never floods. Requests
 * for anything else, and every broadcast arriving from the fabric, go to the
 * Flood table the mcast daemon fills; unicast ARP follows the MAC (local) or
 * the target subnet (remote).
 */
import { NDReply, PktSource, Source, TargetOFPort, loadField, matchField } from '../fields.ts';
import {
  type LocalEndpoint,
  type Model,
  type Uplink,
  gatewayIPs,
  carriesIPv6,
  gatewayIPv6s,
  ipv4Subnets,
} from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';
import { Icmpv6 } from './classifier.ts';

/**
 * Turns the request into a reply from `mac` and `ip` (or, for proxy ARP,
 * the address asked for: swapped through the stack) and sends it back where
 * it came from.
 */
function arpReplyActions(mac: string, ip: string | 'asked'): string {
  const addresses =
    ip === 'asked'
      ? ['push:NXM_OF_ARP_TPA[]', 'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]', 'pop:NXM_OF_ARP_SPA[]']
      : ['move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]', `set_field:${ip}->arp_spa`];
  return [
    'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
    `set_field:${mac}->eth_src`,
    'load:0x2->NXM_OF_ARP_OP[]',
    'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
    `set_field:${mac}->arp_sha`,
    ...addresses,
    'IN_PORT',
  ].join(',');
}

/** NA flags (RFC 4861 4.4), in the 32 bits OVS calls nd_reserved: Router, Solicited, Override. */
const NAFlags = { Router: 0x80000000, Solicited: 0x40000000, Override: 0x20000000 } as const;
/** ND option type of the target link-layer address, which replaces the solicitation's source one. */
const TargetLinkLayerOption = 2;

/**
 * Turns a neighbour solicitation into the advertisement of `ip` at `mac`,
 * addressed to the soliciting address (never the solicited-node group it
 * was sent to), from `ip`, with the target link-layer option in place of
 * the source one (same length, so the packet keeps its size; OVS fixes the
 * ICMPv6 checksum). Two passes: OVS sets nd_tll only on a packet matched
 * as an advertisement, so NDReply marks it for `ndReplyFlow`, which writes
 * the address and sends it back.
 */
function neighborAdvertActions(mac: string, ip: string, router: boolean): string {
  const flags = NAFlags.Solicited | NAFlags.Override | (router ? NAFlags.Router : 0);
  return [
    'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
    `set_field:${mac}->eth_src`,
    'move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[]',
    `set_field:${ip}->ipv6_src`,
    `set_field:${Icmpv6.NeighborAdvertisement}->icmpv6_type`,
    `set_field:0x${(flags >>> 0).toString(16)}->nd_reserved`,
    `set_field:${TargetLinkLayerOption}->nd_options_type`,
    loadField(NDReply, 1),
    goto('ARPForwarding'),
  ].join(',');
}

/** The second pass of every advertisement the responder makes: its link-layer address is its source MAC. */
export function ndReplyFlow(): Flow {
  return {
    table: 'ARPForwarding',
    priority: 220,
    match: `icmp6,icmp_type=${Icmpv6.NeighborAdvertisement},icmp_code=0,${matchField(NDReply, 1)}`,
    actions: 'move:NXM_OF_ETH_SRC[]->NXM_NX_ND_TLL[],IN_PORT',
    feature: 'Arp',
  };
}

const solicitation = (target: string): string =>
  `icmp6,icmp_type=${Icmpv6.NeighborSolicitation},icmp_code=0,nd_target=${target}`;

/** The gateway answers neighbour solicitations for its IPv6 address as it answers ARP: with the router MAC. */
export function gatewayNDResponderFlow(m: Model, ip: string): Flow {
  return {
    table: 'ARPResponder',
    priority: 200,
    match: `${solicitation(ip)},${matchField(PktSource, Source.Pod)}`,
    actions: neighborAdvertActions(m.config.gateway.mac, ip, true),
    feature: 'Arp',
  };
}

/** A local pod's IPv6 address is answered for, as its IPv4 one is by proxy ARP: solicitations never flood. */
export function endpointNDResponderFlow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'ARPResponder',
    priority: 190,
    match: `${solicitation(ip)},${matchField(PktSource, Source.Pod)}`,
    actions: neighborAdvertActions(ep.mac, ip, false),
    feature: 'Arp',
  };
}

/** A pod's advertisement (its target checked by the spoof guard) goes to the local MAC it answers. */
export function naToEndpointFlow(ep: LocalEndpoint): Flow {
  return {
    table: 'ARPForwarding',
    priority: 200,
    match: `icmp6,icmp_type=${Icmpv6.NeighborAdvertisement},dl_dst=${ep.mac}`,
    actions: `${loadField(TargetOFPort, ep.ofport)},${goto('Output')}`,
    feature: 'Arp',
  };
}

/** The pervasive gateway answers on every node: each pod subnet's gateway IP, with the router MAC. */
export function gatewayARPResponderFlow(m: Model, ip: string): Flow {
  const { mac } = m.config.gateway;
  return {
    table: 'ARPResponder',
    priority: 200,
    match: `arp,${matchField(PktSource, Source.Pod)},arp_op=1,arp_tpa=${ip}`,
    actions: arpReplyActions(mac, ip),
    feature: 'Arp',
  };
}

/** Only for requests from this node: fabric broadcasts must reach the pod itself. */
export function endpointARPResponderFlows(ep: LocalEndpoint, ip: string): Flow[] {
  return [Source.Pod, Source.Gateway].map((src) => ({
    table: 'ARPResponder',
    priority: 190,
    match: `arp,${matchField(PktSource, src)},arp_op=1,arp_tpa=${ip}`,
    actions: arpReplyActions(ep.mac, ip),
    feature: 'Arp',
  }));
}

/**
 * The host stack's ARP for a pod of another node: answered with the router
 * MAC, so it sends to the leaf's SVI, which routes it to the pod (proxy ARP;
 * a flooded request would make the host's router-MAC source known to the leaf
 * on this node's port).
 */
export function gatewayProxyARPFlow(m: Model, subnet: string): Flow {
  return {
    table: 'ARPResponder',
    priority: 180,
    match: `arp,${matchField(PktSource, Source.Gateway)},arp_op=1,arp_tpa=${subnet}`,
    actions: arpReplyActions(m.config.gateway.mac, 'asked'),
    feature: 'Fabric',
  };
}

export function arpBroadcastFlow(): Flow {
  return {
    table: 'ARPForwarding',
    priority: 210,
    match: 'arp,dl_dst=ff:ff:ff:ff:ff:ff',
    actions: goto('Flood'),
    feature: 'Arp',
  };
}

export function arpToEndpointFlow(ep: LocalEndpoint): Flow {
  return {
    table: 'ARPForwarding',
    priority: 200,
    match: `arp,dl_dst=${ep.mac}`,
    actions: `${loadField(TargetOFPort, ep.ofport)},${goto('Output')}`,
    feature: 'Arp',
  };
}

export function arpToGatewayFlow(m: Model, ofport: number): Flow {
  return {
    table: 'ARPForwarding',
    priority: 200,
    match: `arp,dl_dst=${m.config.gateway.mac}`,
    actions: `${loadField(TargetOFPort, ofport)},${goto('Output')}`,
    feature: 'Arp',
  };
}

/** ARP for a pod subnet address that is not local: the leaf floods or forwards it in the bridge domain. */
export function arpToUplinkFlow(uplink: Uplink, subnet: string): Flow {
  return {
    table: 'ARPForwarding',
    priority: 190,
    match: `arp,arp_tpa=${subnet}`,
    actions: `${loadField(TargetOFPort, uplink.ofport)},${goto('Output')}`,
    feature: 'Fabric',
  };
}

/**
 * A pod's reply to an ARP request of the gateway IP came from the leaf's
 * SVI (the node's host stack never asks from that address): it goes back
 * to the leaf, not to the gateway port, although both use the router MAC.
 */
export function arpReplyToLeafFlow(m: Model, uplink: Uplink, gatewayIP: string): Flow {
  return {
    table: 'ARPForwarding',
    priority: 205,
    match: `arp,arp_op=2,dl_dst=${m.config.gateway.mac},arp_tpa=${gatewayIP}`,
    actions: `${loadField(TargetOFPort, uplink.ofport)},${goto('Output')}`,
    feature: 'Fabric',
  };
}

export function arpFlows(m: Model): Flow[] {
  const flows: Flow[] = [
    {
      table: 'ARPResponder',
      priority: 0,
      match: '',
      actions: goto('ARPForwarding'),
      feature: 'Arp',
    },
    ...gatewayIPs(m.config).map((ip) => gatewayARPResponderFlow(m, ip)),
    ...gatewayIPv6s(m.config).map((ip) => gatewayNDResponderFlow(m, ip)),
    arpBroadcastFlow(),
  ];
  if (carriesIPv6(m)) flows.push(ndReplyFlow());
  for (const ep of m.endpoints) {
    for (const ip of ep.ipv4) flows.push(...endpointARPResponderFlows(ep, ip));
    for (const ip of ep.ipv6) flows.push(endpointNDResponderFlow(ep, ip));
    flows.push(arpToEndpointFlow(ep));
    if (ep.ipv6.length > 0) flows.push(naToEndpointFlow(ep));
  }
  if (m.gatewayOfport !== undefined) flows.push(arpToGatewayFlow(m, m.gatewayOfport));
  if (m.uplink && m.gatewayVlan !== undefined)
    for (const s of ipv4Subnets(m.config)) flows.push(gatewayProxyARPFlow(m, s.cidr));
  if (m.uplink) {
    for (const s of ipv4Subnets(m.config)) flows.push(arpToUplinkFlow(m.uplink, s.cidr));
    for (const ip of gatewayIPs(m.config)) flows.push(arpReplyToLeafFlow(m, m.uplink, ip));
  }
  return flows;
}
