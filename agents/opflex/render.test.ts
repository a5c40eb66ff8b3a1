/**
 * Flow rendering per stage: expected flows are `dump-flows`-like lines with
 * table names, compared as sets (order never matters in OpenFlow).
 */
import test from 'ava';
import { describeFlow, describeGroup, type Flow, Tables } from './pipeline.ts';
import { renderPipeline } from './render.ts';
import { arpFlows } from './stages/arp.ts';
import { classifierFlows } from './stages/classifier.ts';
import { forwardingFlows } from './stages/forwarding.ts';
import { securityGroupFlows } from './stages/securitygroup.ts';
import { serviceFlowsAndGroups } from './stages/service.ts';
import { PodA, WebService, defaultModel, withGroups } from '../../e2e/support/opflex/fixtures.ts';

const lines = (flows: Flow[], filter?: (line: string) => boolean): string[] =>
  flows
    .map(describeFlow)
    .filter(filter ?? (() => true))
    .sort();
const ofPod1 = (l: string): boolean =>
  /in_port=1\b|reg1=0x1\b|nw_dst=10\.1\.0\.11|dl_dst=0a:58:0a:00:00:01|arp_tpa=10\.1\.0\.11|nw_src=10\.1\.0\.11/.test(
    l,
  );

test('tables are numbered in declaration order and stages never go backwards', (t) => {
  t.deepEqual(
    Tables.map((tb) => tb.id),
    Tables.map((_tb, i) => i),
  );
  t.is(Tables[0]?.name, 'Classifier');
  t.is(Tables.at(-1)?.name, 'Output');
});

test('every goto_table points forward', (t) => {
  const m = withGroups(
    defaultModel({ services: [WebService] }),
    [{ name: 'g', isolates: ['ingress'], rules: [{ direction: 'ingress', ports: [] }] }],
    { a: ['g'] },
  );
  const ids = new Map(Tables.map((tb) => [tb.name, tb.id]));
  for (const f of renderPipeline(m).flows) {
    for (const [, target] of f.actions.matchAll(/goto_table:@(\w+)/g))
      t.true((ids.get(target as never) ?? -1) > (ids.get(f.table) ?? 99), describeFlow(f));
  }
});

test('Classifier and SpoofGuard for a pod', (t) => {
  t.deepEqual(lines(classifierFlows(defaultModel()), ofPod1), [
    'table=Classifier, priority=200,in_port=1 actions=load:0x1->NXM_NX_REG0[0..3],load:0x64->NXM_NX_REG2[0..11],goto_table:SpoofGuard',
    'table=SpoofGuard, priority=200,arp,in_port=1,dl_src=0a:58:0a:00:00:01,arp_spa=10.1.0.11,arp_sha=0a:58:0a:00:00:01 actions=goto_table:ARPResponder',
    'table=SpoofGuard, priority=200,ip,in_port=1,dl_src=0a:58:0a:00:00:01,nw_src=10.1.0.11 actions=goto_table:UnSNAT',
  ]);
});

test('Classifier for the gateway and the uplink (by the VLAN of each local bridge domain); spoof guard drops the rest of pod traffic', (t) => {
  t.deepEqual(
    lines(classifierFlows(defaultModel()), (l) => !ofPod1(l) && !/in_port=2\b/.test(l)),
    [
      'table=Classifier, priority=200,in_port=10 actions=load:0x2->NXM_NX_REG0[0..3],goto_table:SpoofGuard',
      'table=Classifier, priority=200,in_port=20 actions=drop',
      'table=Classifier, priority=210,in_port=20,dl_vlan=100 actions=pop_vlan,load:0x64->NXM_NX_REG2[0..11],load:0x3->NXM_NX_REG0[0..3],goto_table:SpoofGuard',
      'table=SpoofGuard, priority=100,reg0=0x1/0xf actions=drop',
      'table=SpoofGuard, priority=50,arp actions=goto_table:ARPResponder',
      'table=SpoofGuard, priority=50,ip actions=goto_table:UnSNAT',
    ],
  );
});

