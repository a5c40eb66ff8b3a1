/**
 * Convergence, as a property: whatever the APIC tree does between two
 * states, an agent store that held the first state's resolved subtrees and
 * applies the server's policy_update (libopflex semantics, the client's
 * PolicyStore) holds exactly the second state's.
 */
import test from 'ava';
import fc from 'fast-check';
import { PolicyStore } from '../../../agents/opflex/opflex/store.ts';
import type { ManagedObject } from '../../../lib/opflex/mo.ts';
import { IdAllocator } from './ids.ts';
import { type ApicObject, mapApicTree, subtree, uris } from './mapping.ts';
import { policyUpdateFor } from './server.ts';

const t0 = 'uni/tn-kube';
const o = (className: string, dn: string, attributes: Record<string, string> = {}): ApicObject => ({
  className,
  dn,
  attributes: { dn, ...attributes },
});

/** A tree from choices: which optional objects exist and what the entry's ports are. */
const tree = fc
  .record({
    cons: fc.boolean(),
    prov: fc.boolean(),
    subnet: fc.boolean(),
    rsCtx: fc.boolean(),
    isolated: fc.boolean(),
    reverse: fc.boolean(),
    entries: fc.subarray(['80', '443', '8080', '53']),
    epgs: fc.subarray(['A', 'B', 'C'], { minLength: 1 }),
  })
  .map((c): ApicObject[] => {
    const out = [
      o('fvTenant', t0),
      o('fvCtx', `${t0}/ctx-vrf`),
      o('fvBD', `${t0}/BD-bd`),
      o('fvAp', `${t0}/ap-k`),
      o('vzFilter', `${t0}/flt-f`),
      o('vzBrCP', `${t0}/brc-web`),
      o('vzSubj', `${t0}/brc-web/subj-s`, { revFltPorts: c.reverse ? 'yes' : 'no' }),
      o('vzRsSubjFiltAtt', `${t0}/brc-web/subj-s/rssubjFiltAtt-f`, { tnVzFilterName: 'f' }),
    ];
    if (c.rsCtx) out.push(o('fvRsCtx', `${t0}/BD-bd/rsctx`, { tnFvCtxName: 'vrf' }));
    if (c.subnet)
      out.push(o('fvSubnet', `${t0}/BD-bd/subnet-[10.2.0.1/16]`, { ip: '10.2.0.1/16' }));
    for (const port of c.entries)
      out.push(
        o('vzEntry', `${t0}/flt-f/e-p${port}`, { prot: 'tcp', dFromPort: port, dToPort: port }),
      );
    for (const e of c.epgs) {
      const dn = `${t0}/ap-k/epg-${e}`;
      out.push(o('fvAEPg', dn, { pcEnfPref: c.isolated ? 'enforced' : 'unenforced' }));
      out.push(o('fvRsBd', `${dn}/rsbd`, { tnFvBDName: 'bd' }));
      if (c.cons) out.push(o('fvRsCons', `${dn}/rscons-web`, { tnVzBrCPName: 'web' }));
      if (c.prov) out.push(o('fvRsProv', `${dn}/rsprov-web`, { tnVzBrCPName: 'web' }));
    }
    return out;
  });

const roots = [
  ...['A', 'B', 'C'].map((e) => uris.epGroup('kube', 'k', e)),
  uris.bridgeDomain('kube', 'bd'),
  uris.routingDomain('kube', 'vrf'),
  uris.contract('kube', 'web'),
  uris.subnets('kube', 'bd'),
  uris.classifier('kube', 'f|p80'),
  uris.classifier('kube', 'f|p443|rev'),
];

const held = (u: ReadonlyMap<string, ManagedObject>): Map<string, ManagedObject> =>
  new Map(roots.flatMap((r) => subtree(u, r)).map((m) => [m.uri, m]));

test('an agent store converges to the new tree through one policy_update', (t) => {
  fc.assert(
    fc.property(tree, tree, (first, second) => {
      const options = {
        platform: { domain: 'd', encapType: 'vxlan' as const },
        ids: new IdAllocator(),
      };
      const before = mapApicTree(first, options);
      const after = mapApicTree(second, options);
      const store = new PolicyStore();
      store.apply([...held(before).values()].map((mo) => ({ op: 'replace', mo })));
      const update = policyUpdateFor(before, after, roots);
      if (update)
        store.apply([
          ...update.replace.map((mo) => ({ op: 'replace' as const, mo })),
          ...update.delete.map((d) => ({ op: 'delete' as const, uri: d.uri })),
        ]);
      const want = held(after);
      t.deepEqual([...store.values()].map((m) => m.uri).sort(), [...want.keys()].sort());
      for (const mo of store.values())
        t.deepEqual({ ...mo, children: [...mo.children].sort() }, want.get(mo.uri));
      if (update === undefined) t.deepEqual(held(before), want);
    }),
    { numRuns: 150 },
  );
});
