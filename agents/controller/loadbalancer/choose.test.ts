import test from 'ava';
import fc from 'fast-check';
import { chooseNodes } from './choose.ts';

const nodes = (n: number) => Array.from({ length: n }, (_, i) => `node-${i}`);

test('all candidates when there are few, sorted', (t) => {
  t.deepEqual(chooseNodes('ns/a', ['c', 'a', 'b', 'a'], 5), ['a', 'b', 'c']);
});

test('at most max, the same set whatever the input order', (t) => {
  fc.assert(
    fc.property(
      fc.shuffledSubarray(nodes(40), { minLength: 40, maxLength: 40 }),
      fc.integer({ min: 1, max: 40 }),
      (order, max) => {
        const a = chooseNodes('ns/svc', order, max);
        const b = chooseNodes('ns/svc', nodes(40), max);
        return a.length === Math.min(max, 40) && a.join() === b.join();
      },
    ),
  );
  t.pass();
});

test('removing a chosen node changes one choice; removing an unchosen one changes none', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 29 }), (victim) => {
      const all = nodes(30);
      const before = chooseNodes('ns/svc', all, 8);
      const after = chooseNodes(
        'ns/svc',
        all.filter((_, i) => i !== victim),
        8,
      );
      const kept = before.filter((n) => after.includes(n));
      return before.includes(`node-${victim}`)
        ? kept.length === 7 && after.length === 8
        : after.join() === before.join();
    }),
  );
  t.pass();
});

test('different services spread over different nodes', (t) => {
  const counts = new Map<string, number>();
  for (let s = 0; s < 200; s++)
    for (const n of chooseNodes(`ns/svc-${s}`, nodes(20), 2))
      counts.set(n, (counts.get(n) ?? 0) + 1);
  t.true(counts.size >= 18, `only ${counts.size} of 20 nodes ever chosen`);
});