test('ARP: gateway and local pods answered, broadcasts flooded, unicast by MAC or pod subnet (uplink), replies to the leaf SVI to the uplink', (t) => {
  const reply = (mac: string, ip: string): string =>
    `move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:${mac}->eth_src,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:${mac}->arp_sha,move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:${ip}->arp_spa,IN_PORT`;
  t.deepEqual(lines(arpFlows(defaultModel({ endpoints: [PodA] }))), [
    'table=ARPForwarding, priority=190,arp,arp_tpa=10.1.0.0/16 actions=load:0x14->NXM_NX_REG1[0..31],goto_table:Output',
    'table=ARPForwarding, priority=200,arp,dl_dst=0a:58:0a:00:00:01 actions=load:0x1->NXM_NX_REG1[0..31],goto_table:Output',
    'table=ARPForwarding, priority=200,arp,dl_dst=0a:58:0a:00:00:ff actions=load:0xa->NXM_NX_REG1[0..31],goto_table:Output',
    'table=ARPForwarding, priority=205,arp,arp_op=2,dl_dst=0a:58:0a:00:00:ff,arp_tpa=10.1.0.1 actions=load:0x14->NXM_NX_REG1[0..31],goto_table:Output',
    'table=ARPForwarding, priority=210,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:Flood',
    'table=ARPResponder, priority=0 actions=goto_table:ARPForwarding',
    `table=ARPResponder, priority=190,arp,reg0=0x1/0xf,arp_op=1,arp_tpa=10.1.0.11 actions=${reply('0a:58:0a:00:00:01', '10.1.0.11')}`,
    `table=ARPResponder, priority=190,arp,reg0=0x2/0xf,arp_op=1,arp_tpa=10.1.0.11 actions=${reply('0a:58:0a:00:00:01', '10.1.0.11')}`,
    `table=ARPResponder, priority=200,arp,reg0=0x1/0xf,arp_op=1,arp_tpa=10.1.0.1 actions=${reply('0a:58:0a:00:00:ff', '10.1.0.1')}`,
  ]);
});

test('L3Forwarding and Output: local pods, the node itself via the gateway, the rest of the pod subnets and the default route via the uplink (VLAN-tagged, never untagged)', (t) => {
  t.deepEqual(lines(forwardingFlows(defaultModel({ endpoints: [PodA] }))), [
    'table=L3Forwarding, priority=0,ip actions=set_field:0a:58:0a:00:00:ff->eth_dst,load:0x14->NXM_NX_REG1[0..31],goto_table:IngressRule',
    'table=L3Forwarding, priority=190,ip,nw_dst=10.1.0.0/16 actions=load:0x14->NXM_NX_REG1[0..31],goto_table:IngressRule',
    'table=L3Forwarding, priority=195,ip,nw_dst=192.168.0.10 actions=set_field:0a:58:0a:00:00:ff->eth_dst,load:0xa->NXM_NX_REG1[0..31],goto_table:IngressRule',
    'table=L3Forwarding, priority=200,ip,nw_dst=10.1.0.11 actions=set_field:0a:58:0a:00:00:01->eth_dst,load:0x1->NXM_NX_REG1[0..31],goto_table:IngressRule',
    'table=Output, priority=200,reg1=0x1 actions=output:1',
    'table=Output, priority=200,reg1=0x14 actions=push_vlan:0x8100,move:NXM_NX_REG2[0..11]->NXM_OF_VLAN_TCI[0..11],output:20',
    'table=Output, priority=200,reg1=0xa actions=output:10',
    'table=Output, priority=210,in_port=1,reg1=0x1 actions=IN_PORT',
    'table=Output, priority=210,reg1=0x14,reg2=0x0/0xfff actions=drop',
  ]);
});

