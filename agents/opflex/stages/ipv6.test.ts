/**
 * Dual stack in the rendered pipeline: an IPv4-only node renders no IPv6
 * flow at all, a dual-stack pod gets its IPv6 twins in every stage that
 * has them, and security groups and contracts never let IPv6 past a
 * policy written for IPv4. Real packets: agents/opflex/ipv6.dataplane.test.ts.
 */
import test from 'ava';
import { describeFlow, type Flow } from '../pipeline.ts';
import { renderPipeline } from '../render.ts';
import type { Model } from '../model.ts';
import { DataplaneConfig } from '../model.ts';
import { classifierFlows } from './classifier.ts';
import { arpFlows } from './arp.ts';
import { securityGroupFlows } from './securitygroup.ts';
import { classifierMatches, contractFlows } from './contracts.ts';
import { resolveContracts } from '../policy/resolve.ts';
import { policyObjects } from '../../../e2e/support/opflex/policy-fixture.ts';
import { serviceFlowsAndGroups } from './service.ts';
import { epgUri } from '../policy/contract-model.ts';
import { PodA, PodB, defaultModel, withGroups } from '../../../e2e/support/opflex/fixtures.ts';

const lines = (flows: Flow[], filter: (line: string) => boolean = () => true): string[] =>
  flows.map(describeFlow).filter(filter).sort();
const isIPv6 = (l: string): boolean => /ipv6|icmp6|tcp6|udp6|sctp6|nd_/.test(l);

const dualStack = (change: Partial<Model> = {}): Model => {
  const base = defaultModel();
  return {
    ...base,
    config: DataplaneConfig.parse({
      ...base.config,
      podSubnets: [...base.config.podSubnets, { cidr: 'fd00:1::/64', gateway: 'fd00:1::1' }],
    }),
    endpoints: [
      { ...PodA, ipv6: ['fd00:1::11'] },
      { ...PodB, ipv6: ['fd00:1::12'] },
    ],
    ...change,
  };
};

test('an IPv4-only node renders no IPv6 flow', (t) => {
  const m = withGroups(
    defaultModel(),
    [
      {
        name: 'g',
        isolates: ['ingress', 'egress'],
        rules: [
          {
            direction: 'ingress',
            ports: [{ from: 80, to: 80 }],
            remotes: [{ cidr: 'fd00:9::/64', except: [] }],
          },
        ],
      },
    ],
    { a: ['g'] },
  );
  t.deepEqual(lines(renderPipeline(m).flows, isIPv6), []);
});

test('SpoofGuard of a dual-stack pod: its IPv6 source, solicitations from it or link-local, advertisements of its own address; other ND from pods dropped', (t) => {
  const pod1 = (l: string): boolean => /in_port=1\b|reg0=0x1\/0xf,icmp_type/.test(l);
  t.deepEqual(
    lines(classifierFlows(dualStack()), (l) => isIPv6(l) && pod1(l)),
    [
      'table=SpoofGuard, priority=200,ipv6,in_port=1,dl_src=0a:58:0a:00:00:01,ipv6_src=fd00:1::11 actions=goto_table:UnSNAT',
      'table=SpoofGuard, priority=205,icmp6,reg0=0x1/0xf,icmp_type=134 actions=drop',
      'table=SpoofGuard, priority=205,icmp6,reg0=0x1/0xf,icmp_type=135 actions=drop',
      'table=SpoofGuard, priority=205,icmp6,reg0=0x1/0xf,icmp_type=136 actions=drop',
      'table=SpoofGuard, priority=205,icmp6,reg0=0x1/0xf,icmp_type=137 actions=drop',
      'table=SpoofGuard, priority=210,icmp6,in_port=1,dl_src=0a:58:0a:00:00:01,icmp_type=136,icmp_code=0,nd_target=fd00:1::11 actions=goto_table:ARPResponder',
      'table=SpoofGuard, priority=210,icmp6,in_port=1,dl_src=0a:58:0a:00:00:01,ipv6_src=fd00:1::11,icmp_type=135,icmp_code=0 actions=goto_table:ARPResponder',
      'table=SpoofGuard, priority=210,icmp6,in_port=1,dl_src=0a:58:0a:00:00:01,ipv6_src=fe80::/10,icmp_type=135,icmp_code=0 actions=goto_table:ARPResponder',
    ],
  );
});

