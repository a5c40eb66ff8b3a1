// The class model and the APIC behaviours built on it: what acc-provision
// creates is accepted as the APIC accepts it, values are checked and stored
// the APIC's way, and bad input gets the APIC's error code and text.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { z } from 'zod';
import { splitDn } from '../../agents/controller/apic/mo.ts';
import { portNames, protoNames } from '../../lib/aci/named-values.ts';
import { protoNames as simulatorProtoNames } from './model/supplement.ts';
import { classes, isKnownClass, modelPortNames } from './classes.ts';
import { buildModel, type MetaClass } from './model/generate.ts';
import { ApicSimulator } from './simulator.ts';
import { ApicError, MoTree } from './tree.ts';

const Golden = z.object({
  objects: z.record(
    z.string(),
    z.object({ class: z.string(), attributes: z.record(z.string(), z.string()) }),
  ),
});

test("every object of acc-provision's base_case output is accepted with its attributes", (t) => {
  // The provisioning engineer's transcription of acc-provision's base_case.apic.txt.
  const golden = Golden.parse(
    JSON.parse(
      readFileSync(
        new URL('../../agents/controller/provision/testdata/base_case.apic.json', import.meta.url),
        'utf8',
      ),
    ),
  ).objects;
  const tree = new MoTree();
  // The VRF tenant's L3Out exists before acc-provision runs; it adds a contract to it.
  tree.post('uni/tn-common', {
    l3extOut: {
      attributes: { name: 'l3out' },
      children: [{ l3extInstP: { attributes: { name: 'default' } } }],
    },
  });
  const dns = Object.keys(golden).sort((a, b) => splitDn(a).length - splitDn(b).length);
  for (const dn of dns) {
    const o = golden[dn];
    if (o === undefined) continue;
    const attributes = { ...o.attributes, dn };
    // Secrets are replaced by test values of the right shape.
    if ('pwd' in attributes) attributes.pwd = 'Test-password-1';
    t.notThrows(() => tree.post(dn, { [o.class]: { attributes } }), dn);
    t.is(tree.get(tree.canonicalDn(dn))?.cls, o.class, dn);
  }
  t.is(tree.get('uni/infra/vlanns-[kube-pool]-static')?.attrs.allocMode, 'static');
});

test('values are stored as the APIC stores them', (t) => {
  const tree = new MoTree();
  tree.post('uni', {
    fvTenant: {
      attributes: { name: 'kube' },
      children: [
        { fvBD: { attributes: { name: 'bd', arpFlood: 'true', vmac: '00-aa-bb-cc-dd-03' } } },
        { fvCtx: { attributes: { name: 'vrf', pcEnfPref: '2' } } },
      ],
    },
  });
  const bd = tree.get('uni/tn-kube/BD-bd')?.attrs;
  t.is(bd?.arpFlood, 'yes', 'booleans are yes/no');
  t.is(bd?.vmac, '00:AA:BB:CC:DD:03', 'MACs upper case with colons');
  t.is(bd?.mac, '00:22:BD:F8:19:FF', 'numeric MAC default rendered as a MAC');
  t.is(bd?.unicastRoute, 'yes', 'defaults from the model');
  t.is(tree.get('uni/tn-kube/ctx-vrf')?.attrs.pcEnfPref, 'unenforced', 'wire value to name');
});

test("well-known ports are stored under the APIC model's names, which the controller uses too", (t) => {
  const tree = new MoTree();
  tree.post('uni', {
    fvTenant: {
      attributes: { name: 'kube' },
      children: [
        {
          vzFilter: {
            attributes: { name: 'f' },
            children: [
              {
                vzEntry: {
                  attributes: {
                    name: 'e',
                    etherT: 'ip',
                    prot: '6',
                    dFromPort: '22',
                    dToPort: '443',
                  },
                },
              },
            ],
          },
        },
      ],
    },
  });
  const entry = tree.get('uni/tn-kube/flt-f/e-e')?.attrs;
  t.is(entry?.dFromPort, 'ssh');
  t.is(entry?.dToPort, 'https');
  t.is(entry?.prot, 'tcp');
  // The controller's normalization (so that what it reads back compares equal) is the model's.
  t.deepEqual(portNames, modelPortNames);
  t.deepEqual(protoNames, simulatorProtoNames);
});