test('security group: a rule with remotes and ports becomes one 3-clause conjunction', (t) => {
  const m = withGroups(
    defaultModel(),
    [
      {
        name: 'web',
        isolates: ['ingress'],
        rules: [
          {
            direction: 'ingress',
            protocol: 'TCP',
            ports: [{ from: 80, to: 81 }],
            remotes: [{ cidr: '10.0.0.0/30', except: ['10.0.0.1/32'] }],
          },
        ],
      },
    ],
    { a: ['web'] },
  );
  const flows = securityGroupFlows(m);
  const conj = /conjunction\((\d+),/.exec(flows.map(describeFlow).join('\n'))?.[1] ?? '?';
  t.deepEqual(
    lines(flows, (l) => l.includes('IngressRule') || l.includes('IngressDefault')),
    [
      `table=IngressDefault, priority=0 actions=goto_table:ContractSource`,
      `table=IngressDefault, priority=200,ip,reg1=0x1 actions=drop`,
      `table=IngressRule, priority=0 actions=goto_table:IngressDefault`,
      `table=IngressRule, priority=200,conj_id=${conj},ip actions=goto_table:ContractSource`,
      `table=IngressRule, priority=200,ip,nw_src=10.0.0.0 actions=conjunction(${conj},2/3)`,
      `table=IngressRule, priority=200,ip,nw_src=10.0.0.2/31 actions=conjunction(${conj},2/3)`,
      `table=IngressRule, priority=200,ip,reg1=0x1 actions=conjunction(${conj},1/3)`,
      `table=IngressRule, priority=200,tcp,tp_dst=0x50/0xfffe actions=conjunction(${conj},3/3)`,
      'table=IngressRule, priority=210,ct_state=-new+trk,ip actions=goto_table:ContractSource',
      'table=IngressRule, priority=210,ip,reg0=0x2/0xf actions=goto_table:ConntrackCommit',
    ],
  );
});

test('security group: an allow-all egress rule is a direct flow; only isolated directions get a default deny', (t) => {
  const m = withGroups(
    defaultModel(),
    [{ name: 'out', isolates: ['egress'], rules: [{ direction: 'egress', ports: [] }] }],
    { b: ['out'] },
  );
  t.deepEqual(
    lines(securityGroupFlows(m), (l) => /in_port=|reg1=0x/.test(l)),
    [
      'table=EgressDefault, priority=200,ip,in_port=2 actions=drop',
      'table=EgressRule, priority=201,ip,in_port=2 actions=goto_table:L3Forwarding',
    ],
  );
});

test('security group: shared clause matches carry every rule’s conjunction on one flow', (t) => {
  const rule = {
    direction: 'ingress' as const,
    protocol: 'TCP' as const,
    ports: [{ from: 80, to: 80 }],
    remotes: [{ cidr: '10.9.0.0/16', except: [] }],
  };
  const m = withGroups(
    defaultModel(),
    [
      { name: 'g1', isolates: ['ingress'], rules: [rule] },
      {
        name: 'g2',
        isolates: ['ingress'],
        rules: [{ ...rule, remotes: [{ cidr: '10.8.0.0/16', except: [] }] }],
      },
    ],
    { a: ['g1', 'g2'] },
  );
  const portFlows = lines(securityGroupFlows(m), (l) => l.includes('tp_dst=0x50'));
  t.is(portFlows.length, 1);
  t.regex(portFlows[0] ?? '', /actions=conjunction\(\d+,3\/3\),conjunction\(\d+,3\/3\)$/);
});

test('security group: a referenced group that has no file yet isolates both directions (fail closed)', (t) => {
  const m = withGroups(defaultModel(), [], { a: ['missing'] });
  t.deepEqual(
    lines(securityGroupFlows(m), (l) => l.includes('drop')),
    [
      'table=EgressDefault, priority=200,ip,in_port=1 actions=drop',
      'table=IngressDefault, priority=200,ip,reg1=0x1 actions=drop',
    ],
  );
});

test('service: a select group per port, per-backend target ports, DNAT per backend', (t) => {
  const { flows, groups } = serviceFlowsAndGroups(defaultModel({ services: [WebService] }));
  const [g] = groups;
  t.is(groups.length, 1);
  t.is(
    describeGroup(g ?? { id: 0, spec: '' }),
    `group_id=${g?.id},type=select,bucket=bucket_id:0,weight:100,actions=load:0xa01000b->NXM_NX_REG3[0..31],load:0x1f90->NXM_NX_REG4[0..15],resubmit(,EndpointDNAT),bucket=bucket_id:1,weight:100,actions=load:0xa01000c->NXM_NX_REG3[0..31],load:0x2382->NXM_NX_REG4[0..15],resubmit(,EndpointDNAT)`,
  );
  t.deepEqual(
    lines(flows, (l) => /ServiceLB, priority=200|EndpointDNAT, priority=200/.test(l)),
    [
      'table=EndpointDNAT, priority=200,tcp,reg3=0xa01000b,reg4=0x1f90/0xffff actions=ct(commit,table=EgressRule,zone=65520,nat(dst=10.1.0.11:8080),exec(set_field:0x1/0x1->ct_mark))',
      'table=EndpointDNAT, priority=200,tcp,reg3=0xa01000c,reg4=0x2382/0xffff actions=ct(commit,table=EgressRule,zone=65520,nat(dst=10.1.0.12:9090),exec(set_field:0x1/0x1->ct_mark))',
      `table=ServiceLB, priority=200,tcp,reg4=0x10000/0x30000,nw_dst=10.96.0.10,tp_dst=80 actions=group:${g?.id}`,
    ],
  );
});

test('service: NodePort matches every node IP; ClientIP affinity adds the learn and selected flows', (t) => {
  const svc = {
    ...WebService,
    sessionAffinity: 'ClientIP' as const,
    affinityTimeoutSeconds: 30,
    ports: [
      { name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080, nodePort: 30080 },
    ],
  };
  const { flows, groups } = serviceFlowsAndGroups(defaultModel({ services: [svc] }));
  const lb = lines(
    flows,
    (l) => l.includes('ServiceLB, priority=1') || l.includes('ServiceLB, priority=2'),
  );
  t.true(lb.some((l) => l.includes('nw_dst=192.168.0.10,tp_dst=30080 actions=group:')));
  t.true(
    lb.some((l) =>
      l.includes(
        'reg4=0x20000/0x30000,nw_dst=10.96.0.10,tp_dst=80 actions=goto_table:EndpointDNAT',
      ),
    ),
  );
  t.true(
    lb.some((l) =>
      /reg4=0x30000\/0x30000,nw_dst=10\.96\.0\.10,tp_dst=80 actions=learn\(table=SessionAffinity,idle_timeout=30,.*NXM_OF_IP_SRC\[\].*\),goto_table:EndpointDNAT/.test(
        l,
      ),
    ),
  );
  t.regex(
    describeGroup(groups[0] ?? { id: 0, spec: '' }),
    /load:0x3->NXM_NX_REG4\[16\.\.17\],resubmit\(,ServiceLB\)/,
  );
});

test('render: no two flows share table, priority and match', (t) => {
  const m = withGroups(
    defaultModel({ services: [WebService] }),
    [{ name: 'g', isolates: ['ingress', 'egress'], rules: [] }],
    { a: ['g'], b: ['g'] },
  );
  const r = renderPipeline(m);
  t.deepEqual(r.conflicts, []);
  const keys = r.flows.map((f) => `${f.table}|${f.priority}|${f.match}`);
  t.is(new Set(keys).size, keys.length);
});

test('the host stack reaches other nodes’ pods: in the pod BD, proxy ARP with the router MAC, its own MAC toward the leaf', (t) => {
  const base = defaultModel({ endpoints: [PodA] });
  const m = {
    ...base,
    config: {
      ...base.config,
      gateway: { ...base.config.gateway, bridgeDomain: 'bd', hostMac: '02:ac:00:00:00:01' },
      bridgeDomainVlans: { bd: 100 },
    },
    gatewayVlan: 100,
  };
  const all = lines([...classifierFlows(m), ...arpFlows(m), ...forwardingFlows(m)], (l) =>
    /in_port=10 |reg0=0x2\/0xf,arp_op=1,arp_tpa=10\.1\.0\.0|02:ac:00:00:00:01/.test(l),
  );
  t.deepEqual(all, [
    'table=ARPResponder, priority=180,arp,reg0=0x2/0xf,arp_op=1,arp_tpa=10.1.0.0/16 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:0a:58:0a:00:00:ff->eth_src,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:0a:58:0a:00:00:ff->arp_sha,push:NXM_OF_ARP_TPA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],pop:NXM_OF_ARP_SPA[],IN_PORT',
    'table=Classifier, priority=200,in_port=10 actions=load:0x2->NXM_NX_REG0[0..3],load:0x64->NXM_NX_REG2[0..11],goto_table:SpoofGuard',
    'table=Output, priority=205,reg0=0x2/0xf,reg1=0x14 actions=set_field:02:ac:00:00:00:01->eth_src,push_vlan:0x8100,move:NXM_NX_REG2[0..11]->NXM_OF_VLAN_TCI[0..11],output:20',
  ]);
});
