import test from 'ava';
import fc from 'fast-check';
import {
  hostSetupScript,
  interfaceProblems,
  podComputesChecksums,
  podSetupScript,
  txChecksumOffCommand,
} from './check.ts';
import { hostMac, hostVethName, isValidIfName, podMac } from './names.ts';
import type { PodInterfaceSpec } from './types.ts';

const spec: PodInterfaceSpec = {
  netns: '/var/run/netns/p1',
  ifName: 'eth0',
  hostIfName: 'aci0123456789ab',
  hostMac: '02:00:00:00:00:01',
  mac: '02:00:00:00:00:02',
  mtu: 1450,
  addresses: ['10.2.0.5/16', 'fd00::5/64'],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.2.0.1' },
    { dst: '::/0', gw: 'fd00::1' },
  ],
};

const healthy = {
  exists: true,
  mac: '02:00:00:00:00:02',
  mtu: 1450,
  up: true,
  addresses: ['10.2.0.5/16', 'fd00:0::5/64'],
  routes: [
    { dst: '10.2.0.0/16' },
    { dst: '0.0.0.0/0', gw: '10.2.0.1' },
    { dst: '::/0', gw: 'fd00:0:0::1' },
  ],
};

test('host veth names are deterministic, short enough, distinct per container and interface', (t) => {
  t.is(hostVethName('abc', 'eth0'), hostVethName('abc', 'eth0'));
  t.not(hostVethName('abc', 'eth0'), hostVethName('abc', 'net1'));
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.string({ minLength: 1, maxLength: 15 }),
      (cid, ifName) => {
        const n = hostVethName(cid, ifName);
        return isValidIfName(n) && n.length === 15 && n.startsWith('aci');
      },
    ),
  );
});

test('MACs are unicast, locally administered, lower case, and differ between the two ends', (t) => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }), (cid) => {
      const macs = [podMac(cid, 'eth0'), hostMac(cid, 'eth0')];
      return (
        macs.every(
          (m) =>
            /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m) &&
            (parseInt(m.slice(0, 2), 16) & 0x03) === 0x02,
        ) && macs[0] !== macs[1]
      );
    }),
  );
  t.pass();
});

test('interface names follow the kernel rules', (t) => {
  t.true(isValidIfName('eth0'));
  t.false(isValidIfName(''));
  t.false(isValidIfName('a'.repeat(16)));
  t.false(isValidIfName('a/b'));
  t.false(isValidIfName('a b'));
  t.false(isValidIfName('..'));
});

test('setup scripts create the pod end in the netns and configure it there', (t) => {
  t.is(
    hostSetupScript(spec),
    'link add aci0123456789ab address 02:00:00:00:00:01 mtu 1450 type veth peer name eth0 address 02:00:00:00:00:02 mtu 1450 netns /var/run/netns/p1\nlink set aci0123456789ab up\n',
  );
  t.deepEqual(podSetupScript(spec).trim().split('\n'), [
    'link set lo up',
    'addr add 10.2.0.5/16 dev eth0',
    'addr add fd00::5/64 dev eth0 nodad',
    'link set eth0 up',
    'route add 0.0.0.0/0 via 10.2.0.1 dev eth0',
    'route add ::/0 via fd00::1 dev eth0',
  ]);
});

test('CHECK finds nothing wrong with a healthy interface (extra routes allowed)', (t) => {
  t.deepEqual(interfaceProblems(spec, healthy), []);
});

test('CHECK names each difference', (t) => {
  t.deepEqual(interfaceProblems(spec, { exists: false, addresses: [], routes: [] }), [
    'interface eth0 does not exist in /var/run/netns/p1',
  ]);
  t.deepEqual(
    interfaceProblems(spec, {
      ...healthy,
      mac: '02:00:00:00:00:09',
      mtu: 1500,
      up: false,
      addresses: ['fd00::5/64'],
      routes: [{ dst: '0.0.0.0/0', gw: '10.2.0.1' }],
    }),
    [
      'interface eth0 has MAC 02:00:00:00:00:09, expected 02:00:00:00:00:02',
      'interface eth0 has MTU 1500, expected 1450',
      'interface eth0 is down',
      'address 10.2.0.5/16 is missing on eth0',
      'route to ::/0 via fd00::1 is missing on eth0',
    ],
  );
});

test('pods compute their own TX checksums only with VXLAN on the userspace datapath', (t) => {
  // As ovs-vsctl prints the datapath_type column: quoted, bare, or empty (the kernel datapath).
  const cases: ['vlan' | 'vxlan', string, boolean][] = [
    ['vxlan', '"netdev"\n', true],
    ['vxlan', 'netdev', true],
    ['vxlan', '"system"\n', false],
    ['vxlan', '""\n', false],
    ['vxlan', '', false],
    ['vlan', '"netdev"\n', false],
    ['vlan', '', false],
  ];
  for (const [encap, datapath, expected] of cases) {
    t.is(
      podComputesChecksums(encap, datapath),
      expected,
      `${encap} on ${JSON.stringify(datapath)}`,
    );
  }
  t.deepEqual(txChecksumOffCommand('eth0'), ['ethtool', '--offload', 'eth0', 'tx', 'off']);
});
