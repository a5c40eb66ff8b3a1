import test from 'ava';
import { isReference, propertyOf, type ManagedObject } from '../../../lib/opflex/mo.ts';
import { ModelClasses } from '../../../lib/opflex/model-classes.ts';
import { childUri, platformConfigUri } from '../../../lib/opflex/uri.ts';
import { IdAllocator } from './ids.ts';
import { type ApicObject, mapApicTree, networkOf, subtree, uris } from './mapping.ts';

const o = (className: string, dn: string, attributes: Record<string, string> = {}): ApicObject => ({
  className,
  dn,
  attributes: { dn, ...attributes },
});

/** Tenant kube: VRF, BD with a subnet, EPGs A (consumes web), B (provides web), C (isolated), vzAny. */
function fabric(): ApicObject[] {
  const t = 'uni/tn-kube';
  return [
    o('fvTenant', t, { name: 'kube' }),
    o('fvTenant', 'uni/tn-common', { name: 'common' }),
    o('fvCtx', `${t}/ctx-vrf`, { name: 'vrf', pcEnfPref: 'enforced' }),
    o('vzAny', `${t}/ctx-vrf/any`),
    o('vzRsAnyToCons', `${t}/ctx-vrf/any/rsanyToCons-dns`, { tnVzBrCPName: 'dns' }),
    o('fvBD', `${t}/BD-bd-pods`, { name: 'bd-pods', unicastRoute: 'yes' }),
    o('fvRsCtx', `${t}/BD-bd-pods/rsctx`, { tnFvCtxName: 'vrf' }),
    o('fvSubnet', `${t}/BD-bd-pods/subnet-[10.2.0.1/16]`, { ip: '10.2.0.1/16' }),
    o('fvAp', `${t}/ap-kubernetes`, { name: 'kubernetes' }),
    o('fvAEPg', `${t}/ap-kubernetes/epg-A`, { name: 'A' }),
    o('fvRsBd', `${t}/ap-kubernetes/epg-A/rsbd`, { tnFvBDName: 'bd-pods' }),
    o('fvRsCons', `${t}/ap-kubernetes/epg-A/rscons-web`, { tnVzBrCPName: 'web' }),
    o('fvAEPg', `${t}/ap-kubernetes/epg-B`, { name: 'B' }),
    o('fvRsBd', `${t}/ap-kubernetes/epg-B/rsbd`, { tnFvBDName: 'bd-pods' }),
    o('fvRsProv', `${t}/ap-kubernetes/epg-B/rsprov-web`, { tnVzBrCPName: 'web' }),
    o('fvAEPg', `${t}/ap-kubernetes/epg-C`, { name: 'C', pcEnfPref: 'enforced' }),
    o('fvRsBd', `${t}/ap-kubernetes/epg-C/rsbd`, { tnFvBDName: 'bd-pods' }),
    o('vzFilter', `${t}/flt-http`, { name: 'http' }),
    o('vzEntry', `${t}/flt-http/e-web`, {
      name: 'web',
      etherT: 'ip',
      prot: 'tcp',
      dFromPort: 'http',
      dToPort: '8080',
      stateful: 'yes',
    }),
    o('vzBrCP', `${t}/brc-web`, { name: 'web' }),
    o('vzSubj', `${t}/brc-web/subj-s`, { name: 's', revFltPorts: 'yes' }),
    o('vzRsSubjFiltAtt', `${t}/brc-web/subj-s/rssubjFiltAtt-http`, { tnVzFilterName: 'http' }),
    // The dns contract and its filter live in common: name resolution falls back to it.
    o('vzFilter', 'uni/tn-common/flt-dns', { name: 'dns' }),
    o('vzEntry', 'uni/tn-common/flt-dns/e-udp', {
      etherT: 'ipv4',
      prot: 'udp',
      dFromPort: 'dns',
      dToPort: 'dns',
    }),
    o('vzBrCP', 'uni/tn-common/brc-dns', { name: 'dns' }),
    o('vzSubj', 'uni/tn-common/brc-dns/subj-s', { revFltPorts: 'no' }),
    o('vzRsSubjFiltAtt', 'uni/tn-common/brc-dns/subj-s/rssubjFiltAtt-dns', {
      tnVzFilterName: 'dns',
      action: 'deny',
    }),
    o('hostprotPol', `${t}/pol-np1`, { name: 'np1' }),
    o('hostprotSubj', `${t}/pol-np1/subj-ingress`, { name: 'ingress' }),
    o('hostprotRule', `${t}/pol-np1/subj-ingress/rule-r1`, {
      direction: 'ingress',
      ethertype: 'ipv4',
      protocol: 'tcp',
      fromPort: '443',
      toPort: '443',
    }),
    o('hostprotRemoteIp', `${t}/pol-np1/subj-ingress/rule-r1/ip-[10.3.0.0/24]`, {
      addr: '10.3.0.0/24',
    }),
  ];
}

