/**
 * Resolved OpFlex policy → contract model, against the reference agent's
 * semantics (PolicyManager / IntFlowManager::handleContractUpdate).
 */
import test from 'ava';
import fc from 'fast-check';
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import { type PolicySpec, policyObjects } from '../../../e2e/support/opflex/policy-fixture.ts';
import { type ContractRule, epgUri } from './contract-model.ts';
import { resolveContracts } from './resolve.ts';

const A = 101;
const B = 102;
const C = 103;

/** A consumes `web` (TCP 80) from B; C is alone. */
const base: PolicySpec = {
  epgs: [
    { name: 'a', classId: A, consumes: ['web'] },
    { name: 'b', classId: B, provides: ['web'] },
    { name: 'c', classId: C },
  ],
  contracts: [
    {
      name: 'web',
      subjects: [
        {
          name: 's',
          rules: [
            {
              name: 'http',
              direction: 'in',
              classifiers: [{ name: 'tcp80', prot: 6, dFromPort: 80, dToPort: 80 }],
            },
          ],
        },
      ],
    },
  ],
};

const brief = (r: ContractRule): string =>
  `${r.srcClass}->${r.dstClass} ${r.direction} ${r.action} p${r.priority} ${r.classifier.split('/').at(-2) ?? ''}`;

test('EPGs carry the class id, encap id and VRF enforcement of their InstContext and routing domain', (t) => {
  const m = resolveContracts(
    policyObjects({
      vrfs: { prod: true, lab: false },
      epgs: [
        { name: 'a', classId: A, encapId: 3001, vrf: 'prod' },
        { name: 'b', classId: B, vrf: 'lab', intraGroupPolicy: 'deny' },
      ],
      contracts: [],
    }),
  );
  const a = m.epgs.get(epgUri({ tenant: 'kube', appProfile: 'kubernetes', name: 'a' }));
  const b = m.epgs.get(epgUri({ tenant: 'kube', appProfile: 'kubernetes', name: 'b' }));
  t.like(a, { classId: A, encapId: 3001, enforced: true, intraGroup: 'allow' });
  t.like(b, { classId: B, enforced: false, intraGroup: 'deny' });
  t.is(a?.uri, '/PolicyUniverse/PolicySpace/kube/GbpEpGroup/kubernetes%7ca/');
  t.deepEqual(m.problems, []);
});

test('an `in` rule applies from consumer to provider only', (t) => {
  const m = resolveContracts(policyObjects(base));
  t.deepEqual(m.rules.map(brief), [`${A}->${B} in allow p8192 tcp80`]);
  t.like(m.rules[0]?.match, { protocol: 6, dstPorts: { from: 80, to: 80 }, reflexive: false });
});

test('`out` applies from provider to consumer, `bidirectional` both ways', (t) => {
  const withDirection = (direction: 'out' | 'bidirectional'): string[] => {
    const spec = structuredClone(base);
    const rule = spec.contracts[0]?.subjects[0]?.rules[0];
    if (rule) rule.direction = direction;
    return resolveContracts(policyObjects(spec)).rules.map(brief).sort();
  };
  t.deepEqual(withDirection('out'), [`${B}->${A} out allow p8192 tcp80`]);
  t.deepEqual(withDirection('bidirectional'), [
    `${A}->${B} in allow p8192 tcp80`,
    `${B}->${A} out allow p8192 tcp80`,
  ]);
});

test('two EPGs that both provide and consume a contract get its bidirectional rules once each way', (t) => {
  const spec = structuredClone(base);
  spec.epgs = [
    { name: 'a', classId: A, consumes: ['web'], provides: ['web'] },
    { name: 'b', classId: B, consumes: ['web'], provides: ['web'] },
  ];
  const rule = spec.contracts[0]?.subjects[0]?.rules[0];
  if (rule) rule.direction = 'bidirectional';
  t.deepEqual(resolveContracts(policyObjects(spec)).rules.map(brief).sort(), [
    `${A}->${B} in allow p8192 tcp80`,
    `${B}->${A} in allow p8192 tcp80`,
  ]);
});

