/**
 * The NetworkPolicy compiler: table cases for each semantic rule, the
 * upstream cases and random policies checked against the independent
 * reference model (e2e/support/opflex/netpol-model.ts) by evaluating the
 * compiled security groups the way the data plane does.
 */
import test from 'ava';
import fc from 'fast-check';
import type {
  V1LabelSelector,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Pod,
} from '@kubernetes/client-node';
import type { SecurityGroupFile, SecurityGroupRule } from '../node-state/files.ts';
import { cidrContains } from '../net/cidr.ts';
import {
  type ModelPod,
  Namespaces,
  NetpolCases,
  Ports,
  Protocols,
  k8sNamespace,
  k8sPod,
  modelPods,
  referenceAllowed,
} from '../../e2e/support/opflex/netpol-model.ts';
import {
  type CompiledPolicies,
  compileNetworkPolicies,
  NetworkPolicyCompiler,
  matchesSelector,
  policyTypes,
} from './network-policy.ts';

const Prefix = '10.131';
const model = modelPods(Prefix);
const pods = model.map(k8sPod);
const namespaces = Namespaces.map(k8sNamespace);
const compile = (policies: V1NetworkPolicy[]): CompiledPolicies =>
  compileNetworkPolicies({ policies, pods, namespaces });
const np = (ns: string, name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy => ({
  metadata: { namespace: ns, name },
  spec,
});
const groupsOf = (c: CompiledPolicies, ns: string, pod: string): SecurityGroupFile[] =>
  (c.podGroups.get(`${ns}/${pod}`) ?? [])
    .map((n) => c.groups.find((g) => g.name === n))
    .filter((g): g is SecurityGroupFile => !!g);

// ---- the data plane's semantics of security groups, for comparison -------------

function ruleMatches(r: SecurityGroupRule, remoteIp: string, port: number, proto: string): boolean {
  if (
    r.protocol
      ? r.protocol !== proto
      : r.ports.length > 0 && !['TCP', 'UDP', 'SCTP'].includes(proto)
  )
    return false;
  if (r.ports.length > 0 && !r.ports.some((p) => port >= p.from && port <= p.to)) return false;
  if (r.remotes === undefined) return true;
  return r.remotes.some(
    (rm) => cidrContains(rm.cidr, remoteIp) && !rm.except.some((e) => cidrContains(e, remoteIp)),
  );
}

function directionAllows(
  groups: SecurityGroupFile[],
  dir: 'ingress' | 'egress',
  remoteIp: string,
  port: number,
  proto: string,
): boolean {
  if (!groups.some((g) => g.isolates.includes(dir))) return true;
  return groups.some((g) =>
    g.rules.some((r) => r.direction === dir && ruleMatches(r, remoteIp, port, proto)),
  );
}

function compiledAllows(
  c: CompiledPolicies,
  client: ModelPod,
  server: ModelPod,
  port: number,
  proto: string,
): boolean {
  return (
    directionAllows(groupsOf(c, client.namespace, client.name), 'egress', server.ip, port, proto) &&
    directionAllows(groupsOf(c, server.namespace, server.name), 'ingress', client.ip, port, proto)
  );
}

function mismatches(policies: V1NetworkPolicy[]): string[] {
  const c = compile(policies);
  const out: string[] = [];
  for (const client of model)
    for (const server of model) {
      if (client === server) continue;
      for (const port of Ports)
        for (const proto of Protocols) {
          const want = referenceAllowed(policies, client, server, port, proto);
          if (compiledAllows(c, client, server, port, proto) !== want)
            out.push(
              `${client.namespace}/${client.name} -> ${server.namespace}/${server.name} ${proto}/${port}: want ${want}`,
            );
        }
    }
  return out;
}

// ---- table cases ----------------------------------------------------------------

test('policyTypes default to Ingress, plus Egress when egress rules exist', (t) => {
  t.deepEqual(policyTypes(np('x', 'p', { podSelector: {} })), ['Ingress']);
  t.deepEqual(policyTypes(np('x', 'p', { podSelector: {}, egress: [{}] })), ['Ingress', 'Egress']);
  t.deepEqual(policyTypes(np('x', 'p', { podSelector: {}, policyTypes: ['Egress'] })), ['Egress']);
});

test('an empty podSelector selects every pod of the namespace, and only that namespace', (t) => {
  const c = compile([np('x', 'deny', { podSelector: {} })]);
  t.deepEqual([...c.podGroups.keys()].sort(), ['x/a', 'x/b', 'x/c']);
  t.deepEqual(c.groups, [{ name: 'np.x.deny', isolates: ['ingress'], rules: [] }]);
});

test('an egress-only policy isolates egress only and compiles no ingress rules', (t) => {
  const c = compile([
    np('x', 'out', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      ingress: [{}],
      egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }],
    }),
  ]);
  t.deepEqual(c.groups, [
    {
      name: 'np.x.out',
      isolates: ['egress'],
      rules: [{ direction: 'egress', protocol: 'UDP', ports: [{ from: 53, to: 53 }] }],
    },
  ]);
});

