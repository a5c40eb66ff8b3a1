/**
 * The contract stage: expected flows as `dump-flows`-like lines with table
 * names, compared as sets.
 */
import test from 'ava';
import fc from 'fast-check';
import { portsOfMask } from '../../../lib/net/port-masks.ts';
import type { Model } from '../model.ts';
import { type Flow, describeFlow } from '../pipeline.ts';
import { epgUri } from '../policy/contract-model.ts';
import { resolveContracts } from '../policy/resolve.ts';
import { renderPipeline } from '../render.ts';
import { PodA, PodB, defaultModel } from '../../../e2e/support/opflex/fixtures.ts';
import { type PolicySpec, policyObjects } from '../../../e2e/support/opflex/policy-fixture.ts';
import { classifierMatches, contractFlows } from './contracts.ts';

const uri = (name: string): string => epgUri({ tenant: 'kube', appProfile: 'kubernetes', name });
const lines = (flows: Flow[], table?: string): string[] =>
  flows
    .map(describeFlow)
    .filter((l) => table === undefined || l.startsWith(`table=${table},`))
    .sort();

const spec: PolicySpec = {
  epgs: [
    { name: 'a', classId: 0x65, consumes: ['web'] },
    { name: 'b', classId: 0x66, provides: ['web'], intraGroupPolicy: 'deny' },
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
              classifiers: [{ name: 'tcp80', prot: 6, dFromPort: 80, dToPort: 81 }],
            },
          ],
        },
      ],
    },
  ],
  remoteEndpoints: [{ ip: '10.1.9.9', epg: 'b' }],
};

function model(s: PolicySpec = spec, change: Partial<Model> = {}): Model {
  return defaultModel({
    endpoints: [
      { ...PodA, endpointGroup: uri('a') },
      { ...PodB, endpointGroup: uri('b') },
    ],
    contracts: resolveContracts(policyObjects(s)),
    ...change,
  });
}

test('without a policy source the stage passes everything', (t) => {
  t.deepEqual(lines(contractFlows(defaultModel())), [
    'table=ContractSource, priority=0 actions=goto_table:ConntrackCommit',
  ]);
});

test('local pods get their EPG class as source (in_port) and destination (output port)', (t) => {
  const flows = contractFlows(model());
  t.deepEqual(
    lines(flows, 'ContractSource').filter((l) => l.includes('in_port')),
    [
      'table=ContractSource, priority=200,ip,in_port=1 actions=load:0x65->NXM_NX_REG6[0..31],goto_table:ContractDestination',
      'table=ContractSource, priority=200,ip,in_port=2 actions=load:0x66->NXM_NX_REG6[0..31],goto_table:ContractDestination',
    ],
  );
  t.true(
    lines(flows, 'ContractDestination').includes(
      'table=ContractDestination, priority=200,ip,reg1=0x1 actions=load:0x65->NXM_NX_REG7[0..31],goto_table:ContractPolicy',
    ),
  );
});

test('a consumer→provider rule with a port range becomes masked flows keyed by both classes', (t) => {
  t.deepEqual(
    lines(contractFlows(model()), 'ContractPolicy'),
    [
      'table=ContractPolicy, priority=0 actions=drop',
      'table=ContractPolicy, priority=16384,tcp,tp_dst=0x50/0xfffe,reg6=0x65,reg7=0x66 actions=goto_table:ConntrackCommit',
      // b denies intra-EPG traffic (above every contract), a allows it.
      'table=ContractPolicy, priority=16785,ip,reg6=0x66,reg7=0x66 actions=drop',
      'table=ContractPolicy, priority=16584,ip,reg6=0x65,reg7=0x65 actions=goto_table:ConntrackCommit',
    ].sort(),
  );
});

test("established traffic and the node itself bypass contracts; what crosses the fabric unclassified is the fabric's", (t) => {
  const flows = lines(contractFlows(model()));
  for (const l of [
    'table=ContractSource, priority=210,ct_state=-new+trk,ip actions=goto_table:ConntrackCommit',
    'table=ContractSource, priority=205,ip,reg0=0x2/0xf actions=goto_table:ConntrackCommit',
    'table=ContractDestination, priority=0 actions=goto_table:ConntrackCommit',
    // Fabric traffic of no known EPG: the leaf applied its policy.
    'table=ContractSource, priority=170,ip,reg0=0x3/0xf actions=goto_table:ConntrackCommit',
  ])
    t.true(flows.includes(l), l);
});

