/**
 * Sets of addresses as lists of prefixes. The APIC's hostprotRemoteIp and
 * OpenFlow's nw_src/ipv6_src both match prefixes only, so a NetworkPolicy
 * `ipBlock` with `except` has to become the prefixes of the difference.
 *
 * Every result is the set's unique minimal cover: its maximal prefixes,
 * disjoint and ascending. It is computed on address intervals (sorted,
 * merged, then cut back into aligned blocks), so the cost grows with the
 * number of prefixes and never with the size of the space (an IPv6 /0
 * minus a /128 is 128 prefixes, not 2^128 steps).
 */
import {
  cidrContains,
  familyBits,
  formatCidr,
  parseAddressOrCidr,
  prefixLast,
  prefixOf,
  type Family,
  type Prefix,
} from './cidr.ts';

function requirePrefix(text: string): Prefix {
  const prefix = parseAddressOrCidr(text);
  if (!prefix) throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
  return prefix;
}

interface Interval {
  first: bigint;
  last: bigint;
}

function intervalOf(p: Prefix): Interval {
  return { first: p.network, last: prefixLast(p) };
}

/** Sorted, with overlapping and adjacent intervals joined. */
function joined(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) =>
    a.first < b.first ? -1 : a.first > b.first ? 1 : 0,
  );
  const out: Interval[] = [];
  for (const i of sorted) {
    const top = out[out.length - 1];
    if (top && i.first <= top.last + 1n) {
      if (i.last > top.last) top.last = i.last;
    } else out.push({ ...i });
  }
  return out;
}

/** The maximal aligned blocks of one interval, ascending. */
function blocksOf(family: Family, { first, last }: Interval): Prefix[] {
  const bits = familyBits(family);
  const out: Prefix[] = [];
  let at = first;
  while (at <= last) {
    // The largest block starting at `at` is bounded by its alignment (lowest set bit) and by `last`.
    let size = at === 0n ? 1n << BigInt(bits) : at & -at;
    while (at + size - 1n > last) size >>= 1n;
    out.push(prefixOf(family, at, bits - (size.toString(2).length - 1)));
    at += size;
  }
  return out;
}

function byFamily(prefixes: readonly Prefix[]): Map<Family, Prefix[]> {
  const out = new Map<Family, Prefix[]>();
  for (const p of prefixes) out.set(p.family, [...(out.get(p.family) ?? []), p]);
  return out;
}

/** The union of the prefixes as its minimal cover, IPv4 before IPv6. */
export function mergePrefixes(prefixes: readonly Prefix[]): Prefix[] {
  const families = byFamily(prefixes);
  return ([4, 6] as const).flatMap((family) =>
    joined((families.get(family) ?? []).map(intervalOf)).flatMap((i) => blocksOf(family, i)),
  );
}

/** `base` minus every hole, as its minimal cover; holes of the other family take nothing away. */
export function subtractPrefixes(base: Prefix, holes: readonly Prefix[]): Prefix[] {
  const whole = intervalOf(base);
  const gaps = joined(holes.filter((h) => h.family === base.family).map(intervalOf));
  const out: Prefix[] = [];
  let at = whole.first;
  for (const gap of gaps) {
    if (gap.last < at || gap.first > whole.last) continue;
    if (gap.first > at) out.push(...blocksOf(base.family, { first: at, last: gap.first - 1n }));
    at = gap.last + 1n;
  }
  if (at <= whole.last) out.push(...blocksOf(base.family, { first: at, last: whole.last }));
  return out;
}

/**
 * NetworkPolicy `ipBlock` arithmetic on text: `block` minus `excepts`
 * (CIDRs, or bare addresses as host prefixes). The API server validated
 * both, so text that is neither is a bug and throws.
 * `format` prints each prefix (formatCidr, or formatHostOrCidr for match fields).
 */
export function subtractCidrs(
  block: string,
  excepts: readonly string[],
  format: (p: Prefix) => string = formatCidr,
): string[] {
  return subtractPrefixes(requirePrefix(block), excepts.map(requirePrefix)).map(format);
}

/** Whether address `ip` is in a NetworkPolicy ipBlock: inside `cidr` and in none of `except`. */
export function ipBlockContains(
  block: { readonly cidr: string; readonly except?: readonly string[] | undefined },
  ip: string,
): boolean {
  return cidrContains(block.cidr, ip) && !(block.except ?? []).some((e) => cidrContains(e, ip));
}
