import test from 'ava';
import fc from 'fast-check';
import {
  familyBits,
  formatHostOrCidr,
  prefixOf,
  prefixSize,
  requireCidr,
  type Family,
  type Prefix,
} from './cidr.ts';
import { ipBlockContains, mergePrefixes, subtractCidrs, subtractPrefixes } from './prefix-set.ts';

const cases: [string, string[], string[]][] = [
  ['10.0.0.0/24', [], ['10.0.0.0/24']],
  ['10.0.0.0/24', ['10.0.0.0/25'], ['10.0.0.128/25']],
  ['10.0.0.0/30', ['10.0.0.1/32'], ['10.0.0.0/32', '10.0.0.2/31']],
  ['10.0.0.0/24', ['10.0.0.0/16'], []],
  ['10.0.0.0/24', ['10.1.0.0/24'], ['10.0.0.0/24']],
  ['0.0.0.0/0', ['128.0.0.0/1'], ['0.0.0.0/1']],
  [
    '10.0.0.0/16',
    ['10.0.1.0/24', '10.0.1.128/25'],
    [
      '10.0.0.0/24',
      '10.0.2.0/23',
      '10.0.4.0/22',
      '10.0.8.0/21',
      '10.0.16.0/20',
      '10.0.32.0/19',
      '10.0.64.0/18',
      '10.0.128.0/17',
    ],
  ],
  ['10.0.0.5/30', ['fd00::/8'], ['10.0.0.4/30']],
  ['fd00::/126', ['fd00::1/128'], ['fd00::/128', 'fd00::2/127']],
  ['::/0', ['::/1'], ['8000::/1']],
];
for (const [cidr, except, expected] of cases) {
  test(`${cidr} except [${except.join(', ')}]`, (t) =>
    t.deepEqual(subtractCidrs(cidr, except), expected));
}

test('a host prefix prints bare for match fields; garbage throws', (t) => {
  t.deepEqual(subtractCidrs('10.0.0.0/30', ['10.0.0.1/32'], formatHostOrCidr), [
    '10.0.0.0',
    '10.0.0.2/31',
  ]);
  t.throws(() => subtractCidrs('10.0.0.0/33', []));
  t.throws(() => subtractCidrs('10.0.0.0/24', ['10.0.0']));
  t.deepEqual(subtractCidrs('10.0.0.0/31', ['10.0.0.0']), ['10.0.0.1/32']);
});

test('an IPv6 /0 minus one address is 128 prefixes, computed without walking the space', (t) => {
  const out = subtractPrefixes(requireCidr('::/0'), [requireCidr('fd00::1/128')]);
  t.is(out.length, 128);
  t.is(
    out.reduce((n, p) => n + prefixSize(p), 0n),
    (1n << 128n) - 1n,
  );
});

test('ipBlock membership: inside the cidr and in no except, per family', (t) => {
  const block = { cidr: '10.0.0.0/16', except: ['10.0.1.0/24', 'fd00::/8'] };
  t.true(ipBlockContains(block, '10.0.0.7'));
  t.false(ipBlockContains(block, '10.0.1.7'));
  t.false(ipBlockContains(block, '10.1.0.7'));
  t.false(ipBlockContains(block, 'fd00::7'));
  t.true(ipBlockContains({ cidr: 'fd00::/8' }, 'fd00::7'));
});

// Properties over a small space (a /20 of each family, 4096 addresses), where
// the reference can afford to look at every address.
const spaces: Record<Family, Prefix> = {
  4: requireCidr('10.20.0.0/20'),
  6: requireCidr('fd00:20::/116'),
};
const spaceBits = 12;
const addressesOf = (family: Family): bigint[] =>
  Array.from({ length: 1 << spaceBits }, (_, i) => spaces[family].network + BigInt(i));
const naiveIn = (p: Prefix, family: Family, v: bigint) =>
  p.family === family &&
  v >> BigInt(familyBits(family) - p.length) === p.network >> BigInt(familyBits(family) - p.length);

const prefixIn = (family: Family) =>
  fc
    .tuple(fc.nat((1 << spaceBits) - 1), fc.integer({ min: 0, max: spaceBits }))
    .map(([offset, hostBits]) =>
      prefixOf(family, spaces[family].network + BigInt(offset), familyBits(family) - hostBits),
    );
const anyPrefix = fc.oneof(prefixIn(4), prefixIn(6));

/** Every prefix is maximal: its parent is not wholly in the set. */
function maximal(out: readonly Prefix[], inSet: (family: Family, v: bigint) => boolean): boolean {
  return out.every((p) => {
    if (p.length === 0) return true;
    const parent = prefixOf(p.family, p.network, p.length - 1);
    for (let v = parent.network; v < parent.network + prefixSize(parent); v++)
      if (!inSet(p.family, v)) return true;
    return false;
  });
}

const ascending = (out: readonly Prefix[]) =>
  out.every((p, i) => {
    const prev = out[i - 1];
    return (
      !prev ||
      prev.family < p.family ||
      (prev.family === p.family && prev.network + prefixSize(prev) <= p.network)
    );
  });

test('property: subtract covers exactly base minus holes, with disjoint maximal prefixes', (t) => {
  fc.assert(
    fc.property(
      fc
        .constantFrom<Family>(4, 6)
        .chain((f) => fc.tuple(prefixIn(f), fc.array(anyPrefix, { maxLength: 5 }))),
      ([base, holes]) => {
        const out = subtractPrefixes(base, holes);
        const inSet = (family: Family, v: bigint) =>
          naiveIn(base, family, v) && !holes.some((h) => naiveIn(h, family, v));
        const exact = addressesOf(base.family).every(
          (v) => inSet(base.family, v) === out.some((p) => naiveIn(p, base.family, v)),
        );
        return exact && ascending(out) && maximal(out, inSet);
      },
    ),
  );
  t.pass();
});

test('property: merge covers exactly the union, with disjoint maximal prefixes, IPv4 first', (t) => {
  fc.assert(
    fc.property(fc.array(anyPrefix, { maxLength: 8 }), (prefixes) => {
      const out = mergePrefixes(prefixes);
      const inSet = (family: Family, v: bigint) => prefixes.some((p) => naiveIn(p, family, v));
      const exact = ([4, 6] as const).every((family) =>
        addressesOf(family).every(
          (v) => inSet(family, v) === out.some((p) => naiveIn(p, family, v)),
        ),
      );
      return exact && ascending(out) && maximal(out, inSet);
    }),
  );
  t.pass();
});

test('property: subtracting then adding the holes back is the base merged with the holes', (t) => {
  fc.assert(
    fc.property(prefixIn(4), fc.array(prefixIn(4), { maxLength: 4 }), (base, holes) => {
      const a = mergePrefixes([...subtractPrefixes(base, holes), ...holes]);
      const b = mergePrefixes([base, ...holes]);
      return (
        JSON.stringify(a, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ===
        JSON.stringify(b, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
      );
    }),
  );
  t.pass();
});