test('the gateway and local pods answer solicitations (router flag for the gateway), in two passes', (t) => {
  const flows = lines(arpFlows(dualStack()), isIPv6);
  const gateway = flows.find((l) => l.includes('nd_target=fd00:1::1,'));
  t.regex(gateway ?? '', /priority=200,.*icmp_type=135.*set_field:0a:58:0a:00:00:ff->eth_src/);
  t.regex(
    gateway ?? '',
    /set_field:fd00:1::1->ipv6_src,set_field:136->icmpv6_type,set_field:0xe0000000->nd_reserved/,
  );
  const pod = flows.find((l) => l.includes('nd_target=fd00:1::12'));
  t.regex(
    pod ?? '',
    /priority=190,.*set_field:0a:58:0a:00:00:02->eth_src.*set_field:0x60000000->nd_reserved/,
  );
  t.true(
    flows.includes(
      'table=ARPForwarding, priority=220,icmp6,icmp_type=136,icmp_code=0,reg0=0x10/0x10 actions=move:NXM_OF_ETH_SRC[]->NXM_NX_ND_TLL[],IN_PORT',
    ),
  );
});

test('security groups: an isolated dual-stack pod is isolated in IPv6 too, and an ipBlock admits only its own family', (t) => {
  const m = withGroups(
    dualStack(),
    [
      {
        name: 'g',
        isolates: ['ingress'],
        rules: [
          {
            direction: 'ingress',
            protocol: 'TCP',
            ports: [{ from: 80, to: 80 }],
            remotes: [
              { cidr: 'fd00:1::/64', except: ['fd00:1::12/128'] },
              { cidr: '10.1.0.0/16', except: [] },
            ],
          },
        ],
      },
    ],
    { a: ['g'] },
  );
  const flows = lines(securityGroupFlows(m));
  t.true(flows.includes('table=IngressDefault, priority=200,ipv6,reg1=0x1 actions=drop'));
  t.true(flows.includes('table=IngressDefault, priority=200,ip,reg1=0x1 actions=drop'));
  // The IPv6 block minus its except, as prefixes; the IPv4 block as it is.
  const remotes = flows
    .filter((l) => /nw_src|ipv6_src/.test(l))
    .map((l) => /(nw|ipv6)_src=(\S+)/.exec(l)?.[2]);
  t.true(remotes.includes('10.1.0.0/16'));
  t.false(remotes.some((r) => r === 'fd00:1::/64' || r === 'fd00:1::12'));
  t.true(remotes.includes('fd00:1::13'));
  t.true(remotes.includes('fd00:1:0:0:8000::/65'), remotes.join(' '));
  t.true(flows.some((l) => l.includes(',tcp6,tp_dst=0x50 ')));
  t.true(flows.some((l) => /conj_id=\d+,ipv6 actions=goto_table:ContractSource/.test(l)));
});

