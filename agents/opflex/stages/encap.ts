/**
 * VXLAN encapsulation toward the leaf (the uplink's `encap: vxlan`): the
 * uplink is the integration bridge's tunnel port to the leaf's anycast VTEP
 * (remote_ip fixed, key=flow), so the only per-packet encapsulation is the
 * VNI. As in the original's IntFlowManager, a frame's bridge domain (here
 * the BridgeDomain register, the node-local id the rest of the pipeline
 * uses) is mapped to the VNI on the way out and back on the way in. The VNIs
 * are inputs (`bridgeDomainVnis`), never computed here.
 *
 * BUM from the leaf arrives on the bridge domain's multicast group, which
 * this node joined; the leaf sends it to every member, so a flood this node
 * sent comes back to it. Such a frame carries a local endpoint's source MAC
 * and is dropped on entry (split horizon), as a VLAN switch never returns a
 * frame to its ingress port.
 */
import { BridgeDomain, PktSource, Source, TargetOFPort, loadField, matchField } from '../fields.ts';
import type { Model, Uplink } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Frames of one VNI from the leaf join that bridge domain. */
export function tunnelClassifierFlow(uplink: Uplink, vni: number, bridgeDomain: number): Flow {
  return {
    table: 'Classifier',
    priority: 210,
    match: `in_port=${uplink.ofport},tun_id=${hex(vni)}`,
    actions: `${loadField(BridgeDomain, bridgeDomain)},${loadField(PktSource, Source.Fabric)},${goto('SpoofGuard')}`,
    feature: 'Fabric',
  };
}

/** This node's own flood, back from the bridge domain's multicast group. */
export function tunnelOwnSourceDropFlow(uplink: Uplink, mac: string): Flow {
  return {
    table: 'Classifier',
    priority: 220,
    match: `in_port=${uplink.ofport},dl_src=${mac}`,
    actions: 'drop',
    feature: 'Fabric',
  };
}

/** Other VNIs have no receiver here (said here, not left to the table miss). */
export function tunnelDropFlow(uplink: Uplink): Flow {
  return {
    table: 'Classifier',
    priority: 200,
    match: `in_port=${uplink.ofport}`,
    actions: 'drop',
    feature: 'Fabric',
  };
}

/** Toward the leaf a frame carries its bridge domain's VNI. */
export function outputToTunnelFlow(uplink: Uplink, bridgeDomain: number, vni: number): Flow {
  return {
    table: 'Output',
    priority: 200,
    match: `${matchField(TargetOFPort, uplink.ofport)},${matchField(BridgeDomain, bridgeDomain)}`,
    actions: `set_field:${hex(vni)}->tun_id,output:${uplink.ofport}`,
    feature: 'Fabric',
  };
}

/** The host stack's frames leave with the node's own MAC (the router MAC is the leaf's). */
export function outputGatewayToTunnelFlow(
  uplink: Uplink,
  bridgeDomain: number,
  vni: number,
  hostMac: string,
): Flow {
  return {
    table: 'Output',
    priority: 205,
    match: `${matchField(PktSource, Source.Gateway)},${matchField(TargetOFPort, uplink.ofport)},${matchField(BridgeDomain, bridgeDomain)}`,
    actions: `set_field:${hostMac}->eth_src,set_field:${hex(vni)}->tun_id,output:${uplink.ofport}`,
    feature: 'Fabric',
  };
}

/** A bridge domain without a VNI does not leave the node: dropped, never sent with VNI 0. */
export function tunnelNoVniDropFlow(uplink: Uplink): Flow {
  return {
    table: 'Output',
    priority: 190,
    match: matchField(TargetOFPort, uplink.ofport),
    actions: 'drop',
    feature: 'Fabric',
  };
}

/** Classifier flows of a vxlan uplink. */
export function tunnelIngressFlows(m: Model, uplink: Uplink): Flow[] {
  const flows: Flow[] = [tunnelDropFlow(uplink)];
  const byVni = new Map<number, number>();
  for (const ep of m.endpoints) if (ep.vni !== undefined) byVni.set(ep.vni, ep.vlan);
  // The host stack's replies from other nodes' pods, even with no local pod in its domain.
  if (m.gatewayVni !== undefined && m.gatewayVlan !== undefined)
    byVni.set(m.gatewayVni, m.gatewayVlan);
  for (const [vni, bd] of byVni) flows.push(tunnelClassifierFlow(uplink, vni, bd));
  const own = new Set(m.endpoints.map((ep) => ep.mac));
  if (m.config.gateway.hostMac !== undefined) own.add(m.config.gateway.hostMac);
  for (const mac of [...own].sort()) flows.push(tunnelOwnSourceDropFlow(uplink, mac));
  return flows;
}

/** Output flows of a vxlan uplink. */
export function tunnelEgressFlows(m: Model, uplink: Uplink): Flow[] {
  const flows: Flow[] = [tunnelNoVniDropFlow(uplink)];
  const byBridgeDomain = new Map<number, number>();
  for (const ep of m.endpoints) if (ep.vni !== undefined) byBridgeDomain.set(ep.vlan, ep.vni);
  for (const [bd, vni] of byBridgeDomain) flows.push(outputToTunnelFlow(uplink, bd, vni));
  const { hostMac } = m.config.gateway;
  if (m.gatewayVlan !== undefined && m.gatewayVni !== undefined && hostMac !== undefined)
    flows.push(outputGatewayToTunnelFlow(uplink, m.gatewayVlan, m.gatewayVni, hostMac));
  return flows;
}