function apicError(fn: () => unknown): { code: string; text: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApicError) return { code: e.code, text: e.message };
    throw e;
  }
  throw new Error('no error');
}

const badInput: Array<[string, () => MoTree, string, string]> = [
  [
    'a string failing its pattern is 801',
    () => {
      const tree = new MoTree();
      tree.post('uni', { fvTenant: { attributes: { name: 'kube', descr: 'a [b]' } } });
      return tree;
    },
    '801',
    "property descr of uni/tn-kube failed validation for value 'a [b]'",
  ],
  [
    'a number out of range is 801',
    () => {
      const tree = new MoTree();
      tree.post('uni', { fvTenant: { attributes: { name: 'x'.repeat(65) } } });
      return tree;
    },
    '801',
    `property name of uni/tn-${'x'.repeat(65)} failed validation for value '${'x'.repeat(65)}'`,
  ],
  [
    'a value outside an enumeration is 120',
    () => {
      const tree = new MoTree();
      tree.post('uni', {
        fvTenant: {
          attributes: { name: 'k' },
          children: [{ fvBD: { attributes: { name: 'b', unkMacUcastAct: 'sometimes' } } }],
        },
      });
      return tree;
    },
    '120',
    'unknown property value sometimes, , name unkMacUcastAct, class fvBD [(Dn0)] Dn0=uni/tn-k/BD-b, ',
  ],
  [
    'an unknown attribute is 400',
    () => {
      const tree = new MoTree();
      tree.post('uni', { fvTenant: { attributes: { name: 'k', description: 'x' } } });
      return tree;
    },
    '400',
    "unknown attribute 'description' in element 'fvTenant'",
  ],
  [
    'an unknown class is 122',
    () => {
      const tree = new MoTree();
      tree.post('uni', { fvFoobar: { attributes: { name: 'k' } } });
      return tree;
    },
    '122',
    'unknown managed object class fvFoobar',
  ],
];

for (const [name, fn, code, text] of badInput) {
  test(`bad input: ${name}`, (t) => {
    t.deepEqual(apicError(fn), { code, text });
  });
}

test('a failed POST leaves the tree as it was', (t) => {
  const tree = new MoTree();
  const before = tree.size;
  apicError(() =>
    tree.post('uni', {
      fvTenant: {
        attributes: { name: 'kube' },
        children: [{ fvBD: { attributes: { name: 'bd', arpFlood: 'maybe' } } }],
      },
    }),
  );
  t.is(tree.size, before);
});

test('bracketed names in DNs are the same object', (t) => {
  const tree = new MoTree();
  tree.post('uni/tn-[kube]', { fvTenant: { attributes: { name: 'kube' } } });
  t.truthy(tree.get('uni/tn-kube'));
  t.is(
    tree.queryMo('uni/tn-[kube]', { queryTarget: 'self', rspSubtree: 'no', rspPropInclude: 'all' })
      .total,
    1,
  );
});

test('containers the APIC makes by itself are created with their first child', (t) => {
  const tree = new MoTree();
  tree.post('uni', { fvTenant: { attributes: { name: 'kube' } } });
  tree.post('uni/tn-kube/svcCont/svcRedirectPol-p', {
    vnsSvcRedirectPol: { attributes: { name: 'p' } },
  });
  t.is(tree.get('uni/tn-kube/svcCont')?.cls, 'vnsSvcCont');
  t.throws(
    () =>
      tree.post('uni/tn-none/svcCont/svcRedirectPol-p', {
        vnsSvcRedirectPol: { attributes: { name: 'p' } },
      }),
    {
      message: /parent object/,
    },
  );
});

