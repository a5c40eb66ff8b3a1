import test from 'ava';
import { ApicError, MoTree, parseQueryOptions } from './tree.ts';

const q = (s = '') => parseQueryOptions(new URLSearchParams(s));
const dns = (r: { imdata: Array<Record<string, { attributes?: Record<string, string> }>> }) =>
  r.imdata.map((m) => Object.values(m)[0]?.attributes?.dn);

function tenantTree(): MoTree {
  const tree = new MoTree();
  tree.post('uni', {
    fvTenant: {
      attributes: { name: 'kube' },
      children: [
        {
          fvBD: {
            attributes: { name: 'pod-bd', arpFlood: 'yes' },
            children: [
              { fvSubnet: { attributes: { ip: '10.2.0.1/16' } } },
              { fvRsCtx: { attributes: { tnFvCtxName: 'vrf' } } },
            ],
          },
        },
        { fvCtx: { attributes: { name: 'vrf' } } },
        {
          fvAp: {
            attributes: { name: 'kubernetes' },
            children: [{ fvAEPg: { attributes: { name: 'default' } } }],
          },
        },
      ],
    },
  });
  return tree;
}

test('a nested POST to the parent URL creates the tree with DNs from the naming rules', (t) => {
  const tree = tenantTree();
  t.is(tree.get('uni/tn-kube/BD-pod-bd/subnet-[10.2.0.1/16]')?.attrs.ip, '10.2.0.1/16');
  t.is(tree.get('uni/tn-kube/BD-pod-bd/rsctx')?.attrs.tnFvCtxName, 'vrf');
  t.is(tree.get('uni/tn-kube/ap-kubernetes/epg-default')?.cls, 'fvAEPg');
  t.is(tree.get('uni/tn-kube/BD-pod-bd')?.attrs.unicastRoute, 'yes', 'defaults are filled in');
});

test('POST merges attributes into an existing object', (t) => {
  const tree = tenantTree();
  const changes = tree.post('uni/tn-kube/BD-pod-bd', {
    fvBD: { attributes: { dn: 'uni/tn-kube/BD-pod-bd', descr: 'pods' } },
  });
  const bd = tree.get('uni/tn-kube/BD-pod-bd');
  t.is(bd?.attrs.descr, 'pods');
  t.is(bd?.attrs.arpFlood, 'yes');
  t.is(changes.length, 1);
  t.is(changes[0]?.status, 'modified');
  t.deepEqual(Object.keys(changes[0]?.attrs ?? {}).sort(), ['descr', 'dn', 'modTs']);
});

test('status created fails on an existing object and leaves the tree unchanged', (t) => {
  const tree = tenantTree();
  const err = t.throws(
    () =>
      tree.post('uni/tn-kube', {
        fvTenant: {
          attributes: { dn: 'uni/tn-kube', descr: 'x' },
          children: [
            { fvCtx: { attributes: { name: 'new' } } },
            { fvBD: { attributes: { name: 'pod-bd', status: 'created' } } },
          ],
        },
      }),
    { instanceOf: ApicError },
  );
  t.is(err?.httpStatus, 400);
  t.is(tree.get('uni/tn-kube/ctx-new'), undefined, 'the POST is one transaction');
  t.is(tree.get('uni/tn-kube')?.attrs.descr, '');
});

test('status modified fails on a missing object', (t) => {
  const tree = tenantTree();
  t.throws(
    () =>
      tree.post('uni/tn-nope', {
        fvTenant: { attributes: { dn: 'uni/tn-nope', status: 'modified' } },
      }),
    { instanceOf: ApicError },
  );
  t.is(tree.get('uni/tn-nope'), undefined);
});

test('status deleted removes the subtree; HTTP DELETE too; deleting twice is a no-op', (t) => {
  const tree = tenantTree();
  tree.post('uni/tn-kube', {
    fvTenant: {
      attributes: { dn: 'uni/tn-kube' },
      children: [{ fvBD: { attributes: { dn: 'uni/tn-kube/BD-pod-bd', status: 'deleted' } } }],
    },
  });
  t.is(tree.get('uni/tn-kube/BD-pod-bd/subnet-[10.2.0.1/16]'), undefined);
  t.truthy(tree.get('uni/tn-kube/ctx-vrf'));
  const changes = tree.delete('uni/tn-kube/ap-kubernetes');
  t.deepEqual(changes.map((c) => c.dn).sort(), [
    'uni/tn-kube/ap-kubernetes',
    'uni/tn-kube/ap-kubernetes/epg-default',
  ]);
  t.deepEqual(tree.delete('uni/tn-kube/ap-kubernetes'), []);
});

test('creating under a missing parent is refused', (t) => {
  const tree = new MoTree();
  const err = t.throws(
    () => tree.post('uni/tn-x/BD-b', { fvBD: { attributes: { dn: 'uni/tn-x/BD-b', name: 'b' } } }),
    { instanceOf: ApicError },
  );
  t.regex(err?.message ?? '', /parent/);
});

