import test from 'ava';
import {
  applyWrite,
  indexDesired,
  ownerAnnotation,
  ownerTagKey,
  planSync,
  tagDn,
  tagForKey,
  type ActualObject,
} from './diff.ts';
import type { Mo } from './mo.ts';

const prefix = 'kube-test';
const pol = (name: string, extra: Record<string, string> = {}): Mo => ({
  hostprotPol: {
    attributes: { dn: `uni/tn-kube/pol-${name}`, name, ...extra },
    children: [
      {
        hostprotSubj: {
          attributes: { rn: 'subj-in', name: 'in' },
          children: [{ hostprotRule: { attributes: { rn: 'rule-r', name: 'r', protocol: '6' } } }],
        },
      },
    ],
  },
});

function converge(desired: Map<string, Mo[]>, actual: Map<string, ActualObject>) {
  const index = indexDesired(desired, prefix);
  const plan = planSync(index, actual, 'all', { prefix });
  for (const w of plan.writes) applyWrite(actual, w);
  return plan;
}

test('every desired object gets the ownership annotation and a tag naming its key', (t) => {
  const index = indexDesired(new Map([['k1', [pol('a')]]]), prefix);
  const rule = index.nodes.get('uni/tn-kube/pol-a/subj-in/rule-r');
  t.is(rule?.attrs.annotation, ownerAnnotation(prefix));
  t.is(rule?.attrs.protocol, 'tcp', 'normalized like the APIC stores it');
  t.deepEqual(index.nodes.get(tagDn('uni/tn-kube/pol-a/subj-in/rule-r'))?.attrs, {
    key: ownerTagKey,
    value: tagForKey(prefix, 'k1'),
  });
});

test('roots under one parent go out as one POST with status created; a second plan is empty', (t) => {
  const actual = new Map<string, ActualObject>();
  const plan = converge(
    new Map([
      ['k1', [pol('a')]],
      ['k2', [pol('b')]],
    ]),
    actual,
  );
  t.is(plan.writes.length, 1);
  const w = plan.writes[0];
  t.is(w?.dn, 'uni/tn-kube');
  t.is(w?.body?.fvTenant?.attributes?.status, 'modified', 'the wrapper never creates the parent');
  t.is(w?.body?.fvTenant?.children?.[0]?.hostprotPol?.attributes?.status, 'created');
  t.deepEqual(
    converge(
      new Map([
        ['k1', [pol('a')]],
        ['k2', [pol('b')]],
      ]),
      actual,
    ).writes,
    [],
  );
});

test('a changed attribute is sent alone, with pass-through ancestors named by RN', (t) => {
  const actual = new Map<string, ActualObject>();
  converge(new Map([['k1', [pol('a')]]]), actual);
  const changed: Mo = structuredClone(pol('a'));
  const rule = changed.hostprotPol?.children?.[0]?.hostprotSubj?.children?.[0]?.hostprotRule;
  if (rule?.attributes) rule.attributes.direction = 'egress';
  const plan = converge(new Map([['k1', [changed]]]), actual);
  t.deepEqual(plan.writes[0]?.body, {
    hostprotPol: {
      attributes: { dn: 'uni/tn-kube/pol-a', status: 'modified' },
      children: [
        {
          hostprotSubj: {
            attributes: { rn: 'subj-in', status: 'modified' },
            children: [{ hostprotRule: { attributes: { rn: 'rule-r', direction: 'egress' } } }],
          },
        },
      ],
    },
  });
});

/** The APIC after a full sync of k1 (policy a) and k2 (policy b). */
function convergedTwoKeys(): Map<string, ActualObject> {
  const actual = new Map<string, ActualObject>();
  converge(
    new Map([
      ['k1', [pol('a')]],
      ['k2', [pol('b')]],
    ]),
    actual,
  );
  return actual;
}

test('dropping a key deletes its topmost objects only, and leaves foreign objects alone', (t) => {
  const actual = convergedTwoKeys();
  actual.set('uni/tn-kube/pol-a/subj-foreign', { cls: 'hostprotSubj', attrs: { name: 'foreign' } });
  actual.set('uni/tn-kube/pol-z', { cls: 'hostprotPol', attrs: { name: 'z' } });
  const plan = converge(new Map([['k2', [pol('b')]]]), actual);
  t.is(plan.writes.length, 1);
  t.deepEqual(plan.writes[0]?.body, {
    hostprotPol: { attributes: { dn: 'uni/tn-kube/pol-a', status: 'deleted' } },
  });
  t.truthy(actual.get('uni/tn-kube/pol-z'));
});

test('the delete of a key just dropped names that key, so a failed write is retried for it', (t) => {
  const actual = convergedTwoKeys();
  const index = indexDesired(new Map([['k2', [pol('b')]]]), prefix);
  const plan = planSync(index, actual, new Set(['k1']), { prefix });
  t.is(plan.writes.length, 1);
  t.deepEqual([...(plan.writes[0]?.keys ?? [])], ['k1']);
  // The same when the delete rides in the POST of a desired parent (the tenant of another key).
  const tenant = (children: Mo[]): Mo => ({
    fvTenant: { attributes: { dn: 'uni/tn-kube', name: 'kube' }, children },
  });
  const nested = new Map<string, ActualObject>();
  converge(
    new Map([
      ['base', [tenant([])]],
      ['k1', [pol('a')]],
    ]),
    nested,
  );
  const withParent = planSync(
    indexDesired(new Map([['base', [tenant([])]]]), prefix),
    nested,
    new Set(['k1', 'base']),
    { prefix },
  );
  t.is(withParent.writes.length, 1);
  t.deepEqual([...(withParent.writes[0]?.keys ?? [])].sort(), ['base', 'k1']);
});

test('an incremental plan for one key ignores the others', (t) => {
  const actual = new Map<string, ActualObject>();
  converge(new Map([['k1', [pol('a')]]]), actual);
  const index = indexDesired(
    new Map([
      ['k1', [pol('a', { descr: 'x' })]],
      ['k2', [pol('b')]],
    ]),
    prefix,
  );
  const plan = planSync(index, actual, new Set(['k2']), { prefix });
  t.is(plan.writes.length, 1);
  t.deepEqual([...(plan.writes[0]?.keys ?? [])], ['k2']);
});

test('a desired DN held by a foreign object is passed through, never tagged or modified', (t) => {
  const actual = new Map<string, ActualObject>([
    ['uni/tn-kube/pol-a', { cls: 'hostprotPol', attrs: { name: 'a', descr: 'theirs' } }],
  ]);
  const index = indexDesired(new Map([['k1', [pol('a', { descr: 'ours' })]]]), prefix);
  const plan = planSync(index, actual, 'all', { prefix });
  t.deepEqual(plan.conflicts, ['uni/tn-kube/pol-a']);
  const body = plan.writes[0]?.body;
  t.deepEqual(body?.hostprotPol?.attributes, { dn: 'uni/tn-kube/pol-a', status: 'modified' });
  t.false(JSON.stringify(body).includes(tagDn('uni/tn-kube/pol-a')));
});

test('a DN claimed by two keys stays with the first', (t) => {
  const index = indexDesired(
    new Map([
      ['k1', [pol('a')]],
      ['k2', [pol('a', { descr: 'dup' })]],
    ]),
    prefix,
  );
  t.deepEqual(index.duplicates, ['uni/tn-kube/pol-a']);
  t.is(index.nodes.get('uni/tn-kube/pol-a')?.key, 'k1');
});