test('fabric traffic is classified by a resolved remote endpoint address and by EPG encap VLAN', (t) => {
  const withEncap = structuredClone(spec);
  if (withEncap.epgs[0]) withEncap.epgs[0].encapId = 3005;
  const flows = lines(contractFlows(model(withEncap)));
  for (const l of [
    'table=ContractSource, priority=180,ip,reg0=0x3/0xf,nw_src=10.1.9.9 actions=load:0x66->NXM_NX_REG6[0..31],goto_table:ContractDestination',
    'table=ContractDestination, priority=190,ip,nw_dst=10.1.9.9 actions=load:0x66->NXM_NX_REG7[0..31],goto_table:ContractPolicy',
    'table=ContractSource, priority=190,ip,reg0=0x3/0xf,reg2=0xbbd/0xfff actions=load:0x65->NXM_NX_REG6[0..31],goto_table:ContractDestination',
  ])
    t.true(flows.includes(l), l);
});

test('an encap id that two EPGs claim classifies nothing', (t) => {
  const s = structuredClone(spec);
  s.epgs = s.epgs.map((e) => ({ ...e, encapId: 3005 }));
  t.false(lines(contractFlows(model(s))).some((l) => l.includes('reg2=0xbbd')));
});

test('a pod whose EPG is not resolved is isolated both ways', (t) => {
  const m = model(spec, {
    endpoints: [{ ...PodA, endpointGroup: uri('missing') }],
  });
  const flows = lines(contractFlows(m));
  t.true(flows.includes('table=ContractSource, priority=200,ip,in_port=1 actions=drop'));
  t.true(flows.includes('table=ContractDestination, priority=200,ip,reg1=0x1 actions=drop'));
});

test('an unenforced VRF allows everything to and from its EPGs, above intra-EPG deny', (t) => {
  const s = structuredClone(spec);
  s.vrfs = { vrf: false };
  const flows = lines(contractFlows(model(s)), 'ContractPolicy');
  t.true(
    flows.includes(
      'table=ContractPolicy, priority=16884,ip,reg7=0x66 actions=goto_table:ConntrackCommit',
    ),
  );
  t.true(
    flows.includes(
      'table=ContractPolicy, priority=16884,ip,reg6=0x66 actions=goto_table:ConntrackCommit',
    ),
  );
});

test('deny wins over allow at the same rule priority', (t) => {
  const s: PolicySpec = {
    epgs: [
      { name: 'a', classId: 0x65, consumes: ['allow', 'deny'] },
      { name: 'b', classId: 0x66, provides: ['allow', 'deny'] },
    ],
    contracts: ['allow', 'deny'].map((name) => ({
      name,
      subjects: [
        {
          name: 's',
          rules: [
            {
              name: 'r',
              direction: 'in' as const,
              action: name as 'allow' | 'deny',
              classifiers: [{ name: `${name}-tcp80`, prot: 6, dFromPort: 80 }],
            },
          ],
        },
      ],
    })),
  };
  const policy = lines(contractFlows(model(s)), 'ContractPolicy').filter((l) =>
    l.includes('tp_dst'),
  );
  t.deepEqual(policy, [
    'table=ContractPolicy, priority=16384,tcp,tp_dst=0x50,reg6=0x65,reg7=0x66 actions=goto_table:ConntrackCommit',
    'table=ContractPolicy, priority=16385,tcp,tp_dst=0x50,reg6=0x65,reg7=0x66 actions=drop',
  ]);
});

test('classifiers the IPv4 pipeline cannot match new connections with render nothing', (t) => {
  t.deepEqual(classifierMatches({ etherType: 0x86dd, reflexive: false }), []);
  t.deepEqual(classifierMatches({ etherType: 0x0806, reflexive: false }), []);
  t.deepEqual(classifierMatches({ protocol: 6, tcpFlags: 1, reflexive: false }), []);
  t.deepEqual(classifierMatches({ dstPorts: { from: 80, to: 80 }, reflexive: false }), []);
  t.deepEqual(classifierMatches({ reflexive: false }), ['ip']);
  t.deepEqual(classifierMatches({ protocol: 1, icmpType: 8, reflexive: false }), [
    'icmp,icmp_type=8',
  ]);
  t.deepEqual(classifierMatches({ protocol: 47, reflexive: false }), ['ip,nw_proto=47']);
});

