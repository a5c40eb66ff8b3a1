/**
 * LinuxDataplane against real namespaces and a private userspace Open
 * vSwitch: the pod end's TX checksum offload follows the encapsulation
 * (podComputesChecksums). Needs root, iproute2, ethtool, openvswitch-switch.
 */
import test from 'ava';
import { run } from './exec.ts';
import { LinuxDataplane } from './linux.ts';
import { hostMac, hostVethName, podMac } from './names.ts';
import type { PodInterfaceSpec } from './types.ts';
import { NetnsSet } from '../../../e2e/support/host/netns.ts';
import { startTestOvs, type TestOvs } from '../../../e2e/support/host/ovs.ts';

const netns = new NetnsSet();
let ovs: TestOvs | undefined;
let node: { name: string; path: string };

test.before(async () => {
  node = await netns.createNode();
  ovs = await startTestOvs(`brl${netns.tag}`, node.path);
});
test.after.always(async () => {
  await ovs?.stop();
  await netns.cleanup();
});

function dataplane(encapType: 'vlan' | 'vxlan'): LinuxDataplane {
  if (!ovs) throw new Error('no OVS');
  return new LinuxDataplane({ bridge: ovs.bridge, ovsdb: ovs.db, hostNetns: node.path, encapType });
}

async function podSpec(label: string, host: number): Promise<PodInterfaceSpec> {
  const pod = await netns.create(label);
  const id = `${netns.tag}-${label}`;
  return {
    netns: pod.path,
    ifName: 'eth0',
    hostIfName: hostVethName(id, 'eth0'),
    hostMac: hostMac(id, 'eth0'),
    mac: podMac(id, 'eth0'),
    mtu: 1450,
    addresses: [`10.124.0.${host}/24`],
    routes: [{ dst: '0.0.0.0/0', gw: '10.124.0.1' }],
  };
}

/** `ethtool -k` of the pod end: the feature's state, e.g. `on`, `off`, `off [fixed]`. */
async function feature(spec: PodInterfaceSpec, name: string): Promise<string> {
  const out = await run('nsenter', [`--net=${spec.netns}`, '--', 'ethtool', '-k', spec.ifName]);
  const line = out
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`ethtool -k ${spec.ifName} has no ${name}:\n${out}`);
  return line.slice(name.length + 1).trim();
}

test.serial(
  'with VXLAN on the userspace datapath the pod end computes its checksums',
  async (t) => {
    const spec = await podSpec('vx', 2);
    await dataplane('vxlan').createInterface(spec);
    t.is(await feature(spec, 'tx-checksumming'), 'off');
    // TSO needs the offload: the kernel turns it off with it, so no partial checksums leave by TSO
    // either (the summary line can still say `on` for segmentation kinds newer than the ethtool).
    t.regex(await feature(spec, 'tx-tcp-segmentation'), /^off/);
  },
);

test.serial('with VLAN the pod end keeps the offload (and TSO)', async (t) => {
  const spec = await podSpec('vl', 3);
  await dataplane('vlan').createInterface(spec);
  t.is(await feature(spec, 'tx-checksumming'), 'on');
  t.is(await feature(spec, 'tx-tcp-segmentation'), 'on');
});

test.serial(
  'the datapath is read from the bridge: a kernel-datapath bridge keeps the offload',
  async (t) => {
    if (!ovs) throw new Error('no OVS');
    // Only the OVSDB row is read (no kernel module is needed to store the column).
    const bridge = `brk${netns.tag}`;
    await ovs.vsctl(
      '--no-wait',
      'add-br',
      bridge,
      '--',
      'set',
      'Bridge',
      bridge,
      'datapath_type=system',
    );
    const spec = await podSpec('ks', 4);
    await new LinuxDataplane({
      bridge,
      ovsdb: ovs.db,
      hostNetns: node.path,
      encapType: 'vxlan',
    }).createInterface(spec);
    t.is(await feature(spec, 'tx-checksumming'), 'on');
  },
);