test('contracts: IPv6 twins of the class flows and rules; ICMP and ICMPv6 classifiers each in their own family', (t) => {
  const uri = (name: string): string => epgUri({ tenant: 'kube', appProfile: 'kubernetes', name });
  const policy = resolveContracts(
    policyObjects({
      epgs: [
        { name: 'a', classId: 0x65, consumes: ['web'] },
        { name: 'b', classId: 0x66, provides: ['web'] },
      ],
      contracts: [
        {
          name: 'web',
          subjects: [
            {
              name: 's',
              rules: [
                {
                  name: 'r',
                  direction: 'in',
                  classifiers: [
                    { name: 'tcp80', prot: 6, dFromPort: 80, dToPort: 80 },
                    { name: 'ping', prot: 1 },
                    { name: 'ping6', prot: 58 },
                  ],
                },
              ],
            },
          ],
        },
      ],
      remoteEndpoints: [{ ip: 'fd00:1::99', epg: 'b' }],
    }),
  );
  const m = dualStack({ contracts: policy });
  m.endpoints = [
    { ...m.endpoints[0]!, endpointGroup: uri('a') },
    { ...m.endpoints[1]!, endpointGroup: uri('b') },
  ];
  const flows = lines(contractFlows(m));
  for (const expected of [
    'table=ContractSource, priority=200,ipv6,in_port=1 actions=load:0x65->NXM_NX_REG6[0..31],goto_table:ContractDestination',
    'table=ContractDestination, priority=200,ipv6,reg1=0x2 actions=load:0x66->NXM_NX_REG7[0..31],goto_table:ContractPolicy',
    'table=ContractSource, priority=210,ct_state=-new+trk,ipv6 actions=goto_table:ConntrackCommit',
    'table=ContractDestination, priority=190,ipv6,ipv6_dst=fd00:1::99 actions=load:0x66->NXM_NX_REG7[0..31],goto_table:ContractPolicy',
  ])
    t.true(flows.includes(expected), expected);
  const rules = flows.filter(
    (l) => l.startsWith('table=ContractPolicy') && l.includes('reg6=0x65'),
  );
  t.true(rules.some((l) => l.includes(',tcp6,tp_dst=0x50,')));
  t.true(rules.some((l) => l.includes(',tcp,tp_dst=0x50,')));
  t.true(rules.some((l) => l.includes(',icmp,')));
  t.true(rules.some((l) => l.includes(',icmp6,')));
  t.false(rules.some((l) => /ipv6,nw_proto=1\b|ip,nw_proto=58\b/.test(l)));
  t.is(classifierMatches({ etherType: 0x86dd, reflexive: false }, 'ip').length, 0);
  t.deepEqual(classifierMatches({ etherType: 0x86dd, reflexive: false }, 'ipv6'), ['ipv6']);
  // No IPv6 on the node: not one IPv6 contract flow.
  t.deepEqual(lines(contractFlows(defaultModel({ contracts: policy })), isIPv6), []);
});

test('services: an IPv6 frontend gets its own group of the IPv6 backends; affinity services keep IPv4 only', (t) => {
  const service = {
    uuid: 'web',
    namespace: 'default',
    name: 'web',
    frontends: [
      { ip: '10.96.0.10', kind: 'ClusterIP' as const },
      { ip: 'fd00:96::10', kind: 'ClusterIP' as const },
    ],
    ports: [{ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080 }],
    backends: ['10.1.0.11', 'fd00:1::11'],
    sessionAffinity: 'None' as const,
    affinityTimeoutSeconds: 10800,
  };
  const { flows, groups } = serviceFlowsAndGroups(dualStack({ services: [service] }));
  t.is(groups.length, 2);
  const v6Group = groups.find((g) => g.spec.includes('xxreg2'));
  t.regex(v6Group?.spec ?? '', /set_field:0xfd000001000000000000000000000011->xxreg2/);
  t.notRegex(v6Group?.spec ?? '', /0xa01000b/);
  const described = lines(flows);
  t.true(
    described.some((l) =>
      l.startsWith(
        `table=ServiceLB, priority=200,tcp6,reg4=0x10000/0x30000,ipv6_dst=fd00:96::10,tp_dst=80 actions=group:${v6Group?.id}`,
      ),
    ),
  );
  t.true(
    described.some((l) =>
      l.includes(
        'tcp6,xxreg2=0xfd000001000000000000000000000011,reg4=0x1f90/0xffff actions=ct(commit,table=EgressRule,zone=65520,nat(dst=[fd00:1::11]:8080)',
      ),
    ),
  );
  const sticky = { ...service, sessionAffinity: 'ClientIP' as const };
  const affinity = serviceFlowsAndGroups(dualStack({ services: [sticky] }));
  t.is(affinity.groups.length, 1);
  t.deepEqual(lines(affinity.flows, isIPv6), []);
});
