/**
 * Named registers, marks and conntrack zones of the pipeline. Bit ranges are
 * written once here; stage modules use `loadField` / `matchField` so a
 * change of layout is one edit.
 *
 *   reg0[0..3]    PktSource       1 pod, 2 gateway, 3 fabric link
 *   reg0[4]       NDReply         an advertisement the responder made from a solicitation
 *   reg1[0..31]   TargetOFPort    output port chosen by L3Forwarding / ARP
 *   reg2[0..11]   BridgeDomain    VLAN id of the packet's bridge domain
 *   reg3[0..31]   EndpointIP      service backend chosen (IPv4)
 *   reg4[0..15]   EndpointPort    service backend port chosen
 *   reg4[16..17]  Affinity        1 not selected, 2 selected (learned), 3 to learn
 *   reg6[0..31]   SrcClass        class id of the source EPG (0: not classified)
 *   reg7[0..31]   DstClass        class id of the destination EPG (0: not classified)
 *   xxreg2        EndpointIPv6    service backend chosen (IPv6, 128 bits = reg8..reg11)
 *   ct_mark 0x1   ServiceCTMark   connection was DNATed to a service backend
 *   zone 0xfff0   CtZone          the main zone (tracking + DNAT)
 *   zone 0xfff1   SnatCtZone      hairpin SNAT
 */
import ipaddr from 'ipaddr.js';

export interface RegField {
  reg: number;
  start: number;
  end: number;
}

export const PktSource: RegField = { reg: 0, start: 0, end: 3 };
export const NDReply: RegField = { reg: 0, start: 4, end: 4 };
export const TargetOFPort: RegField = { reg: 1, start: 0, end: 31 };
export const BridgeDomain: RegField = { reg: 2, start: 0, end: 11 };
export const EndpointIP: RegField = { reg: 3, start: 0, end: 31 };
export const EndpointPort: RegField = { reg: 4, start: 0, end: 15 };
export const Affinity: RegField = { reg: 4, start: 16, end: 17 };

/** The 128-bit register an IPv6 backend is loaded into (reg3 holds only 32 bits). */
export const EndpointIPv6 = 'xxreg2';

/** An IPv6 address as the 128-bit hex value set_field and matches take. */
export function ipv6ToHex(ip: string): string {
  return `0x${ipaddr
    .parse(ip)
    .toByteArray()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')}`;
}

export const SrcClass: RegField = { reg: 6, start: 0, end: 31 };
export const DstClass: RegField = { reg: 7, start: 0, end: 31 };

export const Source = { Pod: 1, Gateway: 2, Fabric: 3 } as const;
export const AffinityState = { NotSelected: 1, Selected: 2, ToLearn: 3 } as const;

export const ServiceCTMark = 0x1;
export const CtZone = 0xfff0;
export const SnatCtZone = 0xfff1;

/** Source address of hairpin service traffic (a pod reaching itself through a service). */
export const DefaultHairpinIP = '169.254.169.252';

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

export function nxmName(f: RegField): string {
  return `NXM_NX_REG${f.reg}[${f.start}..${f.end}]`;
}

export function loadField(f: RegField, value: number): string {
  return `load:${hex(value)}->${nxmName(f)}`;
}

/** `regN=value/mask` with the value shifted into the field's bits. */
export function matchField(f: RegField, value: number): string {
  const width = f.end - f.start + 1;
  const mask = ((1n << BigInt(width)) - 1n) << BigInt(f.start);
  const v = BigInt(value) << BigInt(f.start);
  return width === 32 ? `reg${f.reg}=${hex(v)}` : `reg${f.reg}=${hex(v)}/${hex(mask)}`;
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