test('an empty from means every source; missing ports mean every port and protocol', (t) => {
  const c = compile([np('x', 'all', { podSelector: {}, ingress: [{ _from: [] }] })]);
  t.deepEqual(c.groups[0]?.rules, [{ direction: 'ingress', ports: [] }]);
});

test('namespaceSelector and podSelector in one peer select pods of those namespaces only', (t) => {
  const c = compile([
    np('x', 'p', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          _from: [
            {
              namespaceSelector: { matchLabels: { ns: 'y' } },
              podSelector: { matchLabels: { pod: 'b' } },
            },
          ],
        },
      ],
    }),
  ]);
  t.deepEqual(c.groups[0]?.rules, [
    { direction: 'ingress', ports: [], remotes: [{ cidr: `${Prefix}.2.2/32`, except: [] }] },
  ]);
});

test('a podSelector-only peer means the policy namespace; namespaceSelector-only means all pods there', (t) => {
  const c = compile([
    np('y', 'p', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          _from: [
            { podSelector: { matchLabels: { pod: 'c' } } },
            { namespaceSelector: { matchLabels: { ns: 'z' } } },
          ],
        },
      ],
    }),
  ]);
  t.deepEqual(
    c.groups[0]?.rules[0]?.remotes?.map((r) => r.cidr),
    [`${Prefix}.2.3/32`, `${Prefix}.3.1/32`, `${Prefix}.3.2/32`, `${Prefix}.3.3/32`],
  );
});

test('ipBlock keeps its except list; port ranges use endPort; protocol defaults to TCP', (t) => {
  const c = compile([
    np('x', 'p', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ port: 8000, endPort: 8080 }],
        },
      ],
    }),
  ]);
  t.deepEqual(c.groups[0]?.rules, [
    {
      direction: 'egress',
      protocol: 'TCP',
      ports: [{ from: 8000, to: 8080 }],
      remotes: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }],
    },
  ]);
});

test('named ingress ports resolve on the selected pod: pods with different numbers get different groups', (t) => {
  const odd: V1Pod = { ...k8sPod({ namespace: 'x', name: 'c', ip: `${Prefix}.1.3` }) };
  odd.spec = { containers: [{ name: 'cont', ports: [{ name: 'http', containerPort: 8080 }] }] };
  const even: V1Pod = { ...k8sPod({ namespace: 'x', name: 'b', ip: `${Prefix}.1.2` }) };
  even.spec = { containers: [{ name: 'cont', ports: [{ name: 'http', containerPort: 9090 }] }] };
  const c = compileNetworkPolicies({
    pods: [odd, even],
    namespaces,
    policies: [np('x', 'http', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] })],
  });
  const [gb] = groupsOf(c, 'x', 'b');
  const [gc] = groupsOf(c, 'x', 'c');
  t.not(gb?.name, gc?.name);
  t.deepEqual(gb?.rules[0]?.ports, [{ from: 9090, to: 9090 }]);
  t.deepEqual(gc?.rules[0]?.ports, [{ from: 8080, to: 8080 }]);
});

