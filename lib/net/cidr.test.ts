import test from 'ava';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  canonicalIp,
  cidrContains,
  containsAddress,
  familyBits,
  formatCidr,
  formatGatewayCidr,
  formatHostOrCidr,
  hostCidr,
  formatIp,
  hostRange,
  ipFamily,
  parseAddressOrCidr,
  parseCidr,
  parseIp,
  prefixContains,
  prefixOf,
  prefixesOverlap,
  prefixSize,
  requireCidr,
  subnetEdges,
  type Family,
} from './cidr.ts';

// The reference: an address's bits as text, compared character by character.
const bitsOf = (family: Family, value: bigint): string =>
  value.toString(2).padStart(familyBits(family), '0');
const naiveIn = (cidr: { family: Family; address: bigint; length: number }, value: bigint) =>
  bitsOf(cidr.family, value).slice(0, cidr.length) ===
  bitsOf(cidr.family, cidr.address).slice(0, cidr.length);

const familyArb = fc.constantFrom<Family>(4, 6);
const valueArb = (family: Family) =>
  fc.bigInt({ min: 0n, max: (1n << BigInt(familyBits(family))) - 1n });
const ipArb = familyArb.chain((family) => valueArb(family).map((value) => ({ family, value })));
const prefixArb = familyArb.chain((family) =>
  fc
    .tuple(valueArb(family), fc.integer({ min: 0, max: familyBits(family) }))
    .map(([address, length]) => prefixOf(family, address, length)),
);

test('accepts what Go net/netip accepts and refuses the rest', (t) => {
  for (const good of ['10.0.0.1', '0.0.0.0', '255.255.255.255', '::', 'fd00::1', '::ffff:1.2.3.4'])
    t.truthy(parseIp(good), good);
  for (const bad of [
    '010.0.0.1',
    '10.1',
    '1.2.3.4.5',
    '256.0.0.1',
    'fe80::1%eth0',
    '',
    ' 10.0.0.1',
    '0x0a.0.0.1',
  ])
    t.is(parseIp(bad), undefined, bad);
  t.deepEqual(parseCidr('10.2.0.1/16'), {
    family: 4,
    address: 0x0a020001n,
    network: 0x0a020000n,
    length: 16,
  });
  for (const bad of ['10.0.0.0/33', '10.0.0.0/08', '10.0.0.0', '10.0.0.0/', 'fd00::/129', '::/-1'])
    t.is(parseCidr(bad), undefined, bad);
  t.throws(() => requireCidr('10.0.0.0/33'), { message: 'invalid CIDR "10.0.0.0/33"' });
});