test('rules are ordered by `order` within a subject (128 apart), classifiers one apart; the first action decides', (t) => {
  const spec = structuredClone(base);
  spec.contracts = [
    {
      name: 'web',
      subjects: [
        {
          name: 's',
          rules: [
            {
              name: 'second',
              order: 20,
              direction: 'in',
              classifiers: [{ name: 'any-tcp', prot: 6 }],
            },
            {
              name: 'first',
              order: 10,
              direction: 'in',
              action: 'deny',
              classifiers: [
                { name: 'tcp23', order: 2, prot: 6, dFromPort: 23 },
                { name: 'tcp22', order: 1, prot: 6, dFromPort: 22 },
              ],
            },
          ],
        },
      ],
    },
  ];
  t.deepEqual(resolveContracts(policyObjects(spec)).rules.map(brief), [
    `${A}->${B} in deny p8192 tcp22`,
    `${A}->${B} in deny p8191 tcp23`,
    `${A}->${B} in allow p8064 any-tcp`,
  ]);
});

test('intra-EPG contracts apply from the EPG to itself, bidirectional as `in`', (t) => {
  const spec = structuredClone(base);
  spec.epgs = [{ name: 'a', classId: A, intraGroupPolicy: 'require-contract', intra: ['web'] }];
  const rule = spec.contracts[0]?.subjects[0]?.rules[0];
  if (rule) rule.direction = 'bidirectional';
  t.deepEqual(resolveContracts(policyObjects(spec)).rules.map(brief), [
    `${A}->${A} intra allow p8192 tcp80`,
  ]);
});

test('an unresolved contract, classifier or EPG contributes nothing and is named', (t) => {
  const objects = policyObjects(base).filter(
    (mo) => !mo.uri.includes('GbpContract/web/') || mo.subject !== 'GbpContract',
  );
  const m = resolveContracts(objects);
  t.deepEqual(m.rules, []);
  t.true(m.problems.some((p) => p.includes('GbpContract/web/') && p.includes('not resolved')));

  const noClassifier = resolveContracts(
    policyObjects(base).filter((mo) => mo.subject !== 'GbpeL24Classifier'),
  );
  t.deepEqual(noClassifier.rules, []);
  t.true(noClassifier.problems.some((p) => p.includes('classifier')));

  const noClass = resolveContracts(
    policyObjects(base).filter(
      (mo) => !(mo.subject === 'GbpeInstContext' && mo.uri.includes('%7cb/')),
    ),
  );
  t.is(noClass.epgs.size, 2);
  t.deepEqual(noClass.rules, []);
});

test('a rule without a direction is ignored; enums are accepted as numbers', (t) => {
  const objects = policyObjects(base).map((mo): ManagedObject =>
    mo.subject === 'GbpRule'
      ? { ...mo, properties: mo.properties.filter((p) => p.name !== 'direction') }
      : mo,
  );
  t.deepEqual(resolveContracts(objects).rules, []);
  const numeric = policyObjects(base).map((mo): ManagedObject =>
    mo.subject === 'GbpRule'
      ? {
          ...mo,
          properties: mo.properties.map((p) => (p.name === 'direction' ? { ...p, data: 2 } : p)),
        }
      : mo,
  );
  t.deepEqual(resolveContracts(numeric).rules.map(brief), [`${B}->${A} out allow p8192 tcp80`]);
});

test('only rules with an end in a local EPG are kept', (t) => {
  const uri = (name: string): string => epgUri({ tenant: 'kube', appProfile: 'kubernetes', name });
  t.is(resolveContracts(policyObjects(base), { localEpgs: new Set([uri('c')]) }).rules.length, 0);
  t.is(resolveContracts(policyObjects(base), { localEpgs: new Set([uri('b')]) }).rules.length, 1);
});

test('remote endpoints (EprL3Ep) resolve to their EPG class', (t) => {
  const m = resolveContracts(
    policyObjects({
      ...base,
      remoteEndpoints: [
        { ip: '10.9.0.5', epg: 'b' },
        { ip: '10.9.0.6', epg: 'nope' },
      ],
    }),
  );
  t.deepEqual(m.remoteEndpoints, [{ ip: '10.9.0.5', classId: B }]);
});

test('property: the model does not depend on the order objects and children arrive in', (t) => {
  const objects = policyObjects({
    ...base,
    epgs: [...base.epgs, { name: 'd', classId: 104, provides: ['web'], consumes: ['web'] }],
  });
  const expected = resolveContracts(objects);
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { minLength: objects.length, maxLength: objects.length }),
      (keys) => {
        const shuffled = objects
          .map((mo, i) => ({
            mo: { ...mo, children: [...mo.children].reverse() },
            k: keys[i] ?? 0,
          }))
          .sort((x, y) => x.k - y.k)
          .map((x) => x.mo);
        const got = resolveContracts(shuffled);
        return (
          JSON.stringify(got.rules) === JSON.stringify(expected.rules) &&
          JSON.stringify([...got.epgs]) === JSON.stringify([...expected.epgs])
        );
      },
    ),
  );
  t.pass();
});

