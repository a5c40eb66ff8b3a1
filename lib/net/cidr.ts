/**
 * The one address library: IPv4 and IPv6 addresses and prefixes as bigints,
 * so both families share every code path and an IPv6 /64 costs what an IPv4
 * /28 does. Sets of prefixes (subtract, merge) are in prefix-set.ts.
 *
 * Acceptance follows the API server's CEL `isIP` / `isCIDR` (Go's
 * net/netip): dotted-quad IPv4 without leading zeros, IPv6 without zones,
 * host bits allowed in a CIDR ("10.2.0.1/16" is the gateway form
 * acc-provision uses). Keeping the verdicts identical is what lets zod and
 * the CRD's CEL rules agree on every input, and what lets every component
 * read what another wrote.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Ip {
  readonly family: Family;
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  /** The address as written (may have host bits set: a gateway). */
  readonly address: bigint;
  /** The network address (host bits cleared), the prefix's first address. */
  readonly network: bigint;
  readonly length: number;
}

// ipaddr.js alone would take "010.1.1.1" or "10.1" as IPv4 (inet_aton forms) where netip refuses them.
const ipv4Part = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const ipv4Pattern = new RegExp(`^${ipv4Part}(\\.${ipv4Part}){3}$`);

export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function hostMask(family: Family, length: number): bigint {
  return (1n << BigInt(familyBits(family) - length)) - 1n;
}

export function parseIp(text: string): Ip | undefined {
  if (ipv4Pattern.test(text)) {
    // No ipaddr.js for IPv4: the policy compilers parse addresses on their hot path.
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (!text.includes(':') || text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined;
  const parts = ipaddr.IPv6.parse(text).parts;
  return { family: 6, value: parts.reduce((acc, part) => (acc << 16n) | BigInt(part), 0n) };
}

/** parseIp for input that was validated before (a schema, a state file): garbage is a bug, so it throws. */
export function requireIp(text: string): Ip {
  const ip = parseIp(text);
  if (!ip) throw new Error(`invalid IP address ${JSON.stringify(text)}`);
  return ip;
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
  if (length > familyBits(ip.family)) return undefined;
  return prefixOf(ip.family, ip.value, length);
}

export function requireCidr(text: string): Prefix {
  const prefix = parseCidr(text);
  if (!prefix) throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
  return prefix;
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

/** A CIDR, or a bare address as its host prefix (/32, /128): match fields and policy peers take both. */
export function parseAddressOrCidr(text: string): Prefix | undefined {
  if (text.includes('/')) return parseCidr(text);
  const ip = parseIp(text);
  return ip ? prefixOf(ip.family, ip.value, familyBits(ip.family)) : undefined;
}

/** Family of an address or CIDR; undefined for anything else. */
export function ipFamily(text: string): Family | undefined {
  return parseAddressOrCidr(text)?.family;
}

/** The prefix of `length` bits around `address` (host bits kept as written). */
export function prefixOf(family: Family, address: bigint, length: number): Prefix {
  return { family, address, network: address & ~hostMask(family, length), length };
}

/** Number of addresses in the prefix. */
export function prefixSize(prefix: Prefix): bigint {
  return hostMask(prefix.family, prefix.length) + 1n;
}

export function prefixLast(prefix: Prefix): bigint {
  return prefix.network | hostMask(prefix.family, prefix.length);
}

export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  return (inner.network & ~hostMask(outer.family, outer.length)) === outer.network;
}

/** Two CIDRs overlap exactly when one contains the other. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function containsAddress(prefix: Prefix, ip: Ip): boolean {
  if (prefix.family !== ip.family) return false;
  return (ip.value & ~hostMask(ip.family, prefix.length)) === prefix.network;
}

/** Whether address `ip` lies in `cidr` (a CIDR or a bare address); false for another family or garbage. */
export function cidrContains(cidr: string, ip: string): boolean {
  const prefix = parseAddressOrCidr(cidr);
  const address = parseIp(ip);
  return !!prefix && !!address && containsAddress(prefix, address);
}

/** Canonical text: dotted quad for IPv4, RFC 5952 for IPv6, so equal addresses compare equal as strings. */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const bytes: number[] = [];
  for (let shift = 120n; shift >= 0n; shift -= 8n) bytes.push(Number((value >> shift) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export function canonicalIp(text: string): string {
  const ip = requireIp(text);
  return formatIp(ip.family, ip.value);
}

/** Network form, `10.2.0.0/16`: one text per prefix, whatever host bits it was written with. */
export function formatCidr(prefix: Prefix): string {
  return `${formatIp(prefix.family, prefix.network)}/${prefix.length}`;
}

/** The host prefix of an address, `10.2.0.7/32` or `fd00::7/128`: a policy peer or subnet of one. */
export function hostCidr(ip: string): string {
  const { family, value } = requireIp(ip);
  return formatCidr(prefixOf(family, value, familyBits(family)));
}

/** A host prefix as its bare address, any other as formatCidr (how OpenFlow prints match fields). */
export function formatHostOrCidr(prefix: Prefix): string {
  return prefix.length === familyBits(prefix.family)
    ? formatIp(prefix.family, prefix.network)
    : formatCidr(prefix);
}

/**
 * The subnet's gateway: the address it was written with (10.2.0.1/16), or
 * network + 1 when written as a network (10.2.0.0/16), as acc-provision
 * and the APIC's fvSubnet both mean it.
 */
export function gatewayOf(prefix: Prefix): Ip {
  const value = prefix.address !== prefix.network ? prefix.address : prefix.network + 1n;
  return { family: prefix.family, value };
}

/** Gateway/prefix form, `10.2.0.1/16`. */
export function formatGatewayCidr(prefix: Prefix): string {
  return `${formatIp(prefix.family, gatewayOf(prefix).value)}/${prefix.length}`;
}

/**
 * Addresses of the subnet no host may have: the network address and, in
 * IPv4, the broadcast address. A prefix of fewer than four addresses has
 * neither (point-to-point /31 and /127, RFC 3021 and RFC 6164).
 */
export function subnetEdges(prefix: Prefix): bigint[] {
  if (prefixSize(prefix) < 4n) return [];
  return prefix.family === 4 ? [prefix.network, prefixLast(prefix)] : [prefix.network];
}

/** First and last address a host may have (subnetEdges excluded). */
export function hostRange(prefix: Prefix): { first: bigint; last: bigint } {
  const edges = subnetEdges(prefix).length > 0;
  return {
    first: prefix.network + (edges ? 1n : 0n),
    last: prefixLast(prefix) - (edges && prefix.family === 4 ? 1n : 0n),
  };
}
