/**
 * Pure arithmetic OpenFlow needs because it can only match prefixes and
 * bit masks: CIDR minus exceptions as disjoint prefixes (ipBlock.except),
 * and port ranges as value/mask pairs.
 */
export interface Prefix4 {
  /** Network address as an unsigned 32-bit number. */
  addr: number;
  len: number;
}

const ipv4Cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;

/** Dotted-quad IPv4 address or CIDR (no ipaddr.js here: this is on the compile hot path). */
export function isIPv4Cidr(cidr: string): boolean {
  const m = ipv4Cidr.exec(cidr);
  return (
    !!m &&
    m.slice(1, 5).every((o) => Number(o) <= 255) &&
    (m[5] === undefined || Number(m[5]) <= 32)
  );
}

export function parseCidr4(cidr: string): Prefix4 {
  const m = ipv4Cidr.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const raw =
    ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
  const len = m[5] === undefined ? 32 : Number(m[5]);
  return { addr: maskAddr(raw, len), len };
}

function maskAddr(addr: number, len: number): number {
  if (len === 0) return 0;
  const mask = len === 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
  return (addr & mask) >>> 0;
}

export function formatPrefix(p: Prefix4): string {
  const a = p.addr;
  const ip = [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
  return p.len === 32 ? ip : `${ip}/${p.len}`;
}

function contains(outer: Prefix4, inner: Prefix4): boolean {
  return inner.len >= outer.len && maskAddr(inner.addr, outer.len) === outer.addr;
}

/**
 * `cidr` minus every `except` prefix, as a minimal list of disjoint prefixes.
 * Splits the block in halves only where an exception lies, so the result
 * has at most 32 prefixes per exception.
 */
export function subtractCidrs(cidr: string, except: string[]): string[] {
  const base = parseCidr4(cidr);
  const holes = except.map(parseCidr4).filter((h) => contains(base, h) || contains(h, base));
  const out: Prefix4[] = [];
  const walk = (p: Prefix4): void => {
    if (holes.some((h) => contains(h, p))) return;
    if (!holes.some((h) => contains(p, h))) {
      out.push(p);
      return;
    }
    const bit = 2 ** (31 - p.len);
    walk({ addr: p.addr, len: p.len + 1 });
    walk({ addr: (p.addr + bit) >>> 0, len: p.len + 1 });
  };
  walk(base);
  return out.map(formatPrefix);
}

/** Whether `ip` (IPv4) lies in `cidr`. */
export function cidrContains(cidr: string, ip: string): boolean {
  return contains(parseCidr4(cidr), parseCidr4(`${ip}/32`));
}

/**
 * A port range as `value/mask` matches (the usual prefix decomposition):
 * 80-80 -> ["0x50"]; 80-95 -> ["0x50/0xfff0"]. Full 16-bit masks print as
 * the plain value.
 */
export function portRangeMasks(from: number, to: number): string[] {
  const out: string[] = [];
  let start = from;
  while (start <= to) {
    let size = 1;
    // Grow the block while it stays aligned and inside the range.
    while (size < 0x10000 && start % (size * 2) === 0 && start + size * 2 - 1 <= to) size *= 2;
    const mask = (0xffff & ~(size - 1)) >>> 0;
    out.push(
      mask === 0xffff
        ? `0x${start.toString(16)}`
        : `0x${start.toString(16)}/0x${mask.toString(16)}`,
    );
    start += size;
  }
  return out;
}

/** Expands the masks back into ports (tests and properties). */
export function portsOfMask(spec: string): [number, number] {
  const [v, m] = spec.split('/');
  const value = Number(v);
  const mask = m === undefined ? 0xffff : Number(m);
  return [value, value + (~mask & 0xffff)];
}
