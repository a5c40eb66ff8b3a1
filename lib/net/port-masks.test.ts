import test from 'ava';
import fc from 'fast-check';
import { portRangeMasks, portsOfMask } from './port-masks.ts';

test('property: the masks of a port range cover exactly the range, without gaps or overlap', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 0, max: 3000 }),
      (from, span) => {
        const to = Math.min(65535, from + span);
        const ranges = portRangeMasks(from, to).map(portsOfMask);
        // Ascending and each starting where the last ended: a cover without gaps or overlap.
        return (
          ranges[0]?.[0] === from &&
          ranges[ranges.length - 1]?.[1] === to &&
          ranges.every(([a], i) => i === 0 || a === (ranges[i - 1]?.[1] ?? NaN) + 1)
        );
      },
    ),
  );
  t.pass();
});

test('port masks for common ranges', (t) => {
  t.deepEqual(portRangeMasks(80, 80), ['0x50']);
  t.deepEqual(portRangeMasks(80, 95), ['0x50/0xfff0']);
  t.deepEqual(portRangeMasks(1, 3), ['0x1', '0x2/0xfffe']);
  t.deepEqual(portRangeMasks(0, 65535), ['0x0/0x0']);
});