test('named egress ports resolve on each peer pod; peers without the name do not match', (t) => {
  const server: V1Pod = k8sPod({ namespace: 'y', name: 'a', ip: `${Prefix}.2.1` });
  server.spec = {
    containers: [{ name: 'c', ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }] }],
  };
  const other: V1Pod = k8sPod({ namespace: 'y', name: 'b', ip: `${Prefix}.2.2` });
  other.spec = { containers: [{ name: 'c' }] };
  const client = k8sPod({ namespace: 'x', name: 'a', ip: `${Prefix}.1.1` });
  const c = compileNetworkPolicies({
    pods: [server, other, client],
    namespaces,
    policies: [
      np('x', 'dns', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'dns', protocol: 'UDP' }] }],
      }),
    ],
  });
  t.deepEqual(c.groups[0]?.rules, [
    {
      direction: 'egress',
      protocol: 'UDP',
      ports: [{ from: 5353, to: 5353 }],
      remotes: [{ cidr: `${Prefix}.2.1/32`, except: [] }],
    },
  ]);
});

test('label selectors: matchLabels and every matchExpressions operator', (t) => {
  const l = { app: 'web', tier: 'front' };
  const cases: [V1LabelSelector, boolean][] = [
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
  ];
  for (const [sel, want] of cases) t.is(matchesSelector(sel, l), want, JSON.stringify(sel));
});

test('raw API objects with `from` (not client-node’s `_from`) compile the same', (t) => {
  const raw = np('x', 'p', {
    podSelector: {},
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] } as never],
  });
  t.deepEqual(compile([raw]).groups[0]?.rules[0]?.remotes, [
    { cidr: `${Prefix}.1.2/32`, except: [] },
  ]);
});

// ---- upstream cases and random policies against the reference model ----------------

for (const c of NetpolCases) {
  test(`reference agrees: ${c.name}`, (t) => t.deepEqual(mismatches(c.policies(Prefix)), []));
}

const selectorArb: fc.Arbitrary<V1LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom('a', 'b', 'c').map((pod) => ({ matchLabels: { pod } })),
  fc
    .record({
      op: fc.constantFrom('In', 'NotIn'),
      values: fc.subarray(['a', 'b', 'c'], { minLength: 1 }),
    })
    .map(({ op, values }) => ({ matchExpressions: [{ key: 'pod', operator: op, values }] })),
);
const nsSelectorArb: fc.Arbitrary<V1LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom('x', 'y', 'z').map((ns) => ({ matchLabels: { ns } })),
  fc.subarray(['x', 'y', 'z'], { minLength: 1 }).map((values) => ({
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values }],
  })),
);
const peerArb: fc.Arbitrary<V1NetworkPolicyPeer> = fc.oneof(
  selectorArb.map((podSelector) => ({ podSelector })),
  nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })),
  fc
    .tuple(selectorArb, nsSelectorArb)
    .map(([podSelector, namespaceSelector]) => ({ podSelector, namespaceSelector })),
  fc
    .tuple(
      fc.constantFrom(`${Prefix}.0.0/16`, `${Prefix}.2.0/24`, `${Prefix}.1.2/32`),
      fc.subarray([`${Prefix}.2.0/24`, `${Prefix}.1.1/32`, `${Prefix}.3.0/25`]),
    )
    .map(([cidr, except]) => ({
      ipBlock: { cidr, except: except.filter((e) => e !== cidr) },
    })),
);
const portArb: fc.Arbitrary<V1NetworkPolicyPort> = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(80, 81) }),
  fc.record({
    protocol: fc.constantFrom('TCP', 'UDP'),
    port: fc.constant(79),
    endPort: fc.constantFrom(80, 81),
  }),
  fc
    .constantFrom('serve-80-tcp', 'serve-81-tcp', 'serve-80-udp', 'serve-81-udp')
    .map((name) => ({ port: name, protocol: name.endsWith('udp') ? 'UDP' : 'TCP' })),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP') }),
  fc.constant({ port: 81 }),
);
const optList = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[] | undefined> =>
  fc.option(fc.array(arb, { maxLength: 2 }), { nil: undefined });
