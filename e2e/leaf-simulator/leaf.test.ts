import test from 'ava';
import {
  bridgeDomainEncapVlan,
  bridgeDomainGroup,
  bridgeDomainVni,
} from '../../agents/host/node-agents.ts';
import { AciFabricSpec } from '../../crds/index.ts';
import { bridgeDomainsOfFabric, vxlanOfFabric } from './fabric.ts';
import {
  AciRouterMac,
  LeafBridge,
  l3OutCommands,
  networkOf,
  netnsPathOf,
  nodePortArgs,
  parseBridgeDomain,
  parseVxlan,
  parseFdb,
  sviAddressLines,
  groupSenderName,
  sviPortArgs,
  tunnelPortArgs,
} from './leaf.ts';

const bd = { name: 'bd-pods', vlan: 3021, subnets: ['10.2.0.1/16', '10.3.0.1/16'] };

test('an SVI per bridge domain: access port of its VLAN, router MAC, every gateway of the BD', (t) => {
  t.deepEqual(sviPortArgs(bd, AciRouterMac), [
    '--may-exist',
    'add-port',
    LeafBridge,
    'bd3021',
    'tag=3021',
    '--',
    'set',
    'Interface',
    'bd3021',
    'type=internal',
    `mac="${AciRouterMac}"`,
  ]);
  t.deepEqual(sviAddressLines(bd), [
    'addr add 10.2.0.1/16 dev bd3021',
    'addr add 10.3.0.1/16 dev bd3021',
    'link set bd3021 up',
  ]);
});

test('a node port trunks exactly the bridge domains’ VLANs', (t) => {
  t.deepEqual(nodePortArgs('p1-n1', [3021, 3005]), [
    '--may-exist',
    'add-port',
    LeafBridge,
    'p1-n1',
    'trunks=3005,3021',
    'vlan_mode=trunk',
  ]);
});

test('node namespaces by name, path or pid', (t) => {
  t.is(netnsPathOf('n1'), '/run/netns/n1');
  t.is(netnsPathOf('/proc/7/ns/net'), '/proc/7/ns/net');
  t.is(netnsPathOf(42), '/proc/42/ns/net');
});

test('the learned MAC table names node ports and leaves out the SVIs', (t) => {
  const text = [
    ' port  VLAN  MAC                Age',
    '    1  3021  0a:58:85:00:00:01    0',
    '    3  3021  00:22:bd:f8:19:ff    2',
    '    2  3021  0a:58:85:00:00:03    1',
  ].join('\n');
  t.deepEqual(
    parseFdb(
      text,
      new Map([
        [1, 'p1-n1'],
        [2, 'p2-n2'],
      ]),
    ),
    [
      { mac: '0a:58:85:00:00:01', vlan: 3021, port: 'p1-n1' },
      { mac: '0a:58:85:00:00:03', vlan: 3021, port: 'p2-n2' },
    ],
  );
});

test('the CLI’s bridge domain syntax', (t) => {
  t.deepEqual(parseBridgeDomain('bd-pods:3021:10.2.0.1/16,10.3.0.1/16'), bd);
  t.throws(() => parseBridgeDomain('bd-pods:x:10.2.0.1/16'));
  t.throws(() => parseBridgeDomain('bd-pods:5000:10.2.0.1/16'));
  t.deepEqual(parseBridgeDomain('bd-pods:3021:10.2.0.1/16:7654321:225.20.1.9'), {
    ...bd,
    subnets: ['10.2.0.1/16'],
    vni: 7654321,
    group: '225.20.1.9',
  });
  t.throws(() => parseBridgeDomain('bd-pods:3021:10.2.0.1/16:7654321'), undefined, 'no group');
  t.throws(() => parseBridgeDomain('bd-pods:3021:10.2.0.1/16:16777216:225.20.1.9'));
  t.deepEqual(parseVxlan('10.0.0.32/16:4093:8472'), {
    anycastVtep: '10.0.0.32/16',
    infraVlan: 4093,
    udpPort: 8472,
  });
  t.deepEqual(parseVxlan('10.0.0.32/16:4093'), { anycastVtep: '10.0.0.32/16', infraVlan: 4093 });
  t.throws(() => parseVxlan('10.0.0.32:4093'));
});