test('real classes without instances are fine in class filters; made-up ones are not', (t) => {
  t.true(isKnownClass('fvRsBDToNetflowMonitorPol'));
  t.true(isKnownClass('cloudProvP'));
  t.false(isKnownClass('fvFoobar'));
  const tree = new MoTree();
  t.is(
    tree.queryClass('vzAny', { queryTarget: 'self', rspSubtree: 'no', rspPropInclude: 'all' })
      .total,
    0,
  );
});

test('the generator reads jsonmeta: RN, naming, containment, enumerations and defaults', (t) => {
  const meta = new Map<string, MetaClass>([
    [
      'fv:BD',
      {
        rnFormat: 'BD-{name}',
        identifiedBy: ['name'],
        containedBy: { 'fv:Tenant': '' },
        contains: { 'fv:Subnet': '' },
        properties: {
          name: {
            baseType: 'string:Basic',
            isConfigurable: true,
            isNaming: true,
            validators: [
              { min: 1, max: 64, regexs: [{ regex: '^[a-zA-Z0-9_.-]+$', type: 'include' }] },
            ],
          },
          ipLearning: {
            baseType: 'scalar:Bool',
            isConfigurable: true,
            default: 'true',
            validValues: [
              { value: 'true', localName: 'defaultValue' },
              { value: 'false', localName: 'no' },
              { value: 'true', localName: 'yes' },
            ],
          },
          mac: { baseType: 'address:MAC', isConfigurable: true, default: '280487012409856' },
          pcTag: { baseType: 'scalar:Uint32', isConfigurable: false },
        },
      },
    ],
    ['fv:Subnet', { rnFormat: 'subnet-[{ip}]', identifiedBy: ['ip'], properties: {} }],
  ]);
  const model = buildModel([meta]);
  t.is(model.fvBD?.rn, 'BD-{name}');
  t.deepEqual(model.fvBD?.parents, ['fvTenant']);
  t.deepEqual(model.fvSubnet?.parents, ['fvBD'], 'containment from the container');
  t.is(model.fvBD?.props.ipLearning?.default, 'yes');
  t.deepEqual(model.fvBD?.props.ipLearning?.values, {
    no: 'no',
    false: 'no',
    yes: 'yes',
    true: 'yes',
  });
  t.is(model.fvBD?.props.mac?.default, '00:22:BD:F8:19:FF');
  t.deepEqual(model.fvBD?.props.pcTag, { type: 'scalar:Uint32', readOnly: true });
  t.deepEqual(model.fvBD?.props.name?.patterns, ['^[a-zA-Z0-9_.-]+$']);
});

test('the model has every class the controller writes', (t) => {
  for (const cls of [
    'fvTenant',
    'fvAp',
    'fvAEPg',
    'fvBD',
    'fvSubnet',
    'fvCtx',
    'fvRsCtx',
    'fvRsBd',
    'fvRsBDToOut',
    'fvRsDomAtt',
    'fvRsCons',
    'fvRsProv',
    'vzBrCP',
    'vzSubj',
    'vzRsSubjFiltAtt',
    'vzRsSubjGraphAtt',
    'vzFilter',
    'vzEntry',
    'vzInTerm',
    'vzOutTerm',
    'vzRsFiltAtt',
    'hostprotPol',
    'hostprotSubj',
    'hostprotRule',
    'hostprotRemoteIp',
    'l3extOut',
    'l3extInstP',
    'l3extSubnet',
    'vnsLDevVip',
    'vnsAbsGraph',
    'vnsSvcRedirectPol',
    'vnsRedirectDest',
    'vnsRedirectHealthGroup',
    'vnsRsRedirectHealthGroup',
    'vnsRsIPSLAMonitoringPol',
    'fvIPSLAMonitoringPol',
    'vmmDomP',
    'vmmCtrlrP',
    'vmmRsDomMcastAddrNs',
    'vmmInjectedSvc',
    'fvnsVlanInstP',
    'fvnsEncapBlk',
    'fvnsMcastAddrInstP',
    'fvnsMcastAddrBlk',
    'physDomP',
    'infraAttEntityP',
    'infraRsDomP',
    'infraProvAcc',
    'infraSetPol',
    'infraRsFuncToEpg',
    'aaaUser',
    'aaaUserCert',
    'tagAnnotation',
  ])
    t.truthy(classes[cls], cls);
});

interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

function call(
  url: string,
  ca: string,
  method: string,
  path: string,
  body: string,
  cookie: string,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, ca, headers: { Cookie: cookie } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type']),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('over HTTP: rsp-subtree=modified lists what changed; .xml gets XML, errors too', async (t) => {
  const sim = new ApicSimulator({ users: { admin: 'pw' } });
  const s = await sim.start();
  try {
    const login = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/aaaLogin.json',
      JSON.stringify({ aaaUser: { attributes: { name: 'admin', pwd: 'pw' } } }),
      '',
    );
    const token = z
      .object({
        imdata: z.array(
          z.object({ aaaLogin: z.object({ attributes: z.object({ token: z.string() }) }) }),
        ),
      })
      .parse(JSON.parse(login.body)).imdata[0]?.aaaLogin.attributes.token;
    const cookie = `APIC-cookie=${token ?? ''}`;
    const created = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/mo/uni/tn-kube.json?rsp-subtree=modified',
      JSON.stringify({
        fvTenant: {
          attributes: { name: 'kube' },
          children: [{ fvAp: { attributes: { name: 'ap' } } }],
        },
      }),
      cookie,
    );
    const body = JSON.parse(created.body) as {
      imdata: Array<{
        fvTenant: {
          attributes: Record<string, string>;
          children: Array<{ fvAp: { attributes: Record<string, string> } }>;
        };
      }>;
    };
    t.is(body.imdata[0]?.fvTenant.attributes.status, 'created');
    t.is(body.imdata[0]?.fvTenant.children[0]?.fvAp.attributes.status, 'created');
    const again = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/mo/uni/tn-kube.json?rsp-subtree=modified',
      JSON.stringify({ fvTenant: { attributes: { name: 'kube' } } }),
      cookie,
    );
    t.deepEqual(JSON.parse(again.body), { totalCount: '0', imdata: [] }, 'nothing changed');
    const deleted = await call(
      s.url,
      s.caPem,
      'DELETE',
      '/api/mo/uni/tn-kube/ap-ap.json?rsp-subtree=modified',
      '',
      cookie,
    );
    t.regex(deleted.body, /"status":"deleted"/);

    const xmlPost = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/mo/uni.xml',
      '<fvTenant name="x"><fvCtx name="v"/></fvTenant>',
      cookie,
    );
    t.is(xmlPost.status, 200);
    t.regex(xmlPost.type, /xml/);
    t.is(sim.tree.get('uni/tn-x/ctx-v')?.cls, 'fvCtx');
    const xmlGet = await call(s.url, s.caPem, 'GET', '/api/mo/uni/tn-x.xml', '', cookie);
    t.regex(xmlGet.body, /<imdata totalCount="1"><fvTenant [^>]*name="x"/);
    const xmlErr = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/mo/uni.xml',
      '<fvFoobar name="x"/>',
      cookie,
    );
    t.is(xmlErr.status, 400);
    t.regex(xmlErr.body, /<error code="122" text="unknown managed object class fvFoobar"\/>/);
    const numberValue = await call(
      s.url,
      s.caPem,
      'POST',
      '/api/mo/uni.json',
      '{"fvTenant":{"attributes":{"name":"y","descr":"d","nameAlias":100, "ownerKey":"k"}}}',
      cookie,
    );
    t.regex(numberValue.body, /unknown property value 00, , name nameAlias, class fvTenant/);
  } finally {
    await s.stop();
  }
});
