/**
 * L3Forwarding and Output: destination IP picks the port (a local pod, the
 * uplink for every other pod-subnet address, else the gateway port to the
 * node's host stack). Local delivery rewrites the destination MAC, so routed
 * packets (sent to the gateway MAC, e.g. to a service IP) reach the pod.
 * Toward the uplink the frame is left as the pod sent it: bridged traffic
 * keeps the remote pod's MAC, routed traffic keeps the router MAC, and the
 * leaf switches or routes it (it is the pervasive gateway). It leaves
 * tagged with the source's bridge-domain VLAN.
 */
import { BridgeDomain, PktSource, Source, TargetOFPort, loadField, matchField } from '../fields.ts';
import type { LocalEndpoint, Model, Uplink } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';

export function l3ToEndpointFlow(ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'L3Forwarding',
    priority: 200,
    match: `ip,nw_dst=${ip}`,
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

/** Everything not in a pod subnet leaves through the gateway port (the node's host stack). */
export function l3ToGatewayFlow(m: Model, ofport: number): Flow {
  return {
    table: 'L3Forwarding',
    priority: 0,
    match: 'ip',
    actions: `set_field:${m.config.gateway.mac}->eth_dst,${loadField(TargetOFPort, ofport)},${goto('IngressRule')}`,
    feature: 'PodForwarding',
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
    for (const ip of ep.ipv4) flows.push(l3ToEndpointFlow(ep, ip));
    flows.push(outputToPortFlow(ep.ofport), outputHairpinFlow(ep.ofport));
  }
  if (m.gatewayOfport !== undefined) {
    flows.push(l3ToGatewayFlow(m, m.gatewayOfport), outputToPortFlow(m.gatewayOfport));
  }
  if (m.uplink) {
    for (const s of m.config.podSubnets) flows.push(l3ToUplinkFlow(m.uplink, s.cidr));
    flows.push(outputToUplinkFlow(m.uplink), uplinkNoBridgeDomainDropFlow(m.uplink));
    const { hostMac } = m.config.gateway;
    if (m.gatewayVlan !== undefined && hostMac !== undefined)
      flows.push(outputGatewayToUplinkFlow(m.uplink, hostMac));
  }
  return flows;
}
