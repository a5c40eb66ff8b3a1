/**
 * ARP: the agent answers for the gateway and for local pods (proxy ARP for
 * known endpoints, as opflex does), so local traffic never floods. Requests
 * for anything else, and every broadcast arriving from the fabric, go to the
 * Flood table the mcast daemon fills; unicast ARP follows the MAC (local) or
 * the target subnet (remote).
 */
import { PktSource, Source, TargetOFPort, loadField, matchField } from '../fields.ts';
import { type LocalEndpoint, type Model, type Uplink, gatewayIPs } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';

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
    arpBroadcastFlow(),
  ];
  for (const ep of m.endpoints) {
    for (const ip of ep.ipv4) flows.push(...endpointARPResponderFlows(ep, ip));
    flows.push(arpToEndpointFlow(ep));
  }
  if (m.gatewayOfport !== undefined) flows.push(arpToGatewayFlow(m, m.gatewayOfport));
  if (m.uplink && m.gatewayVlan !== undefined)
    for (const s of m.config.podSubnets) flows.push(gatewayProxyARPFlow(m, s.cidr));
  if (m.uplink) {
    for (const s of m.config.podSubnets) flows.push(arpToUplinkFlow(m.uplink, s.cidr));
    for (const ip of gatewayIPs(m.config)) flows.push(arpReplyToLeafFlow(m, m.uplink, ip));
  }
  return flows;
}
