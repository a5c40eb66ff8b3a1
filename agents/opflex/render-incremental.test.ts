/**
 * The incremental renderer against renderPipeline: after any sequence of
 * models, the flows, groups, conflicts and cookies it holds are exactly
 * what a full render of the last model gives, and the deltas it returned,
 * replayed from nothing, give that same desired state.
 */
import test from 'ava';
import fc from 'fast-check';
import { type DesiredState, desiredState } from './diff.ts';
import type { SecurityGroupFile, SecurityGroupRule, ServiceFile } from './files.ts';
import { DataplaneConfig, type LocalEndpoint, type Model, fnv1a } from './model.ts';
import { conjunctionIds } from './stages/securitygroup.ts';
import { type Flow, describeFlow } from './pipeline.ts';
import { renderPipeline } from './render.ts';
import { IncrementalRenderer, sameValue } from './render-incremental.ts';
import { PodA, WebService, defaultModel, withGroups } from '../../e2e/support/opflex/fixtures.ts';

const line = (f: Flow): string => `${f.feature} ${describeFlow(f)}`;
const lines = (flows: Flow[]): string[] => [...new Set(flows.map(line))].sort();

const configs = [
  defaultModel().config,
  DataplaneConfig.parse({
    nodeName: 'n2',
    gateway: { ip: '10.1.0.1', mac: '0a:58:0a:00:00:ff' },
    podSubnets: [{ cidr: '10.1.0.0/16', gateway: '10.1.0.1' }],
  }),
  DataplaneConfig.parse({
    nodeName: 'n3',
    gateway: {
      ip: '10.1.0.1',
      mac: '0a:58:0a:00:00:ff',
      port: 'gw0',
      bridgeDomain: 'bd',
      hostMac: '0a:58:0a:00:00:fe',
    },
    nodeIPs: ['192.168.0.10'],
    podSubnets: [{ cidr: '10.1.0.0/16', gateway: '10.1.0.1' }],
    uplink: { port: 'vxlan0', encap: 'vxlan' },
    bridgeDomainVnis: { bd: 5001, bd2: 5002 },
  }),
];

const groupNames = ['g1', 'g2', 'g3', 'g4', 'missing'];
const ips = ['10.1.0.11', '10.1.0.12', '10.1.0.13', '10.1.0.14', '10.1.0.1'];

const endpoint: fc.Arbitrary<LocalEndpoint> = fc
  .record({
    uuid: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
    ofport: fc.integer({ min: 1, max: 7 }),
    mac: fc.constantFrom('0a:58:0a:00:00:01', '0a:58:0a:00:00:02', '0a:58:0a:00:00:ff'),
    ipv4: fc.subarray(ips, { maxLength: 2 }),
    bd: fc.constantFrom('bd', 'bd2'),
    securityGroups: fc.array(fc.constantFrom(...groupNames), { maxLength: 3 }),
  })
  .map((r): LocalEndpoint => ({
    ...PodA,
    uuid: r.uuid,
    ofport: r.ofport,
    mac: r.mac,
    ipv4: r.ipv4,
    bridgeDomain: r.bd,
    vlan: r.bd === 'bd' ? 100 : 200,
    ...(r.bd === 'bd' ? { vni: 5001 } : { vni: 5002 }),
    securityGroups: r.securityGroups,
  }));

