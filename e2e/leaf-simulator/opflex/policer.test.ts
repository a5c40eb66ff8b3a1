/**
 * The leaf's policy flows from what its OpFlex server holds: EPGs A (two
 * endpoints) and B, A consumes TCP 8080 from B; an endpoint of an unknown
 * EPG and an address declared twice stay unclassified.
 */
import test from 'ava';
import { resolveContracts } from '../../../agents/opflex/policy/resolve.ts';
import { epGroupUri } from '../../../lib/opflex/uri.ts';
import { IdAllocator } from './ids.ts';
import { type ApicObject, mapApicTree } from './mapping.ts';
import { LeafPolicyCookie, leafEndpoints, leafPolicyLines } from './policer.ts';
import type { RegisteredEndpoint } from './server.ts';

const o = (className: string, dn: string, attributes: Record<string, string> = {}): ApicObject => ({
  className,
  dn,
  attributes: { dn, ...attributes },
});

function apic(): ApicObject[] {
  const t = 'uni/tn-kube';
  const epg = (name: string, rel?: [string, string]): ApicObject[] => [
    o('fvAEPg', `${t}/ap-k/epg-${name}`, { name }),
    o('fvRsBd', `${t}/ap-k/epg-${name}/rsbd`, { tnFvBDName: 'bd' }),
    ...(rel ? [o(rel[0], `${t}/ap-k/epg-${name}/${rel[1]}`, { tnVzBrCPName: 'web' })] : []),
  ];
  return [
    o('fvTenant', t, { name: 'kube' }),
    o('fvCtx', `${t}/ctx-vrf`, { name: 'vrf' }),
    o('fvBD', `${t}/BD-bd`, { name: 'bd', unicastRoute: 'yes' }),
    o('fvRsCtx', `${t}/BD-bd/rsctx`, { tnFvCtxName: 'vrf' }),
    o('fvAp', `${t}/ap-k`, { name: 'k' }),
    ...epg('A', ['fvRsCons', 'rscons-web']),
    ...epg('B', ['fvRsProv', 'rsprov-web']),
    o('vzFilter', `${t}/flt-http`, { name: 'http' }),
    o('vzEntry', `${t}/flt-http/e-web`, {
      name: 'web',
      etherT: 'ip',
      prot: 'tcp',
      dFromPort: '8080',
      dToPort: '8080',
      stateful: 'yes',
    }),
    o('vzBrCP', `${t}/brc-web`, { name: 'web' }),
    o('vzSubj', `${t}/brc-web/subj-s`, { name: 's', revFltPorts: 'yes' }),
    o('vzRsSubjFiltAtt', `${t}/brc-web/subj-s/rssubjFiltAtt-http`, { tnVzFilterName: 'http' }),
  ];
}

const epgA = epGroupUri('kube', 'k|A');
const epgB = epGroupUri('kube', 'k|B');

function declared(ip: string, group: string): RegisteredEndpoint {
  return {
    uri: `/EprL3Universe/EprL3Ep/rd/${ip}/`,
    subject: 'EprL3Ep',
    objects: [
      {
        subject: 'EprL3Ep',
        uri: `/EprL3Universe/EprL3Ep/rd/${ip}/`,
        properties: [
          { name: 'ip', data: ip },
          { name: 'group', data: group },
        ],
        children: [],
      },
    ],
    declaredBy: 'node',
    expiresAt: 0,
  };
}

function model() {
  const universe = mapApicTree(apic(), {
    platform: { domain: 'd', encapType: 'vlan' },
    ids: new IdAllocator(),
  });
  return resolveContracts(universe.values());
}

test('endpoints are the EprL3Ep addresses and their EPGs', (t) => {
  t.deepEqual(leafEndpoints([declared('10.2.0.5', epgA), declared('10.2.1.5', epgB)]), [
    { ip: '10.2.0.5', epg: epgA },
    { ip: '10.2.1.5', epg: epgB },
  ]);
});

test('classes by address, the contract between them, no rule: drop; the rest NORMAL', (t) => {
  const m = model();
  const a = m.epgs.get(epgA)?.classId ?? 0;
  const b = m.epgs.get(epgB)?.classId ?? 0;
  t.true(a > 0 && b > 0 && a !== b);
  const lines = leafPolicyLines(
    m,
    leafEndpoints([
      declared('10.2.0.5', epgA),
      declared('10.2.0.6', epgA),
      declared('10.2.1.5', epgB),
      declared('10.2.9.9', epGroupUri('kube', 'k|nowhere')),
      declared('10.2.7.7', epgA),
      declared('10.2.7.7', epgB),
    ]),
  );
  const cookie = `cookie=0x${LeafPolicyCookie.toString(16)}`;
  t.is(lines[0], `flow delete ${cookie}/-1`);
  t.true(lines.slice(1).every((l) => l.startsWith(`flow add ${cookie},`)));
  const hex = (n: number) => `0x${n.toString(16)}`;
  const has = (fragment: string) => lines.some((l) => l.includes(fragment));
  t.true(has('table=0,priority=50,ip,actions=ct(table=1,zone=7)'));
  t.true(has('table=1,priority=100,ct_state=-new+trk,ip,actions=NORMAL'));
  t.true(has(`nw_src=10.2.0.5,actions=load:${hex(a)}->NXM_NX_REG6[0..31],resubmit(,2)`));
  t.true(has(`nw_src=10.2.1.5,actions=load:${hex(b)}->NXM_NX_REG6[0..31],resubmit(,2)`));
  t.true(has(`nw_dst=10.2.1.5,actions=load:${hex(b)}->NXM_NX_REG7[0..31],resubmit(,3)`));
  // Unknown EPG, or one address in two EPGs: never classified.
  t.false(has('10.2.9.9'));
  t.false(has('10.2.7.7'));
  // A consumes TCP 8080 (0x1f90) from B: allowed A -> B, and only that (replies pass conntrack).
  const rules = lines.filter((l) => l.includes('table=3,') && !l.includes('priority=0,'));
  t.true(
    rules.some(
      (l) =>
        l.includes(`tcp,tp_dst=0x1f90,reg6=${hex(a)},reg7=${hex(b)}`) &&
        l.endsWith('actions=ct(commit,zone=7),NORMAL'),
    ),
    rules.join('\n'),
  );
  t.false(rules.some((l) => l.includes(`reg6=${hex(b)},reg7=${hex(a)}`) && !l.endsWith('drop')));
  t.true(has('table=3,priority=0,actions=drop'));
});

test('without endpoints only the conntrack and default rows, so nothing is dropped', (t) => {
  const lines = leafPolicyLines(model(), []);
  t.deepEqual(
    lines.slice(1).map((l) => l.replace(/^flow add cookie=0x[0-9a-f]+,/, '')),
    [
      'table=0,priority=50,ip,actions=ct(table=1,zone=7)',
      'table=1,priority=100,ct_state=-new+trk,ip,actions=NORMAL',
      'table=1,priority=0,actions=NORMAL',
      'table=2,priority=0,actions=NORMAL',
      'table=3,priority=0,actions=drop',
    ],
  );
});