test('property: source × destination port masks cover exactly the two ranges', (t) => {
  const range = fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
  fc.assert(
    fc.property(range, range, (src, dst) => {
      const matches = classifierMatches({
        protocol: 17,
        srcPorts: src,
        dstPorts: dst,
        reflexive: false,
      });
      const spans = (key: string): [number, number][] =>
        [...new Set(matches.map((m) => new RegExp(`(?:^|,)${key}=([^,]+)`).exec(m)?.[1] ?? ''))]
          .map(portsOfMask)
          .sort((x, y) => x[0] - y[0]);
      const covers = (s: [number, number][], r: { from: number; to: number }): boolean =>
        s[0]?.[0] === r.from &&
        s.at(-1)?.[1] === r.to &&
        s.every((x, i) => i === 0 || x[0] === (s[i - 1]?.[1] ?? -2) + 1);
      return covers(spans('tp_src'), src) && covers(spans('tp_dst'), dst);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('the whole pipeline renders without conflicts and every contract goto points forward', (t) => {
  const r = renderPipeline(model());
  t.deepEqual(r.conflicts, []);
  t.true(r.flows.some((f) => f.table === 'ContractPolicy' && f.feature === 'Contract'));
});

test('a reflexive classifier applied provider -> consumer allows replies only (no new-connection flow)', (t) => {
  const s = structuredClone(spec);
  const rule = s.contracts[0]?.subjects[0]?.rules[0];
  if (rule) {
    rule.direction = 'bidirectional';
    rule.classifiers = [{ name: 'tcp80', prot: 6, dFromPort: 80, connectionTracking: 'reflexive' }];
  }
  const policy = lines(contractFlows(model(s)), 'ContractPolicy').filter((l) => l.includes('tp_'));
  t.deepEqual(policy, [
    'table=ContractPolicy, priority=16384,tcp,tp_dst=0x50,reg6=0x65,reg7=0x66 actions=goto_table:ConntrackCommit',
  ]);
});

// ---- the ContractPolicy table as OVS would run it, against the model's meaning ----

interface Packet {
  src: number;
  dst: number;
  proto: 6 | 17;
  sport: number;
  dport: number;
}

const ProtocolOf: Record<string, number | undefined> = { tcp: 6, udp: 17, sctp: 132, icmp: 1 };

/** One OpenFlow match against a packet (only what ContractPolicy flows use). */
function flowMatches(match: string, p: Packet): boolean {
  return match
    .split(',')
    .filter(Boolean)
    .every((field) => {
      if (field === 'ip') return true;
      if (field in ProtocolOf) return ProtocolOf[field] === p.proto;
      const [key = '', value = ''] = field.split('=');
      const [v, m] = value.split('/');
      const masked = (x: number, full: number): boolean =>
        (x & (m === undefined ? full : Number(m))) === Number(v);
      if (key === 'nw_proto') return Number(value) === p.proto;
      if (key === 'tp_src') return masked(p.sport, 0xffff);
      if (key === 'tp_dst') return masked(p.dport, 0xffff);
      if (key === 'reg6') return masked(p.src, 0xffffffff);
      if (key === 'reg7') return masked(p.dst, 0xffffffff);
      throw new Error(`unexpected match field ${field}`);
    });
}

function tableVerdict(flows: Flow[], p: Packet): 'allow' | 'drop' {
  const hits = flows
    .filter((f) => f.table === 'ContractPolicy' && flowMatches(f.match, p))
    .sort((a, b) => b.priority - a.priority);
  return hits[0]?.actions === 'drop' || hits.length === 0 ? 'drop' : 'allow';
}

/** The meaning, straight from the model: VRF, intra-EPG policy, then the best rule (deny wins a tie). */
function modelVerdict(m: Model, p: Packet): 'allow' | 'drop' {
  const epgs = [...(m.contracts?.epgs.values() ?? [])];
  const of = (cls: number): (typeof epgs)[number] | undefined =>
    epgs.find((e) => e.classId === cls);
  if (of(p.src)?.enforced === false || of(p.dst)?.enforced === false) return 'allow';
  if (p.src === p.dst) {
    const intra = of(p.src)?.intraGroup;
    if (intra === 'deny') return 'drop';
    if (intra === 'allow') return 'allow';
  }
  const inRange = (r: { from: number; to: number } | undefined, port: number): boolean =>
    r === undefined || (port >= r.from && port <= r.to);
  const candidates = (m.contracts?.rules ?? []).filter(
    (r) =>
      r.srcClass === p.src &&
      r.dstClass === p.dst &&
      r.match.protocol === p.proto &&
      inRange(r.match.srcPorts, p.sport) &&
      inRange(r.match.dstPorts, p.dport) &&
      !(r.direction === 'out' && r.match.reflexive && r.action === 'allow'),
  );
  const top = Math.max(...candidates.map((r) => r.priority));
  const best = candidates.filter((r) => r.priority === top);
  if (best.length === 0) return 'drop';
  return best.some((r) => r.action === 'deny') ? 'drop' : 'allow';
}

test("property: the ContractPolicy table gives the contract model's verdict for every packet", (t) => {
  const port = fc.integer({ min: 0, max: 24 });
  const range = fc
    .tuple(port, port)
    .map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
  const classifier = fc.record({
    prot: fc.constantFrom(6, 17),
    src: fc.option(range, { nil: undefined }),
    dst: fc.option(range, { nil: undefined }),
    connectionTracking: fc.constantFrom('normal' as const, 'reflexive' as const),
  });
  const rule = fc.record({
    direction: fc.constantFrom('in' as const, 'out' as const, 'bidirectional' as const),
    action: fc.constantFrom('allow' as const, 'deny' as const),
    classifiers: fc.array(classifier, { minLength: 1, maxLength: 2 }),
  });
  const contracts = ['k1', 'k2'];
  const relation = fc.subarray(contracts);
  const epg = fc.record({
    intraGroupPolicy: fc.constantFrom(
      'allow' as const,
      'require-contract' as const,
      'deny' as const,
    ),
    provides: relation,
    consumes: relation,
    intra: relation,
  });
  const scenario = fc.record({
    epgs: fc.tuple(epg, epg, epg),
    rules: fc.tuple(
      fc.array(rule, { minLength: 1, maxLength: 3 }),
      fc.array(rule, { minLength: 1, maxLength: 3 }),
    ),
    enforced: fc.boolean(),
  });
  const packet = fc.record({
    src: fc.integer({ min: 1, max: 3 }),
    dst: fc.integer({ min: 1, max: 3 }),
    proto: fc.constantFrom(6 as const, 17 as const),
    sport: port,
    dport: port,
  });
  let id = 0;
  fc.assert(
    fc.property(scenario, fc.array(packet, { minLength: 20, maxLength: 20 }), (s, packets) => {
      const prefix = `p${id++}`;
      const policy: PolicySpec = {
        vrfs: { vrf: s.enforced },
        epgs: s.epgs.map((e, i) => ({ name: ['a', 'b', 'c'][i] ?? '', classId: i + 1, ...e })),
        contracts: contracts.map((name, ci) => ({
          name,
          subjects: [
            {
              name: 's',
              rules: (s.rules[ci] ?? []).map((r, ri) => ({
                name: `r${ri}`,
                direction: r.direction,
                action: r.action,
                classifiers: r.classifiers.map((c, k) => ({
                  name: `${prefix}-${name}-${ri}-${k}`,
                  prot: c.prot,
                  connectionTracking: c.connectionTracking,
                  ...(c.src ? { sFromPort: c.src.from, sToPort: c.src.to } : {}),
                  ...(c.dst ? { dFromPort: c.dst.from, dToPort: c.dst.to } : {}),
                })),
              })),
            },
          ],
        })),
      };
      const m = defaultModel({
        endpoints: ['a', 'b', 'c'].map((n, i) => ({
          ...PodA,
          uuid: n,
          ofport: i + 1,
          ipv4: [`10.1.0.${i + 1}`],
          ipv6: [],
          endpointGroup: uri(n),
        })),
        contracts: resolveContracts(policyObjects(policy)),
      });
      const flows = contractFlows(m);
      return packets.every((p) => tableVerdict(flows, p) === modelVerdict(m, p));
    }),
    { numRuns: 300 },
  );
  t.pass();
});
