/**
 * CIDR minus CIDRs (pure), for NetworkPolicy ipBlock `except`: the APIC's
 * hostprotRemoteIp takes plain prefixes, so `10.0.0.0/16 except 10.0.1.0/24`
 * becomes the minimal list of prefixes covering the difference.
 */
import {
  familyBits,
  formatCidr,
  parseCidr,
  prefixContains,
  prefixesOverlap,
  type Prefix,
} from '../../../lib/net/cidr.ts';

function halves(p: Prefix): [Prefix, Prefix] {
  const length = p.length + 1;
  const bit = 1n << BigInt(familyBits(p.family) - length);
  const low = { family: p.family, address: p.network, network: p.network, length };
  const high = { family: p.family, address: p.network | bit, network: p.network | bit, length };
  return [low, high];
}

export function subtractCidrs(block: string, excepts: readonly string[]): string[] {
  const base = parseCidr(block);
  if (!base) return [];
  const holes = excepts
    .map((e) => parseCidr(e))
    .filter((e): e is Prefix => !!e && e.family === base.family);
  const out: string[] = [];
  const visit = (p: Prefix) => {
    if (holes.some((h) => prefixContains(h, p))) return;
    if (!holes.some((h) => prefixesOverlap(h, p))) {
      out.push(formatCidr(p.family, p.network, p.length));
      return;
    }
    for (const half of halves(p)) visit(half);
  };
  visit({ ...base, address: base.network });
  return out;
}
