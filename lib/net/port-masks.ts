/**
 * OpenFlow matches transport ports only by value and bit mask, so a
 * NetworkPolicy or contract port range becomes the masks that cover it.
 */

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