test('text is canonical: dotted quad and RFC 5952', (t) => {
  t.is(canonicalIp('FD00:0:0::0:1'), 'fd00::1');
  t.is(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  t.is(formatCidr(requireCidr('10.2.3.4/16')), '10.2.0.0/16');
  t.is(formatCidr(requireCidr('fd00:2::5/64')), 'fd00:2::/64');
  t.is(hostCidr('10.2.0.7'), '10.2.0.7/32');
  t.is(hostCidr('FD00:0::7'), 'fd00::7/128');
  t.throws(() => hostCidr('10.2.0.7/32'));
  t.is(formatHostOrCidr(requireCidr('10.0.0.1/32')), '10.0.0.1');
  t.is(formatHostOrCidr(requireCidr('fd00::1/128')), 'fd00::1');
  t.is(formatHostOrCidr(requireCidr('10.0.0.0/31')), '10.0.0.0/31');
  t.throws(() => canonicalIp('10.1'));
});

test('property: formatIp and parseIp are inverse, and agree with ipaddr.js', (t) => {
  fc.assert(
    fc.property(ipArb, ({ family, value }) => {
      const text = formatIp(family, value);
      const back = parseIp(text);
      const bytes = [...Array(family === 4 ? 4 : 16).keys()]
        .reverse()
        .map((i) => Number((value >> BigInt(8 * i)) & 0xffn));
      return (
        back?.family === family &&
        back.value === value &&
        ipaddr.fromByteArray(bytes).toString() === text
      );
    }),
  );
  t.pass();
});

test('property: containment agrees with comparing the leading bits', (t) => {
  fc.assert(
    fc.property(prefixArb, ipArb, (prefix, ip) => {
      const expected = prefix.family === ip.family && naiveIn(prefix, ip.value);
      return containsAddress(prefix, ip) === expected;
    }),
  );
  fc.assert(
    fc.property(prefixArb, fc.nat(8), fc.nat(), (outer, extra, pick) => {
      // An inner prefix that is in `outer` half the time: the outer's address with more bits, or any.
      const length = Math.min(familyBits(outer.family), outer.length + extra);
      const address = pick % 2 === 0 ? outer.address ^ BigInt(pick) : BigInt(pick) << 7n;
      const inner = prefixOf(
        outer.family,
        address & ((1n << BigInt(familyBits(outer.family))) - 1n),
        length,
      );
      const expected = outer.length <= inner.length && naiveIn(outer, inner.network);
      return (
        prefixContains(outer, inner) === expected &&
        prefixesOverlap(outer, inner) === prefixesOverlap(inner, outer) &&
        (!expected || prefixesOverlap(outer, inner))
      );
    }),
  );
  t.pass();
});

test('families never contain each other', (t) => {
  const v4 = requireCidr('0.0.0.0/0');
  const v6 = requireCidr('::/0');
  t.false(prefixesOverlap(v4, v6));
  t.false(cidrContains('0.0.0.0/0', '::1'));
  t.false(cidrContains('::/0', '10.0.0.1'));
  t.true(cidrContains('::/0', '::ffff:10.0.0.1'));
  t.true(cidrContains('10.0.0.1', '10.0.0.1'));
  t.false(cidrContains('10.0.0.0/8', 'not an ip'));
  t.is(ipFamily('fd00::/8'), 6);
  t.is(ipFamily('10.0.0.1'), 4);
  t.is(ipFamily('10.0.0.1/40'), undefined);
  t.deepEqual(parseAddressOrCidr('fd00::1'), requireCidr('fd00::1/128'));
});

test('subnet edges and host ranges: network, IPv4 broadcast, none on point-to-point prefixes', (t) => {
  const cases: [string, string[], string, string][] = [
    ['10.2.0.0/24', ['10.2.0.0', '10.2.0.255'], '10.2.0.1', '10.2.0.254'],
    ['10.2.0.4/30', ['10.2.0.4', '10.2.0.7'], '10.2.0.5', '10.2.0.6'],
    ['10.2.0.4/31', [], '10.2.0.4', '10.2.0.5'],
    ['10.2.0.4/32', [], '10.2.0.4', '10.2.0.4'],
    ['fd00::/64', ['fd00::'], 'fd00::1', 'fd00::ffff:ffff:ffff:ffff'],
    ['fd00::/126', ['fd00::'], 'fd00::1', 'fd00::3'],
    ['fd00::/127', [], 'fd00::', 'fd00::1'],
  ];
  for (const [cidr, edges, first, last] of cases) {
    const p = requireCidr(cidr);
    t.deepEqual(
      subnetEdges(p).map((v) => formatIp(p.family, v)),
      edges,
      cidr,
    );
    const r = hostRange(p);
    t.deepEqual([formatIp(p.family, r.first), formatIp(p.family, r.last)], [first, last], cidr);
    t.is(r.last - r.first + 1n + BigInt(edges.length), prefixSize(p), cidr);
  }
});

test('gateway form keeps a written gateway, else takes network + 1', (t) => {
  t.is(formatGatewayCidr(requireCidr('10.2.0.1/16')), '10.2.0.1/16');
  t.is(formatGatewayCidr(requireCidr('10.2.0.0/16')), '10.2.0.1/16');
  t.is(formatGatewayCidr(requireCidr('10.2.0.9/16')), '10.2.0.9/16');
  t.is(formatGatewayCidr(requireCidr('fd00:2::/64')), 'fd00:2::1/64');
  t.is(formatGatewayCidr(requireCidr('fd00:2::ff:0/112')), 'fd00:2::ff:1/112');
});