test('property: swapping provider and consumer turns `in` into `out`', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('in' as const, 'out' as const, 'bidirectional' as const),
      fc.integer({ min: 1, max: 65535 }),
      (direction, port) => {
        const spec = (consumer: string): PolicySpec => ({
          epgs: [
            {
              name: 'a',
              classId: A,
              ...(consumer === 'a' ? { consumes: ['k'] } : { provides: ['k'] }),
            },
            {
              name: 'b',
              classId: B,
              ...(consumer === 'b' ? { consumes: ['k'] } : { provides: ['k'] }),
            },
          ],
          contracts: [
            {
              name: 'k',
              subjects: [
                {
                  name: 's',
                  rules: [
                    {
                      name: 'r',
                      direction,
                      classifiers: [{ name: 'c', prot: 17, dFromPort: port }],
                    },
                  ],
                },
              ],
            },
          ],
        });
        const pairs = (consumer: string): string[] =>
          resolveContracts(policyObjects(spec(consumer)))
            .rules.map((r) => `${r.srcClass}->${r.dstClass}`)
            .sort();
        const flip = (p: string): string => p.split('->').reverse().join('->');
        return JSON.stringify(pairs('a')) === JSON.stringify(pairs('b').map(flip).sort());
      },
    ),
  );
  t.pass();
});

test('hostile objects are named as problems and never throw: wrong classes, self references, bad numbers', (t) => {
  const objects = policyObjects(base).map((mo): ManagedObject => {
    if (mo.subject === 'GbpeL24Classifier')
      return {
        ...mo,
        properties: mo.properties.map((p) => (p.name === 'dFromPort' ? { ...p, data: 70000 } : p)),
      };
    if (mo.subject === 'GbpRuleToActionRSrc')
      // An action relation pointing at the rule itself (a reference loop).
      return {
        ...mo,
        properties: [
          {
            name: 'target',
            data: { subject: 'GbpAllowDenyAction', reference_uri: mo.parent_uri ?? '' },
          },
        ],
      };
    return mo;
  });
  objects.push({
    subject: 'GbpEpGroup',
    uri: '/PolicyUniverse/PolicySpace/kube/GbpEpGroup/evil/',
    properties: [{ name: 'intraGroupPolicy', data: 'sometimes' }],
    children: ['/PolicyUniverse/PolicySpace/kube/GbpEpGroup/evil/'],
  });
  const m = resolveContracts(objects);
  t.deepEqual(m.rules, []);
  t.true(m.problems.some((p) => p.includes('above 65535')));
  t.true(m.problems.some((p) => p.includes('evil') && p.includes('no class id')));
});

test('property: arbitrary objects of the model classes never make the resolver throw', (t) => {
  const subjects = [
    'GbpEpGroup',
    'GbpeInstContext',
    'GbpContract',
    'GbpSubject',
    'GbpRule',
    'GbpRuleToClassifierRSrc',
    'GbpRuleToActionRSrc',
    'GbpeL24Classifier',
    'GbpAllowDenyAction',
    'GbpEpGroupToProvContractRSrc',
    'GbpEpGroupToConsContractRSrc',
    'EprL3Ep',
  ];
  const uris = Array.from({ length: 6 }, (_, i) => `/u/${i}/`);
  const data = fc.oneof(
    fc.integer(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(...uris).map((u) => ({ subject: 'GbpContract', reference_uri: u })),
  );
  const names = fc.constantFrom(
    'classid',
    'encapId',
    'direction',
    'order',
    'target',
    'prot',
    'dFromPort',
    'dToPort',
    'allow',
    'ip',
    'group',
    'intraGroupPolicy',
  );
  const object = fc.record({
    subject: fc.constantFrom(...subjects),
    uri: fc.constantFrom(...uris),
    properties: fc.array(fc.record({ name: names, data })),
    children: fc.array(fc.constantFrom(...uris)),
    parent_uri: fc.option(fc.constantFrom(...uris), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(object, { maxLength: 30 }), (objects) => {
      const m = resolveContracts(objects as ManagedObject[]);
      const classes = new Set([...m.epgs.values()].map((e) => e.classId));
      return m.rules.every((r) => classes.has(r.srcClass) && classes.has(r.dstClass));
    }),
    { numRuns: 300 },
  );
  t.pass();
});