const platform = { domain: 'kube-domain', encapType: 'vxlan' as const };
const map = (objects = fabric(), ids = new IdAllocator()): Map<string, ManagedObject> =>
  mapApicTree(objects, { platform, ids });

const epg = (name: string): string => uris.epGroup('kube', 'kubernetes', name);
const relationTargets = (u: Map<string, ManagedObject>, uri: string, relation: string): string[] =>
  (u.get(uri)?.children ?? [])
    .map((c) => u.get(c))
    .filter((c): c is ManagedObject => c?.subject === relation)
    .map((c) => propertyOf(c, 'target'))
    .flatMap((t) => (isReference(t) ? [t.reference_uri] : []));

test('every class and property name is the reference model’s', (t) => {
  const u = map();
  t.true(u.size > 40);
  for (const mo of u.values()) {
    const props = ModelClasses[mo.subject];
    t.truthy(props, `class ${mo.subject}`);
    for (const p of mo.properties) t.true(props?.includes(p.name), `${mo.subject}.${p.name}`);
  }
});

test('the universe is a closed tree: children exist and point back, references resolve', (t) => {
  const u = map();
  for (const mo of u.values()) {
    for (const c of mo.children) {
      t.is(u.get(c)?.parent_uri, mo.uri, `child ${c} of ${mo.uri}`);
      t.is(u.get(c)?.parent_relation, u.get(c)?.subject);
    }
    if (mo.parent_uri !== undefined) t.true(u.get(mo.parent_uri)?.children.includes(mo.uri));
    for (const p of mo.properties)
      if (isReference(p.data)) {
        t.is(
          u.get(p.data.reference_uri)?.subject,
          p.data.subject,
          `${mo.uri} → ${p.data.reference_uri}`,
        );
      }
  }
});

test('EPG → BD → VRF with instance contexts; ACI names become modelgbp URIs', (t) => {
  const u = map();
  const a = u.get(epg('A'));
  t.is(a?.uri, '/PolicyUniverse/PolicySpace/kube/GbpEpGroup/kubernetes%7cA/');
  t.is(propertyOf(a as ManagedObject, 'intraGroupPolicy'), 'allow');
  t.deepEqual(relationTargets(u, epg('A'), 'GbpEpGroupToNetworkRSrc'), [
    uris.bridgeDomain('kube', 'bd-pods'),
  ]);
  t.deepEqual(
    relationTargets(u, uris.bridgeDomain('kube', 'bd-pods'), 'GbpBridgeDomainToNetworkRSrc'),
    [uris.routingDomain('kube', 'vrf')],
  );
  const ctx = u.get(childUri(epg('A'), 'GbpeInstContext')) as ManagedObject;
  t.true(Number(propertyOf(ctx, 'classid')) >= 16386);
  t.true(Number(propertyOf(ctx, 'encapId')) >= 15_000_000);
  const subnet = u.get(
    childUri(uris.subnets('kube', 'bd-pods'), 'GbpSubnet', '10.2.0.1/16'),
  ) as ManagedObject;
  t.is(subnet.uri, '/PolicyUniverse/PolicySpace/kube/GbpSubnets/bd-pods/GbpSubnet/10.2.0.1%2f16/');
  t.deepEqual(
    ['address', 'prefixLen', 'virtualRouterIp'].map((p) => propertyOf(subnet, p)),
    ['10.2.0.0', 16, '10.2.0.1'],
  );
  t.truthy(u.get(platformConfigUri('kube-domain')));
});

test('provider and consumer relations, with vzAny added to every EPG of the VRF', (t) => {
  const u = map();
  const web = uris.contract('kube', 'web');
  const dns = uris.contract('common', 'dns');
  t.deepEqual(
    relationTargets(u, epg('A'), 'GbpEpGroupToConsContractRSrc').sort(),
    [dns, web].sort(),
  );
  t.deepEqual(relationTargets(u, epg('B'), 'GbpEpGroupToProvContractRSrc'), [web]);
  t.deepEqual(relationTargets(u, epg('B'), 'GbpEpGroupToConsContractRSrc'), [dns]);
  t.deepEqual(relationTargets(u, epg('C'), 'GbpEpGroupToConsContractRSrc'), [dns]);
  t.true(
    u.has(
      `${epg('A')}GbpEpGroupToConsContractRSrc/288/%2fPolicyUniverse%2fPolicySpace%2fkube%2fGbpContract%2fweb%2f/`,
    ),
  );
  // pcEnfPref enforced without an intra-EPG contract: isolated.
  t.is(propertyOf(u.get(epg('C')) as ManagedObject, 'intraGroupPolicy'), 'deny');
});

