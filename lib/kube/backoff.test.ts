import test from 'ava';
import fc from 'fast-check';
import { backoffDelay } from './backoff.ts';

test('backoff doubles from the initial delay up to the cap, jitter staying within bounds', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (attempt, random) => {
        const options = { initialMs: 100, maxMs: 30_000, jitter: 0.5 };
        const base = Math.min(30_000, 100 * 2 ** attempt);
        const delay = backoffDelay(attempt, options, () => random);
        return delay >= Math.floor(base / 2) && delay <= base;
      },
    ),
  );
  t.is(backoffDelay(0, { initialMs: 100, maxMs: 1000, jitter: 0 }), 100);
  t.is(backoffDelay(3, { initialMs: 100, maxMs: 1000, jitter: 0 }), 800);
  t.is(backoffDelay(10, { initialMs: 100, maxMs: 1000, jitter: 0 }), 1000);
});