const rule: fc.Arbitrary<SecurityGroupRule> = fc.record(
  {
    direction: fc.constantFrom('ingress' as const, 'egress' as const),
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
    ports: fc.array(
      fc.constantFrom({ from: 80, to: 80 }, { from: 8000, to: 8003 }, { from: 443, to: 443 }),
      { maxLength: 2 },
    ),
    remotes: fc.array(
      fc.constantFrom(
        { cidr: '10.1.0.11/32', except: [] },
        { cidr: '10.1.0.0/24', except: ['10.1.0.12/32'] },
        { cidr: '10.2.0.0/16', except: [] },
        { cidr: 'fd00::/64', except: [] },
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ['direction', 'ports'] },
);

const group = (name: string): fc.Arbitrary<SecurityGroupFile> =>
  fc.record({
    name: fc.constant(name),
    isolates: fc.subarray(['ingress', 'egress'] as const),
    rules: fc.array(rule, { maxLength: 3 }),
  });

const service: fc.Arbitrary<ServiceFile> = fc
  .record({
    uuid: fc.constantFrom('s1', 's2', 's3'),
    frontend: fc.constantFrom('10.96.0.10', '10.96.0.11'),
    affinity: fc.boolean(),
    backends: fc.subarray(ips, { maxLength: 3 }),
  })
  .map((r) => ({
    ...WebService,
    uuid: r.uuid,
    frontends: [{ ip: r.frontend, kind: 'ClusterIP' as const }],
    backends: r.backends,
    sessionAffinity: r.affinity ? ('ClientIP' as const) : ('None' as const),
  }));

const model: fc.Arbitrary<Model> = fc
  .record({
    config: fc.constantFrom(...configs),
    endpoints: fc.array(endpoint, { maxLength: 6 }),
    groups: fc.tuple(...groupNames.slice(0, 4).map(group), fc.subarray([0, 1, 2, 3])),
    services: fc.uniqueArray(service, { maxLength: 2, selector: (s) => s.uuid }),
  })
  .map(({ config, endpoints, groups, services }) => {
    const files = groups.slice(0, 4) as SecurityGroupFile[];
    const present = groups[4] as number[];
    const uplink = config.uplink
      ? { port: config.uplink.port, ofport: 20, encap: config.uplink.encap }
      : undefined;
    return {
      config,
      endpoints,
      securityGroups: new Map(
        present.map((i) => [files[i]?.name ?? '', files[i] as SecurityGroupFile]),
      ),
      services: [...services].sort((a, b) => a.uuid.localeCompare(b.uuid)),
      gatewayOfport: config.gateway.port ? 10 : undefined,
      ...(config.gateway.bridgeDomain ? { gatewayVlan: 100, gatewayVni: 5001 } : {}),
      ...(uplink ? { uplink } : {}),
    };
  });

/** The next model keeps most of the previous one, as a real change does. */
const step = (prev: Model): fc.Arbitrary<Model> =>
  fc.oneof(
    model,
    fc.record({ ep: endpoint, i: fc.nat() }).map(({ ep, i }) => {
      const endpoints = [...prev.endpoints];
      endpoints.splice(i % (endpoints.length + 1), 0, ep);
      return { ...prev, endpoints };
    }),
    fc.nat().map((i) => ({
      ...prev,
      endpoints: prev.endpoints.filter((_ep, j) => j !== i % Math.max(1, prev.endpoints.length)),
    })),
    fc.record({ g: group('g1') }).map(({ g }) => ({
      ...prev,
      securityGroups: new Map([...prev.securityGroups, ['g1', g]]),
    })),
    // Another order: where two endpoints claim one slot, the other one wins now.
    fc.constant({ ...prev, endpoints: [...prev.endpoints].reverse() }),
    fc.constant({
      ...prev,
      // The same content, read again: new objects.
      endpoints: prev.endpoints.map((ep) => ({ ...ep })),
      securityGroups: new Map([...prev.securityGroups].map(([k, g]) => [k, structuredClone(g)])),
    }),
  );

const sequence: fc.Arbitrary<Model[]> = model.chain((m0) =>
  fc.array(fc.nat(), { minLength: 1, maxLength: 6 }).chain((n) => {
    let arb: fc.Arbitrary<Model[]> = fc.constant([m0]);
    for (let i = 0; i < n.length; i++)
      arb = arb.chain((ms) => step(ms[ms.length - 1] as Model).map((m) => [...ms, m]));
    return arb;
  }),
);

const replay = (
  state: DesiredState,
  d: NonNullable<ReturnType<IncrementalRenderer['render']>['delta']>,
): void => {
  for (const c of d.flowDeletes) state.flows.delete(c);
  for (const [c, text] of d.flowAdds) state.flows.set(c, text);
  for (const id of d.groupDeletes) state.groups.delete(id);
  for (const [id, text] of d.groupWrites) state.groups.set(id, text);
};

test('incremental render equals a full render after any sequence of changes', (t) => {
  fc.assert(
    fc.property(sequence, (models) => {
      const r = new IncrementalRenderer('opflex');
      const replica: DesiredState = { flows: new Map(), groups: new Map() };
      let generation = 0;
      for (const m of models) {
        const out = r.render(m);
        const full = renderPipeline(m);
        const want = desiredState('opflex', full.flows, full.groups);
        if (out.delta) {
          if (out.delta.from !== generation) return false;
          replay(replica, out.delta);
        } else {
          replica.flows = new Map(out.state.flows);
          replica.groups = new Map(out.state.groups);
        }
        generation = out.generation;
        t.deepEqual(lines(r.flows()), lines(full.flows));
        t.deepEqual(lines(r.conflicts()), lines(full.conflicts));
        t.true(sameValue(out.state, want), 'desired state');
        t.true(sameValue(replica, want), 'deltas replayed');
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test('one endpoint added changes only its own flows and the clauses of its groups', (t) => {
  const groups: SecurityGroupFile[] = [
    {
      name: 'web',
      isolates: ['ingress'],
      rules: [{ direction: 'ingress', protocol: 'TCP', ports: [{ from: 80, to: 80 }] }],
    },
  ];
  const before = withGroups(defaultModel(), groups, { a: ['web'] });
  const r = new IncrementalRenderer('opflex');
  r.render(before);
  const pod = { ...PodA, uuid: 'c', ofport: 3, mac: '0a:58:0a:00:00:03', ipv4: ['10.1.0.13'] };
  const after = {
    ...before,
    endpoints: [...before.endpoints, { ...pod, securityGroups: ['web'] }],
  };
  const out = r.render(after);
  const added = new Set(desiredState('opflex', renderPipeline(after).flows, []).flows.keys());
  const had = new Set(desiredState('opflex', renderPipeline(before).flows, []).flows.keys());
  t.deepEqual(
    [...(out.delta?.flowAdds.keys() ?? [])].sort(),
    [...added].filter((c) => !had.has(c)).sort(),
  );
  t.deepEqual(
    [...(out.delta?.flowDeletes ?? [])].sort(),
    [...had].filter((c) => !added.has(c)).sort(),
  );
  // Nothing changed: nothing to send.
  const again = r.render({ ...after, endpoints: after.endpoints.map((ep) => ({ ...ep })) });
  t.is(again.delta?.flowAdds.size, 0);
  t.is(again.delta?.flowDeletes.size, 0);
});

test('a stage that throws leaves the next render whole, without a delta', (t) => {
  let fail = false;
  const r = new IncrementalRenderer('opflex', [
    {
      name: 'Flaky',
      kind: 'per-endpoint',
      render: (m) => {
        if (fail && m.endpoints.length > 0) throw new Error('boom');
        return {
          flows: m.endpoints.map((ep) => ({
            table: 'Classifier' as const,
            priority: 200,
            match: `in_port=${ep.ofport}`,
            actions: 'drop',
            feature: 'PodForwarding' as const,
          })),
          groups: [],
        };
      },
    },
  ]);
  r.render(defaultModel());
  fail = true;
  t.throws(() => r.render(defaultModel({ endpoints: [{ ...PodA, ofport: 9 }] })));
  fail = false;
  const out = r.render(defaultModel({ endpoints: [{ ...PodA, ofport: 9 }] }));
  t.is(out.delta, undefined);
  t.deepEqual(
    r.flows().map((f) => f.match),
    ['in_port=9'],
  );
});

test('conjunction ids that collide (the stage probes past one) are rendered with the whole stage, and per group again once they no longer do', (t) => {
  // Two group names whose first rule keys hash to the same id slot (a birthday search).
  const slotOf = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair; i++) {
    const name = `g${i}`;
    const slot = fnv1a(`${name}/ingress/0`) % 0x7ffffff0;
    const other = slotOf.get(slot);
    if (other) pair = [other, name];
    else slotOf.set(slot, name);
  }
  const [a, b] = pair;
  const file = (name: string): SecurityGroupFile => ({
    name,
    isolates: ['ingress'],
    rules: [{ direction: 'ingress', protocol: 'TCP', ports: [{ from: 80, to: 80 }] }],
  });
  const colliding = withGroups(defaultModel(), [file(a), file(b)], { a: [a], b: [b] });
  const apart = withGroups(defaultModel(), [file(a), file(b)], { a: [a], b: [] });
  const r = new IncrementalRenderer('opflex');
  for (const m of [apart, colliding, colliding, apart, colliding]) {
    const out = r.render(m);
    const full = renderPipeline(m);
    t.deepEqual(lines(r.flows()), lines(full.flows));
    t.true(sameValue(out.state, desiredState('opflex', full.flows, full.groups)));
  }
  // The collision is real: one of the two got another id than it would get alone.
  const ids = conjunctionIds([file(a), file(b)]);
  t.true(
    [a, b].some(
      (n) => ids.get(`${n}/ingress/0`) !== conjunctionIds([file(n)]).get(`${n}/ingress/0`),
    ),
  );
});
