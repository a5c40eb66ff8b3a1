import test from 'ava';
import fc from 'fast-check';
import { cidrContains, parseCidr4, portRangeMasks, portsOfMask, subtractCidrs } from './iprange.ts';

const cases: [string, string[], string[]][] = [
  ['10.0.0.0/24', [], ['10.0.0.0/24']],
  ['10.0.0.0/24', ['10.0.0.0/25'], ['10.0.0.128/25']],
  ['10.0.0.0/30', ['10.0.0.1/32'], ['10.0.0.0', '10.0.0.2/31']],
  ['10.0.0.0/24', ['10.0.0.0/16'], []],
  ['10.0.0.0/24', ['10.1.0.0/24'], ['10.0.0.0/24']],
  ['0.0.0.0/0', ['128.0.0.0/1'], ['0.0.0.0/1']],
];
for (const [cidr, except, expected] of cases) {
  test(`${cidr} except [${except.join(', ')}]`, (t) =>
    t.deepEqual(subtractCidrs(cidr, except), expected));
}

const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const cidrArb = fc.tuple(ipArb, fc.integer({ min: 8, max: 32 })).map(([ip, len]) => `${ip}/${len}`);

test('property: an address is in cidr minus excepts exactly when it is in cidr and in no except', (t) => {
  fc.assert(
    fc.property(cidrArb, fc.array(cidrArb, { maxLength: 4 }), ipArb, (cidr, except, ip) => {
      const expected = cidrContains(cidr, ip) && !except.some((e) => cidrContains(e, ip));
      const actual = subtractCidrs(cidr, except).some((p) => cidrContains(p, ip));
      return expected === actual;
    }),
  );
  t.pass();
});

test('property: the masks of a port range cover exactly the range, without overlap', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 0, max: 3000 }),
      (from, span) => {
        const to = Math.min(65535, from + span);
        const ranges = portRangeMasks(from, to).map(portsOfMask);
        const covered = ranges.reduce((n, [a, b]) => n + (b - a + 1), 0);
        return covered === to - from + 1 && ranges.every(([a, b]) => a >= from && b <= to);
      },
    ),
  );
  t.is(parseCidr4('10.1.2.3/8').addr, 10 * 2 ** 24);
});

test('port masks for common ranges', (t) => {
  t.deepEqual(portRangeMasks(80, 80), ['0x50']);
  t.deepEqual(portRangeMasks(80, 95), ['0x50/0xfff0']);
  t.deepEqual(portRangeMasks(1, 3), ['0x1', '0x2/0xfffe']);
});
