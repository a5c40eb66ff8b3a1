/**
 * Address math for the IPAM core. Addresses are handled as bigints so that
 * IPv4 and IPv6 share one code path and a /64 chunk is as cheap as a /28.
 * ipaddr.js does the parsing and printing; nothing here does I/O.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

/** One CIDR of the pool, as an inclusive range of addresses. */
export interface Range {
  readonly family: Family;
  readonly cidr: string;
  readonly prefix: number;
  readonly first: bigint;
  readonly last: bigint;
}

const familyBits = (family: Family): number => (family === 4 ? 32 : 128);

function bytesToBigInt(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigIntToBytes(value: bigint, length: number): number[] {
  const out = new Array<number>(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function familyOf(addr: ipaddr.IPv4 | ipaddr.IPv6): Family {
  return addr.kind() === 'ipv4' ? 4 : 6;
}

/** Parses an address (not a CIDR); IPv4-mapped IPv6 stays IPv6. Throws on garbage. */
export function parseAddress(text: string): { family: Family; value: bigint } {
  if (!ipaddr.isValid(text)) throw new Error(`invalid IP address ${JSON.stringify(text)}`);
  const addr = ipaddr.parse(text);
  return { family: familyOf(addr), value: bytesToBigInt(addr.toByteArray()) };
}

/** Canonical text: dotted quad for IPv4, RFC 5952 for IPv6, so equal addresses compare equal as strings. */
export function formatAddress(family: Family, value: bigint): string {
  const addr = ipaddr.fromByteArray(bigIntToBytes(value, family === 4 ? 4 : 16));
  return addr instanceof ipaddr.IPv6 ? addr.toRFC5952String() : addr.toString();
}

export function canonicalAddress(text: string): string {
  const { family, value } = parseAddress(text);
  return formatAddress(family, value);
}

export function isAddress(text: string): boolean {
  return ipaddr.isValid(text) && !text.includes('/');
}

/** Parses a CIDR; host bits are cleared so `10.0.0.5/24` names the range 10.0.0.0–10.0.0.255. */
export function parseRange(cidr: string): Range {
  if (!ipaddr.isValidCIDR(cidr)) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  const [addr, prefix] = ipaddr.parseCIDR(cidr);
  const family = familyOf(addr);
  const bits = familyBits(family);
  const hostBits = BigInt(bits - prefix);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << hostBits) - 1n);
  const first = bytesToBigInt(addr.toByteArray()) & mask;
  const last = first | ((1n << hostBits) - 1n);
  return { family, prefix, first, last, cidr: `${formatAddress(family, first)}/${prefix}` };
}

export function isCidr(text: string): boolean {
  return ipaddr.isValidCIDR(text);
}

export function rangeSize(range: Range): bigint {
  return range.last - range.first + 1n;
}

export function rangeContains(range: Range, family: Family, value: bigint): boolean {
  return range.family === family && value >= range.first && value <= range.last;
}

/** The addresses of a subnet a pod must never get: network and (IPv4) broadcast address. */
export function subnetEdgeAddresses(cidr: string): string[] {
  const r = parseRange(cidr);
  // A /31, /32 (or /127, /128) has no network or broadcast address to protect.
  if (r.last - r.first < 3n) return [];
  const edges = [formatAddress(r.family, r.first)];
  if (r.family === 4) edges.push(formatAddress(r.family, r.last));
  return edges;
}
