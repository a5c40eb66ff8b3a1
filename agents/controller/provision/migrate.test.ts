/**
 * Migration of acc-provision's own public test inputs (testdata/*.inp.yaml):
 * each becomes a valid AciFabric, every setting is either carried over or
 * listed with a reason, and the command's output applies as it is.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { AciFabric, AciFabricSpec } from '../../../crds/index.ts';
import { migrateFile } from './commands.ts';
import { AccProvisionSecret, migrateAccProvision } from './migrate.ts';

const inputs = [
  'base_case',
  'with_new_naming_convention',
  'vlan_case',
  'nested-vxlan',
  'with_preexisting_tenant',
  'dualstack_base',
  'with_overrides',
];
const file = (name: string) => new URL(`testdata/${name}.inp.yaml`, import.meta.url).pathname;
const migrate = (name: string) =>
  migrateAccProvision(parse(readFileSync(file(name), 'utf8')) as unknown);

for (const name of inputs) {
  test(`${name}: a valid AciFabric that adopts, with acc-provision's Secret as credentials`, (t) => {
    const { fabric } = migrate(name);
    const spec = AciFabricSpec.parse(fabric.spec);
    t.is(spec.aci.provision, 'Fabric');
    t.true(spec.aci.adoptExisting);
    t.is(spec.apic.credentials.secretRef.name, AccProvisionSecret);
    t.is(spec.apic.credentials.method, 'Certificate');
    t.is(spec.apic.credentials.username, 'kube');
    t.is(spec.apic.credentials.certificateName, 'kube.crt');
  });
}

test('the admin login is never carried over, and is listed', (t) => {
  const { fabric, unmigrated } = migrate('base_case');
  t.false(JSON.stringify(fabric).includes('dummy'));
  t.deepEqual(
    unmigrated.filter((u) => u.path.startsWith('aci_config.apic_login')).map((u) => u.path),
    ['aci_config.apic_login.password', 'aci_config.apic_login.username'],
  );
});

test('base_case: everything else it sets has an AciFabric field', (t) => {
  t.deepEqual(
    migrate('base_case').unmigrated.map((u) => u.path),
    [
      'aci_config.apic_login.password',
      'aci_config.apic_login.username',
      'aci_config.sync_login.certfile',
      'aci_config.sync_login.keyfile',
      'kube_config.use_cluster_role',
      'kube_config.use_ds_rolling_update',
      'registry.image_prefix',
    ],
  );
});

test('vlan_case: vlan encap with the VMM VLAN pool', (t) => {
  const spec = AciFabricSpec.parse(migrate('vlan_case').fabric.spec);
  t.is(spec.aci.vmmDomain.encapType, 'vlan');
  t.deepEqual(spec.aci.vmmDomain.vlanPool, { start: 200, end: 299 });
});

test('nested-vxlan: nested inside the VMware domain', (t) => {
  const spec = AciFabricSpec.parse(migrate('nested-vxlan').fabric.spec);
  t.deepEqual(spec.aci.vmmDomain.nestedInside, { type: 'vmware', name: 'myvmware' });
});

test('with_preexisting_tenant: tenant.name means a preexisting tenant', (t) => {
  const spec = AciFabricSpec.parse(migrate('with_preexisting_tenant').fabric.spec);
  t.deepEqual(spec.aci.tenant, { name: 'pre_existing_tenant', preexisting: true });
  t.false(spec.aci.legacyNaming);
});

test('dualstack_base: the IPv4 pod and extern subnets; the IPv6 ones and the second node subnet are listed', (t) => {
  const { fabric, unmigrated } = migrate('dualstack_base');
  const spec = AciFabricSpec.parse(fabric.spec);
  // The data plane does not carry IPv6 yet, so the AciFabric refuses it (docs/dataplane.md, Dual stack).
  t.deepEqual(spec.network.podSubnets, ['10.2.0.1/24']);
  t.deepEqual(spec.network.externDynamic, ['10.3.0.1/24']);
  t.is(spec.network.nodeSubnet, '10.1.0.1/16');
  const reason = (path: string) => unmigrated.find((u) => u.path === path)?.reason ?? '';
  t.regex(reason('net_config.node_subnet'), /2:2:1:1::1\/64/);
  t.regex(reason('net_config.pod_subnet'), /IPv6 left out .*1:2:1:1::1\/64/);
  t.regex(reason('net_config.extern_dynamic'), /IPv6 left out .*1:5:1:1::1\/64/);
});

test('with_overrides: names, tenant, log levels carried; what cannot be is listed with its reason', (t) => {
  const { fabric, unmigrated } = migrate('with_overrides');
  const spec = AciFabricSpec.parse(fabric.spec);
  t.is(spec.aci.vmmDomain.name, 'kubernetes1');
  t.deepEqual(spec.aci.tenant, { name: 'demo', preexisting: false });
  t.is(spec.logging.controller, 'debug');
  t.is(spec.network.podSubnetChunkSize, 32);
  const reason = (path: string) => unmigrated.find((u) => u.path === path)?.reason;
  t.regex(reason('net_config.pod_subnet_chunk_size') ?? '', /not a power of two/);
  t.regex(reason('aci_config.physical_domain.domain') ?? '', /<systemId>-pdom/);
  t.regex(reason('aci_config.vmm_domain.controller') ?? '', /systemId/);
});

test('the command prints an AciFabric that validates as it is, its notes as comments', (t) => {
  const text = migrateFile(file('with_overrides'));
  t.regex(text, /^# Settings with no AciFabric equivalent:$/m);
  const object: unknown = parse(text);
  t.true(AciFabric.safeParse(object).success);
});

test('an input without a system id is refused with the field named', (t) => {
  t.throws(() => migrateAccProvision({ aci_config: {} }), { message: /aci_config\.system_id/ });
});
