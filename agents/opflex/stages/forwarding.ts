/**
 * L3Forwarding and Output: destination IP picks the port (a local pod, the
 * gateway port for this node's own addresses, the uplink for everything
 * else when the node has one, else the gateway port to the host stack). Local delivery rewrites the destination MAC, so routed
 * packets (sent to the gateway MAC, e.g. to a service IP) reach the pod.
 * Toward the uplink the frame is left as the pod sent it: bridged traffic
 * keeps the remote pod's MAC, routed traffic keeps the router MAC, and the
 * leaf switches or routes it (it is the pervasive gateway). With VLAN
 * encap it leaves tagged with the source's bridge-domain VLAN; with VXLAN
 * encap it leaves through the tunnel port with the domain's VNI (encap.ts).
 */
import { BridgeDomain, PktSource, Source, TargetOFPort, loadField, matchField } from '../fields.ts';
import { type LocalEndpoint, type Model, type Uplink, ipv4Subnets } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';
import { tunnelEgressFlows } from './encap.ts';

export function l3ToEndpointFlow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'L3Forwarding',
    priority: 200,
    match: ip.includes(':') ? `ipv6,ipv6_dst=${ip}` : `ip,nw_dst=${ip}`,
    actions: `set_field:${ep.mac}->eth_dst,${loadField(TargetOFPort, ep.ofport)},${goto('IngressRule')}`,
    feature: 'PodForwarding',
  };
}

export function l3ToUplinkFlow(uplink: Uplink, subnet: string): Flow {
  return {
    table: 'L3Forwarding',
    priority: 190,
    match: `ip,nw_dst=${subnet}`,
    actions: `${loadField(TargetOFPort, uplink.ofport)},${goto('IngressRule')}`,
    feature: 'Fabric',
  };
}

/**
 * Without a fabric, everything not in a pod subnet leaves through the
 * gateway port (the node's host stack); with one, only the node's own
 * addresses do (`l3ToNodeFlow`).
 */
export function l3ToGatewayFlow(m: Model, ofport: number): Flow {
  return {
    table: 'L3Forwarding',
    priority: 0,
    match: 'ip',
    actions: `set_field:${m.config.gateway.mac}->eth_dst,${loadField(TargetOFPort, ofport)},${goto('IngressRule')}`,
    feature: 'PodForwarding',
  };
}

/** This node's own addresses (kubelet, host-network pods) are its host stack's, behind the gateway port. */
export function l3ToNodeFlow(m: Model, ip: string, ofport: number): Flow {
  return {
    table: 'L3Forwarding',
    priority: 195,
    match: `ip,nw_dst=${ip}`,
    actions: `set_field:${m.config.gateway.mac}->eth_dst,${loadField(TargetOFPort, ofport)},${goto('IngressRule')}`,
    feature: 'PodForwarding',
  };
}

/**
 * With a fabric the leaf is the pods' default gateway, as in ACI: what is
 * neither a pod nor this node (other nodes, the API server, the world) is
 * routed by the leaf, so replies come back the same way. Through the host
 * stack they would come back past it, and its conntrack (kube-proxy's
 * `--ctstate INVALID -j DROP`) drops replies whose request it never saw.
 */
export function l3DefaultToUplinkFlow(m: Model, uplink: Uplink): Flow {
  return {
    table: 'L3Forwarding',
    priority: 0,
    match: 'ip',
    actions: `set_field:${m.config.gateway.mac}->eth_dst,${loadField(TargetOFPort, uplink.ofport)},${goto('IngressRule')}`,
    feature: 'Fabric',
  };
}

export function outputToPortFlow(ofport: number): Flow {
  return {
    table: 'Output',
    priority: 200,
    match: matchField(TargetOFPort, ofport),
    actions: `output:${ofport}`,
    feature: 'PodForwarding',
  };
}

/** OpenFlow drops output to the ingress port unless it is IN_PORT: needed for hairpin service traffic. */
export function outputHairpinFlow(ofport: number): Flow {
  return {
    table: 'Output',
    priority: 210,
    match: `in_port=${ofport},${matchField(TargetOFPort, ofport)}`,
    actions: 'IN_PORT',
    feature: 'Service',
  };
}

/** Toward the leaf every frame carries its bridge domain's encap VLAN. */
export function outputToUplinkFlow(uplink: Uplink): Flow {
  return {
    table: 'Output',
    priority: 200,
    match: matchField(TargetOFPort, uplink.ofport),
    actions: `push_vlan:0x8100,move:NXM_NX_REG2[0..11]->NXM_OF_VLAN_TCI[0..11],output:${uplink.ofport}`,
    feature: 'Fabric',
  };
}

/**
 * The host stack's frames (to other nodes' pods, routed by the leaf) leave
 * with the node's own MAC: their source is the gateway port's router MAC,
 * which the leaf owns and must not learn on this node's port.
 */
export function outputGatewayToUplinkFlow(uplink: Uplink, hostMac: string): Flow {
  return {
    table: 'Output',
    priority: 205,
    match: `${matchField(PktSource, Source.Gateway)},${matchField(TargetOFPort, uplink.ofport)}`,
    actions: `set_field:${hostMac}->eth_src,push_vlan:0x8100,move:NXM_NX_REG2[0..11]->NXM_OF_VLAN_TCI[0..11],output:${uplink.ofport}`,
    feature: 'Fabric',
  };
}

/**
 * Without a bridge domain (gateway.bridgeDomain unset) the host stack has
 * no encap VLAN to reach the leaf with: dropped rather than sent untagged,
 * which the leaf would drop anyway. (In ACI the node reaches remote pods
 * through its own node-network uplink and the leaf's routing.)
 */
export function uplinkNoBridgeDomainDropFlow(uplink: Uplink): Flow {
  return {
    table: 'Output',
    priority: 210,
    match: `${matchField(TargetOFPort, uplink.ofport)},${matchField(BridgeDomain, 0)}`,
    actions: 'drop',
    feature: 'Fabric',
  };
}

export function forwardingFlows(m: Model): Flow[] {
  const flows: Flow[] = [];
  for (const ep of m.endpoints) {
    // IPv6 reaches local pods only: no IPv6 default route (gateway port, uplink) yet.
    for (const ip of [...ep.ipv4, ...ep.ipv6]) flows.push(l3ToEndpointFlow(ep, ip));
    flows.push(outputToPortFlow(ep.ofport), outputHairpinFlow(ep.ofport));
  }
  if (m.gatewayOfport !== undefined) {
    flows.push(outputToPortFlow(m.gatewayOfport));
    if (!m.uplink) flows.push(l3ToGatewayFlow(m, m.gatewayOfport));
    else for (const ip of m.config.nodeIPs) flows.push(l3ToNodeFlow(m, ip, m.gatewayOfport));
  }
  if (m.uplink) {
    flows.push(l3DefaultToUplinkFlow(m, m.uplink));
    for (const s of ipv4Subnets(m.config)) flows.push(l3ToUplinkFlow(m.uplink, s.cidr));
    if (m.uplink.encap === 'vxlan') flows.push(...tunnelEgressFlows(m, m.uplink));
    else {
      flows.push(outputToUplinkFlow(m.uplink), uplinkNoBridgeDomainDropFlow(m.uplink));
      const { hostMac } = m.config.gateway;
      if (m.gatewayVlan !== undefined && hostMac !== undefined)
        flows.push(outputGatewayToUplinkFlow(m.uplink, hostMac));
    }
  }
  return flows;
}
