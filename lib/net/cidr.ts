/**
 * IP and CIDR arithmetic with the same acceptance rules as the API server's
 * CEL `isIP` / `isCIDR` (Go's net/netip): dotted-quad IPv4 without leading
 * zeros, IPv6 without zones, host bits allowed in a CIDR ("10.2.0.1/16" is
 * the gateway form acc-provision uses). Keeping the verdicts identical is what
 * lets zod and the CRD's CEL rules agree on every input.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The address as written (may have host bits set). */
  address: bigint;
  /** The network address (host bits cleared). */
  network: bigint;
  length: number;
}

const ipv4Part = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const ipv4Pattern = new RegExp(`^${ipv4Part}(\\.${ipv4Part}){3}$`);

export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  if (ipv4Pattern.test(text)) {
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (!text.includes(':') || text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined;
  const parts = ipaddr.IPv6.parse(text).parts;
  return { family: 6, value: parts.reduce((acc, part) => (acc << 16n) | BigInt(part), 0n) };
}

export function isIpAddress(text: string): boolean {
  return parseIp(text) !== undefined;
}

export function parseCidr(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  const bits = familyBits(ip.family);
  if (length > bits) return undefined;
  const hostMask = (1n << BigInt(bits - length)) - 1n;
  return { family: ip.family, address: ip.value, network: ip.value & ~hostMask, length };
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

/** Number of addresses in the prefix. */
export function prefixSize(prefix: Prefix): bigint {
  return 1n << BigInt(familyBits(prefix.family) - prefix.length);
}

export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  const hostMask = (1n << BigInt(familyBits(outer.family) - outer.length)) - 1n;
  return (inner.network & ~hostMask) === outer.network;
}

/** Two CIDRs overlap exactly when one contains the other. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function containsAddress(prefix: Prefix, family: Family, value: bigint): boolean {
  if (prefix.family !== family) return false;
  const hostMask = (1n << BigInt(familyBits(family) - prefix.length)) - 1n;
  return (value & ~hostMask) === prefix.network;
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const parts: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number((value >> shift) & 0xffffn));
  return ipaddr.fromByteArray(parts.flatMap((p) => [p >> 8, p & 0xff])).toString();
}

export function formatCidr(family: Family, network: bigint, length: number): string {
  return `${formatIp(family, network)}/${length}`;
}
