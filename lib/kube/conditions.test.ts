import test from 'ava';
import { setCondition, setConditions } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T01:00:00Z');

test('lastTransitionTime stays when status is unchanged, even if reason or message change', (t) => {
  const first = setCondition(
    [],
    { type: 'Ready', status: 'False', reason: 'Progressing', message: 'a' },
    1,
    t0,
  );
  const second = setCondition(
    first,
    { type: 'Ready', status: 'False', reason: 'Waiting', message: 'b' },
    2,
    t1,
  );
  t.is(second[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  t.is(second[0]?.reason, 'Waiting');
  t.is(second[0]?.observedGeneration, 2);
});

test('lastTransitionTime moves when status changes', (t) => {
  const first = setCondition(
    [],
    { type: 'Ready', status: 'False', reason: 'A', message: '' },
    1,
    t0,
  );
  const second = setCondition(
    first,
    { type: 'Ready', status: 'True', reason: 'B', message: '' },
    1,
    t1,
  );
  t.is(second[0]?.lastTransitionTime, '2026-01-01T01:00:00Z');
});

test('setConditions keeps other types and order', (t) => {
  const list = setConditions(
    [],
    [
      { type: 'Ready', status: 'True', reason: 'A', message: '' },
      { type: 'Degraded', status: 'False', reason: 'B', message: '' },
    ],
    3,
    t0,
  );
  const updated = setConditions(
    list,
    [{ type: 'Degraded', status: 'True', reason: 'C', message: 'x' }],
    4,
    t1,
  );
  t.deepEqual(
    updated.map((c) => [c.type, c.status]),
    [
      ['Ready', 'True'],
      ['Degraded', 'True'],
    ],
  );
});