const namingErrors: Array<[string, string, Record<string, Record<string, unknown>>]> = [
  ['URL and dn disagree', 'uni/tn-a', { fvTenant: { attributes: { dn: 'uni/tn-b' } } }],
  [
    'dn and naming property disagree',
    'uni/tn-a',
    { fvTenant: { attributes: { dn: 'uni/tn-a', name: 'b' } } },
  ],
  ['dn with the wrong RN prefix', 'uni/BD-a', { fvTenant: { attributes: { dn: 'uni/BD-a' } } }],
  [
    'class in the wrong parent',
    'uni/tn-common/ap-a/BD-b',
    { fvBD: { attributes: { dn: 'uni/tn-common/ap-a/BD-b' } } },
  ],
  [
    'unknown class',
    'uni/tn-common/foo-a',
    { fvFoo: { attributes: { dn: 'uni/tn-common/foo-a' } } },
  ],
  [
    'unknown property',
    'uni/tn-common',
    { fvTenant: { attributes: { dn: 'uni/tn-common', colour: 'red' } } },
  ],
];
for (const [name, url, body] of namingErrors) {
  test(`POST is a 400 error: ${name}`, (t) => {
    const tree = new MoTree();
    tree.post('uni/tn-common', { fvAp: { attributes: { name: 'a' } } });
    const err = t.throws(() => tree.post(url, body as never), { instanceOf: ApicError });
    t.is(err?.httpStatus, 400);
  });
}

test('query-target, target-subtree-class and filters', (t) => {
  const tree = tenantTree();
  t.deepEqual(dns(tree.queryMo('uni/tn-kube', q())), ['uni/tn-kube']);
  t.deepEqual(dns(tree.queryMo('uni/tn-kube', q('query-target=children'))), [
    'uni/tn-kube/BD-pod-bd',
    'uni/tn-kube/ap-kubernetes',
    'uni/tn-kube/ctx-vrf',
  ]);
  t.deepEqual(
    dns(
      tree.queryMo('uni/tn-kube', q('query-target=subtree&target-subtree-class=fvSubnet,fvAEPg')),
    ),
    ['uni/tn-kube/BD-pod-bd/subnet-[10.2.0.1/16]', 'uni/tn-kube/ap-kubernetes/epg-default'],
  );
  t.deepEqual(dns(tree.queryClass('fvTenant', q('query-target-filter=eq(fvTenant.name,"kube")'))), [
    'uni/tn-kube',
  ]);
  t.deepEqual(
    dns(
      tree.queryClass('fvTenant', q('query-target-filter=wcard(fvTenant.name,"^(common|mgmt)$")')),
    ),
    ['uni/tn-common', 'uni/tn-mgmt'],
  );
  t.deepEqual(dns(tree.queryMo('uni/tn-missing', q())), []);
});

test('rsp-subtree, rsp-subtree-class and rsp-prop-include shape the response', (t) => {
  const tree = tenantTree();
  const full = tree.queryMo(
    'uni/tn-kube',
    q('rsp-subtree=full&rsp-subtree-class=fvSubnet&rsp-prop-include=naming-only'),
  );
  t.deepEqual(full.imdata, [
    {
      fvTenant: {
        attributes: { dn: 'uni/tn-kube', name: 'kube' },
        children: [
          {
            fvBD: {
              attributes: { dn: 'uni/tn-kube/BD-pod-bd', name: 'pod-bd' },
              children: [
                {
                  fvSubnet: {
                    attributes: {
                      dn: 'uni/tn-kube/BD-pod-bd/subnet-[10.2.0.1/16]',
                      ip: '10.2.0.1/16',
                    },
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ]);
  const children = tree.queryMo(
    'uni/tn-kube',
    q('rsp-subtree=children&rsp-prop-include=naming-only'),
  );
  const kids = Object.values(children.imdata[0] ?? {})[0]?.children ?? [];
  t.is(kids.length, 3);
  t.true(
    kids.every((k) => Object.values(k)[0]?.children === undefined),
    'children level only',
  );
});

test('order-by, page and page-size', (t) => {
  const tree = new MoTree();
  for (const n of ['c', 'a', 'b', 'd']) tree.post('uni', { fvTenant: { attributes: { name: n } } });
  const opts =
    'query-target-filter=wcard(fvTenant.name,"^[a-d]$")&order-by=fvTenant.name|desc&page-size=2';
  const p0 = tree.queryClass('fvTenant', q(opts + '&page=0'));
  const p1 = tree.queryClass('fvTenant', q(opts + '&page=1'));
  t.is(p0.total, 4);
  t.deepEqual([...dns(p0), ...dns(p1)], ['uni/tn-d', 'uni/tn-c', 'uni/tn-b', 'uni/tn-a']);
});

test('the APIC normalizes well-known ports and protocols', (t) => {
  const tree = new MoTree();
  tree.post('uni/tn-common', {
    vzFilter: {
      attributes: { name: 'f' },
      children: [
        { vzEntry: { attributes: { name: 'e', prot: '6', dToPort: '443', dFromPort: '8080' } } },
      ],
    },
  });
  const e = tree.get('uni/tn-common/flt-f/e-e')?.attrs;
  t.is(e?.prot, 'tcp');
  t.is(e?.dToPort, 'https');
  t.is(e?.dFromPort, '8080');
});
