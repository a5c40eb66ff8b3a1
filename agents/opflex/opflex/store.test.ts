import test from 'ava';
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import { endpointObjects } from './endpoints.ts';
import { PolicyStore, closure } from './store.ts';

const mo = (subject: string, uri: string, extra: Partial<ManagedObject> = {}): ManagedObject => ({
  subject,
  uri,
  properties: [],
  children: [],
  ...extra,
});
const ref = (subject: string, uri: string) => ({ subject, reference_uri: uri });

const epg = '/PolicyUniverse/PolicySpace/t/GbpEpGroup/a%7ce/';
const bd = '/PolicyUniverse/PolicySpace/t/GbpBridgeDomain/bd/';
const rd = '/PolicyUniverse/PolicySpace/t/GbpRoutingDomain/vrf/';

function policy(): ManagedObject[] {
  return [
    mo('GbpEpGroup', epg, { children: [`${epg}GbpEpGroupToNetworkRSrc/`] }),
    mo('GbpEpGroupToNetworkRSrc', `${epg}GbpEpGroupToNetworkRSrc/`, {
      parent_uri: epg,
      parent_subject: 'GbpEpGroup',
      parent_relation: 'GbpEpGroupToNetworkRSrc',
      properties: [{ name: 'target', data: ref('GbpBridgeDomain', bd) }],
    }),
    mo('GbpBridgeDomain', bd, {
      properties: [{ name: 'routingMode', data: 'enabled' }],
      children: [`${bd}GbpBridgeDomainToNetworkRSrc/`],
    }),
    mo('GbpBridgeDomainToNetworkRSrc', `${bd}GbpBridgeDomainToNetworkRSrc/`, {
      parent_uri: bd,
      properties: [{ name: 'target', data: ref('GbpRoutingDomain', rd) }],
    }),
    mo('GbpRoutingDomain', rd),
  ];
}

test('replace drops the children the object no longer lists; merge keeps them; delete takes the subtree', (t) => {
  const s = new PolicyStore();
  const events: number[] = [];
  s.on('changed', (u) => events.push(u.size));
  s.apply(policy().map((m) => ({ op: 'replace', mo: m })));
  t.is(s.size, 5);
  s.apply([{ op: 'replace', mo: mo('GbpEpGroup', epg) }]);
  t.false(s.has(`${epg}GbpEpGroupToNetworkRSrc/`));
  s.apply([{ op: 'replace', mo: policy()[1] as ManagedObject }]);
  t.deepEqual(
    s.get(epg)?.children,
    [`${epg}GbpEpGroupToNetworkRSrc/`],
    'a child re-attaches to its parent',
  );
  s.apply([{ op: 'merge', mo: mo('GbpEpGroup', epg, { children: [`${epg}GbpeInstContext/`] }) }]);
  t.deepEqual(s.get(epg)?.children.length, 2);
  s.apply([{ op: 'delete', uri: bd }]);
  t.false(s.has(`${bd}GbpBridgeDomainToNetworkRSrc/`));
  // An identical replace is no change and emits nothing.
  const n = events.length;
  s.apply([{ op: 'replace', mo: s.get(rd) as ManagedObject }]);
  t.is(events.length, n);
});

test('the closure follows children and references, names what is missing, and reports loops', (t) => {
  const objects = new Map(policy().map((m) => [m.uri, m]));
  const roots = new Map([[epg, 'GbpEpGroup']]);
  const c = closure(objects, roots);
  t.true(c.reachable.has(rd));
  t.is(c.missing.size, 0);
  objects.delete(rd);
  t.deepEqual([...closure(objects, roots).missing], [[rd, 'GbpRoutingDomain']]);
  // A hostile loop: the routing domain references the EPG back.
  objects.set(
    rd,
    mo('GbpRoutingDomain', rd, { properties: [{ name: 'x', data: [ref('GbpEpGroup', epg)] }] }),
  );
  const looped = closure(objects, roots);
  t.deepEqual(looped.loops, [[epg, bd, rd, epg]]);
  t.true(looped.reachable.has(rd));
});

test('an endpoint is declared once its EPG’s bridge domain (L2) and routing domain (L3) are resolved', (t) => {
  const ep = {
    uuid: 'u1',
    mac: '0a:00:00:00:00:01',
    ips: ['10.2.0.9'],
    interfaceName: 'veth1',
    epgUri: epg,
  };
  t.deepEqual(endpointObjects(new Map(), ep), []);
  const all = new Map(policy().map((m) => [m.uri, m]));
  const objs = endpointObjects(all, ep);
  t.deepEqual(
    objs.map((o) => o.uri),
    [
      '/EprL2Universe/EprL2Ep/%2fPolicyUniverse%2fPolicySpace%2ft%2fGbpBridgeDomain%2fbd%2f/0a%3a00%3a00%3a00%3a00%3a01/',
      '/EprL3Universe/EprL3Ep/%2fPolicyUniverse%2fPolicySpace%2ft%2fGbpRoutingDomain%2fvrf%2f/10.2.0.9/',
    ],
  );
  all.delete(rd);
  t.deepEqual(
    endpointObjects(all, ep).map((o) => o.subject),
    ['EprL2Ep'],
  );
});