const policyArb: fc.Arbitrary<V1NetworkPolicy> = fc
  .record({
    ns: fc.constantFrom('x', 'y', 'z'),
    podSelector: selectorArb,
    types: fc.constantFrom(undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
    ingress: optList(fc.record({ from: optList(peerArb), ports: optList(portArb) })),
    egress: optList(fc.record({ to: optList(peerArb), ports: optList(portArb) })),
  })
  .map((p) =>
    np(p.ns, 'p', {
      podSelector: p.podSelector,
      policyTypes: p.types ? [...p.types] : undefined,
      ingress: p.ingress?.map((r) => ({ _from: r.from, ports: r.ports })),
      egress: p.egress?.map((r) => ({ to: r.to, ports: r.ports })),
    }),
  );

test('property: compiled security groups allow exactly what the reference model allows', (t) => {
  fc.assert(
    fc.property(fc.array(policyArb, { maxLength: 3 }), (policies) => {
      const named = policies.map((p, i) => ({ ...p, metadata: { ...p.metadata, name: `p${i}` } }));
      const diff = mismatches(named);
      if (diff.length > 0) throw new Error(`${diff.length} mismatches, e.g. ${diff[0]}`);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

// ---- the incremental compiler against the full one ------------------------------

type Step =
  | { kind: 'policy'; slot: number; policy: V1NetworkPolicy }
  | { kind: 'unpolicy'; slot: number }
  | { kind: 'relabel'; pod: number; label: string }
  | { kind: 'unpod'; pod: number }
  | { kind: 'repod'; pod: number }
  | { kind: 'nslabel'; ns: number; label: string };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('policy' as const),
    slot: fc.nat({ max: 3 }),
    policy: policyArb,
  }),
  fc.record({ kind: fc.constant('unpolicy' as const), slot: fc.nat({ max: 3 }) }),
  fc.record({
    kind: fc.constant('relabel' as const),
    pod: fc.nat({ max: pods.length - 1 }),
    label: fc.constantFrom('a', 'b', 'c'),
  }),
  fc.record({ kind: fc.constant('unpod' as const), pod: fc.nat({ max: pods.length - 1 }) }),
  fc.record({ kind: fc.constant('repod' as const), pod: fc.nat({ max: pods.length - 1 }) }),
  fc.record({
    kind: fc.constant('nslabel' as const),
    ns: fc.nat({ max: namespaces.length - 1 }),
    label: fc.constantFrom('x', 'y', 'z', 'w'),
  }),
);

test('property: the incremental compiler gives what a full compile gives after any sequence of changes', (t) => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
      const compiler = new NetworkPolicyCompiler();
      const policies = new Map<number, V1NetworkPolicy>();
      const livePods: (V1Pod | undefined)[] = [...pods];
      const liveNamespaces = [...namespaces];
      for (const step of steps) {
        if (step.kind === 'policy')
          policies.set(step.slot, {
            ...step.policy,
            metadata: { ...step.policy.metadata, name: `p${step.slot}` },
          });
        else if (step.kind === 'unpolicy') policies.delete(step.slot);
        else if (step.kind === 'relabel') {
          const pod = livePods[step.pod];
          if (pod)
            livePods[step.pod] = {
              ...pod,
              metadata: { ...pod.metadata, labels: { ...pod.metadata?.labels, pod: step.label } },
            };
        } else if (step.kind === 'unpod') livePods[step.pod] = undefined;
        else if (step.kind === 'repod') livePods[step.pod] ??= pods[step.pod];
        else {
          const ns = liveNamespaces[step.ns]!;
          liveNamespaces[step.ns] = {
            ...ns,
            metadata: { ...ns.metadata, labels: { ns: step.label } },
          };
        }
        const input = {
          policies: [...policies.values()],
          pods: livePods.filter((p): p is V1Pod => p !== undefined),
          namespaces: liveNamespaces,
        };
        const incremental = compiler.compile(input);
        const full = compileNetworkPolicies(input);
        if (JSON.stringify(incremental.groups) !== JSON.stringify(full.groups))
          throw new Error(`groups differ after ${JSON.stringify(step)}`);
        if (JSON.stringify([...incremental.podGroups]) !== JSON.stringify([...full.podGroups]))
          throw new Error(`memberships differ after ${JSON.stringify(step)}`);
      }
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
  t.pass();
});
