import test from 'ava';
import fc from 'fast-check';
import { backoffDelay, type Jitter } from './backoff.ts';

const capOf = (attempt: number) => Math.min(30_000, 100 * 2 ** attempt);

const withJitter = (jitter: Jitter) => ({ initialMs: 100, maxMs: 30_000, jitter });

test('equal jitter (the default) keeps half the capped delay and randomizes the other half', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, random) => {
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 30_000 }, () => random);
        return delay >= Math.floor(capOf(attempt) / 2) && delay <= capOf(attempt);
      },
    ),
  );
  t.is(
    backoffDelay(3, withJitter('equal'), () => 0),
    400,
  );
  t.is(
    backoffDelay(3, withJitter('equal'), () => 0.5),
    600,
  );
});

test('full jitter spreads the delay over the whole range from (almost) zero to the cap', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, random) => {
        const delay = backoffDelay(attempt, withJitter('full'), () => random);
        return delay >= 1 && delay <= capOf(attempt);
      },
    ),
  );
  t.is(
    backoffDelay(3, withJitter('full'), () => 0),
    1,
    'never zero',
  );
  t.is(
    backoffDelay(3, withJitter('full'), () => 0.25),
    200,
  );
  // Below half the cap, which equal jitter never reaches.
  t.true(backoffDelay(10, withJitter('full'), () => 0.1) < capOf(10) / 2);
});

test('without jitter the delay doubles from the initial delay up to the cap', (t) => {
  t.is(backoffDelay(0, { initialMs: 100, maxMs: 1000, jitter: 'none' }), 100);
  t.is(backoffDelay(3, { initialMs: 100, maxMs: 1000, jitter: 'none' }), 800);
  t.is(backoffDelay(10, { initialMs: 100, maxMs: 1000, jitter: 'none' }), 1000);
  t.is(backoffDelay(100_000, { initialMs: 100, maxMs: 1000, jitter: 'none' }), 1000);
  t.is(backoffDelay(-1, { initialMs: 100, maxMs: 1000, jitter: 'none' }), 100);
});
