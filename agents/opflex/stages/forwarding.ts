/**
 * L3Forwarding and Output: destination IP picks the port (local pod, the
 * gateway, or the fabric link owning the remote subnet). Local delivery
 * rewrites the destination MAC, so routed packets (sent to the gateway MAC,
 * e.g. to a service IP) reach the pod. Fabric traffic leaves tagged with its
 * bridge domain's VLAN.
 */
import { BridgeDomain, TargetOFPort, loadField, matchField } from '../fields.ts';
import type { FabricLink, LocalEndpoint, Model } from '../model.ts';
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

export function l3ToFabricFlow(link: FabricLink, subnet: string): Flow {
  return {
    table: 'L3Forwarding',
    priority: 190,
    match: `ip,nw_dst=${subnet}`,
    actions: `${loadField(TargetOFPort, link.ofport)},${goto('IngressRule')}`,
    feature: 'Fabric',
  };
}

/** Everything not local and not behind the fabric leaves through the gateway (the node's host stack). */
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

export function outputToFabricFlows(link: FabricLink): Flow[] {
  return [
    {
      table: 'Output',
      priority: 200,
      match: matchField(TargetOFPort, link.ofport),
      actions: `push_vlan:0x8100,move:NXM_NX_REG2[0..11]->NXM_OF_VLAN_TCI[0..11],output:${link.ofport}`,
      feature: 'Fabric',
    },
    // No bridge domain (gateway traffic): untagged.
    {
      table: 'Output',
      priority: 210,
      match: `${matchField(TargetOFPort, link.ofport)},${matchField(BridgeDomain, 0)}`,
      actions: `output:${link.ofport}`,
      feature: 'Fabric',
    },
  ];
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
  for (const link of m.links) {
    for (const s of link.subnets) flows.push(l3ToFabricFlow(link, s));
    flows.push(...outputToFabricFlows(link));
  }
  return flows;
}