test('subjects, rules and classifiers: ports by name, ranges, reverse rule, stateful, deny', (t) => {
  const u = map();
  const subj = childUri(uris.contract('kube', 'web'), 'GbpSubject', 's');
  const fwd = u.get(childUri(subj, 'GbpRule', 'http')) as ManagedObject;
  const rev = u.get(childUri(subj, 'GbpRule', 'http-rev')) as ManagedObject;
  t.is(propertyOf(fwd, 'direction'), 'in');
  t.is(propertyOf(rev, 'direction'), 'out');
  const c = u.get(
    relationTargets(u, fwd.uri, 'GbpRuleToClassifierRSrc')[0] as string,
  ) as ManagedObject;
  t.deepEqual(
    ['etherT', 'prot', 'dFromPort', 'dToPort', 'connectionTracking'].map((p) => propertyOf(c, p)),
    ['ipv4', 6, 80, 8080, 'reflexive'],
  );
  const r = u.get(
    relationTargets(u, rev.uri, 'GbpRuleToClassifierRSrc')[0] as string,
  ) as ManagedObject;
  t.deepEqual(
    [propertyOf(r, 'sFromPort'), propertyOf(r, 'sToPort'), propertyOf(r, 'dFromPort')],
    [80, 8080, undefined],
  );
  const allow = u.get(
    relationTargets(u, fwd.uri, 'GbpRuleToActionRSrc')[0] as string,
  ) as ManagedObject;
  t.is(propertyOf(allow, 'allow'), 1);
  // dns: no reverse rule (revFltPorts=no), deny action, udp 53.
  const dnsSubj = childUri(uris.contract('common', 'dns'), 'GbpSubject', 's');
  t.falsy(u.get(childUri(dnsSubj, 'GbpRule', 'dns-rev')));
  const dnsRule = childUri(dnsSubj, 'GbpRule', 'dns');
  const deny = u.get(
    relationTargets(u, dnsRule, 'GbpRuleToActionRSrc')[0] as string,
  ) as ManagedObject;
  t.is(propertyOf(deny, 'allow'), 0);
  const udp = u.get(
    relationTargets(u, dnsRule, 'GbpRuleToClassifierRSrc')[0] as string,
  ) as ManagedObject;
  t.deepEqual(
    [propertyOf(udp, 'prot'), propertyOf(udp, 'dFromPort'), propertyOf(udp, 'connectionTracking')],
    [17, 53, 'normal'],
  );
});

test('hostprotPol becomes a GbpSecGroup with its classifier and remote subnets', (t) => {
  const u = map();
  const rule = childUri(
    uris.secGroup('kube', 'np1'),
    'GbpSecGroupSubject',
    'ingress',
    'GbpSecGroupRule',
    'r1',
  );
  t.is(propertyOf(u.get(rule) as ManagedObject, 'direction'), 'in');
  const cls = u.get(
    relationTargets(u, rule, 'GbpRuleToClassifierRSrc')[0] as string,
  ) as ManagedObject;
  t.deepEqual([propertyOf(cls, 'prot'), propertyOf(cls, 'dFromPort')], [6, 443]);
  const remote = relationTargets(u, rule, 'GbpSecGroupRuleToRemoteAddressRSrc')[0] as string;
  t.deepEqual(
    subtree(u, remote).map((m) => m.subject),
    ['GbpSubnets', 'GbpSubnet'],
  );
});

test('ids are stable: the same tree maps to the same ids in a fresh allocator, and a new EPG moves nobody', (t) => {
  const first = map();
  const again = map(fabric(), new IdAllocator());
  t.deepEqual([...again.values()], [...first.values()]);
  const ids = new IdAllocator();
  const before = map(fabric(), ids);
  const after = map(
    [...fabric(), o('fvAEPg', 'uni/tn-kube/ap-kubernetes/epg-D', { name: 'D' })],
    ids,
  );
  for (const name of ['A', 'B', 'C'])
    t.deepEqual(
      after.get(childUri(epg(name), 'GbpeInstContext')),
      before.get(childUri(epg(name), 'GbpeInstContext')),
    );
  const classIds = [...after.values()]
    .filter((m) => m.subject === 'GbpeInstContext')
    .map((m) => propertyOf(m, 'classid'));
  t.is(new Set(classIds).size, classIds.length, 'class ids are unique');
});

test('a relation to something that does not exist is left out (fail-closed)', (t) => {
  const u = map([
    ...fabric(),
    o('fvRsProv', 'uni/tn-kube/ap-kubernetes/epg-C/rsprov-missing', { tnVzBrCPName: 'missing' }),
  ]);
  t.deepEqual(relationTargets(u, epg('C'), 'GbpEpGroupToProvContractRSrc'), []);
});

test('gateway addresses give their network', (t) => {
  t.deepEqual(networkOf('10.2.56.1/21'), {
    address: '10.2.56.0',
    prefixLen: 21,
    gateway: '10.2.56.1',
  });
  t.deepEqual(networkOf('192.168.1.7/32'), {
    address: '192.168.1.7',
    prefixLen: 32,
    gateway: '192.168.1.7',
  });
});