test('from an AciFabric: the pod BD with the host agent’s encap VLAN and the pod subnets', (t) => {
  const spec = AciFabricSpec.parse({
    systemId: 'kube-pod1',
    apic: {
      hosts: ['10.30.120.100'],
      credentials: { method: 'Password', secretRef: { name: 's' } },
    },
    aci: {
      vrf: { name: 'v', tenant: 'common' },
      l3out: { name: 'l', externalNetworks: ['e'] },
      aep: 'aep',
      vmmDomain: {
        encapType: 'vlan',
        vlanPool: { start: 3000, end: 3099 },
        multicastRange: { start: '225.20.1.1', end: '225.20.255.255' },
      },
    },
    network: {
      nodeSubnet: '10.1.0.1/16',
      // IPv4 only: the AciFabric refuses IPv6 until it leaves the node (docs/dataplane.md).
      podSubnets: ['10.2.0.1/16', '10.3.0.1/16'],
      nodeServiceSubnet: '10.5.0.1/24',
      kubeapiVlan: 4001,
      serviceVlan: 4003,
      infraVlan: 4093,
    },
  });
  const [bd] = bridgeDomainsOfFabric(spec);
  t.truthy(bd);
  t.deepEqual(bd?.subnets, ['10.2.0.1/16', '10.3.0.1/16']);
  t.is(bd?.vlan, bridgeDomainEncapVlan(bd?.name ?? '', { start: 3000, end: 3099 }));
  t.is(vxlanOfFabric(spec), undefined);
  const vxlan = AciFabricSpec.parse({
    ...spec,
    aci: { ...spec.aci, vmmDomain: { ...spec.aci.vmmDomain, encapType: 'vxlan' } },
  });
  const [tunnelled] = bridgeDomainsOfFabric(vxlan);
  t.is(tunnelled?.vni, bridgeDomainVni(tunnelled?.name ?? ''));
  t.is(
    tunnelled?.group,
    bridgeDomainGroup(tunnelled?.name ?? '', { start: '225.20.1.1', end: '225.20.255.255' }),
  );
  t.deepEqual(vxlanOfFabric(vxlan), {
    anycastVtep: '10.0.0.32/16',
    infraVlan: 4093,
    udpPort: 8472,
  });
});

test('vxlan: a tunnel port is an access port of the BD’s leaf-local VLAN with the BD’s VNI; one sender per BD to its group', (t) => {
  t.deepEqual(
    tunnelPortArgs(
      't1-3021',
      '10.0.7.10',
      { ...bd, vni: 0x1234, group: '225.20.1.9' },
      {
        anycastVtep: '10.0.0.32/16',
        infraVlan: 4093,
      },
    ),
    [
      '--may-exist',
      'add-port',
      LeafBridge,
      't1-3021',
      'tag=3021',
      '--',
      'set',
      'Interface',
      't1-3021',
      'type=vxlan',
      'options:remote_ip=10.0.7.10',
      'options:local_ip=10.0.0.32',
      `options:key=${0x1234}`,
      'options:dst_port=8472',
    ],
  );
  t.is(groupSenderName(bd), 'g3021');
});

test('an L3Out: the leaf on the external bridge with a default route, the bridge domains routed to it from outside', (t) => {
  const commands = l3OutCommands(
    {
      bridge: 'acibr-x',
      hostInterface: 'acil3-x',
      address: '10.100.34.254/24',
      router: '10.100.34.1',
    },
    [{ name: 'bd', vlan: 3021, subnets: ['10.2.0.1/16', '10.3.0.1/24'] }],
  );
  t.true(commands.leaf.includes('route replace default via 10.100.34.1'));
  t.deepEqual(commands.external, [
    ['link', 'set', 'acil3-x', 'master', 'acibr-x', 'up'],
    ['route', 'replace', '10.2.0.0/16', 'via', '10.100.34.254'],
    ['route', 'replace', '10.3.0.0/24', 'via', '10.100.34.254'],
  ]);
  t.is(networkOf('10.2.0.1/16'), '10.2.0.0/16');
});
