import test from 'ava';
import type { PoolStatusSummary } from '../ipam/index.ts';
import type { PodIPPoolObject } from './objects.ts';
import { CommandError } from '../netconf/exec.ts';
import { nodePortsPlan, type NodeFacts } from '../node-agents.ts';
import {
  buildPoolStatus,
  NeedsChunksCondition,
  PoolReason,
  UplinkReadyCondition,
  UplinkReason,
  uplinkCondition,
} from './pool-status.ts';

const pool = (status?: PodIPPoolObject['status']): PodIPPoolObject => ({
  apiVersion: 'aci.cni.dev/v1alpha1',
  kind: 'PodIPPool',
  metadata: { name: 'node-1', generation: 3 },
  spec: { chunks: ['10.2.0.0/28'], gateways: ['10.2.0.1/16'] },
  ...(status ? { status } : {}),
});

const summary = (used: number, capacity: number, needsMore = false): PoolStatusSummary => ({
  capacity,
  used,
  allocated: Array.from({ length: used }, (_, i) => `10.2.0.${20 - i}`),
  needsMore,
});

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T01:00:00Z');
const ready = (s: ReturnType<typeof buildPoolStatus>) =>
  s.conditions?.find((c) => c.type === 'Ready');

test('status carries capacity, used, sorted addresses and the observed generation', (t) => {
  const status = buildPoolStatus(summary(2, 14), pool(), 1, t0);
  t.is(status.capacity, 14);
  t.is(status.used, 2);
  t.deepEqual(status.allocated, ['10.2.0.19', '10.2.0.20']);
  t.is(status.observedGeneration, 3);
  t.like(ready(status), { status: 'True', reason: PoolReason.Available, observedGeneration: 3 });
});

const readyCases: [string, PoolStatusSummary, number, string, string][] = [
  ['no chunk yet', summary(0, 0, true), 0, 'False', PoolReason.NoChunks],
  ['every address used', summary(14, 14, true), 1, 'False', PoolReason.Exhausted],
  ['free addresses', summary(3, 14), 1, 'True', PoolReason.Available],
];
for (const [title, s, chunks, status, reason] of readyCases) {
  test(`Ready reflects ${title}`, (t) => {
    t.like(ready(buildPoolStatus(s, pool(), chunks, t0)), { status, reason });
  });
}

test('NeedsChunks tells the controller to assign another chunk', (t) => {
  const status = buildPoolStatus(summary(12, 14, true), pool(), 1, t0);
  t.like(
    status.conditions?.find((c) => c.type === NeedsChunksCondition),
    { status: 'True' },
  );
});

test('an unchanged condition keeps its transition time, so an idle agent computes the same status', (t) => {
  const first = buildPoolStatus(summary(1, 14), pool(), 1, t0);
  const second = buildPoolStatus(summary(2, 14), pool(first), 1, t1);
  t.is(ready(second)?.lastTransitionTime, ready(first)?.lastTransitionTime);
  const exhausted = buildPoolStatus(summary(14, 14, true), pool(second), 1, t1);
  t.is(ready(exhausted)?.lastTransitionTime, '2026-01-01T01:00:00Z');
});

// UplinkReady: the fabric's encapsulation on this node's uplink, from the same plans the agent applies.
const nodeFacts: NodeFacts = {
  nodeName: 'worker-1',
  gateways: ['10.2.0.1/16'],
  nodeIPs: ['192.168.10.11'],
  stateDir: '/usr/local/var/lib/aci-containers',
  ovsRunDir: '/usr/local/var/run/openvswitch',
  bridge: 'br-int',
  encapType: 'vxlan',
  uplinkInterface: 'eth1',
  infraVlan: 4093,
  multicastRange: { start: '225.20.1.1', end: '225.20.255.255' },
  bridgeDomains: ['aci-containers-kube-pod-bd'],
};
const uplinkOf = (s: ReturnType<typeof buildPoolStatus>) =>
  s.conditions?.find((c) => c.type === UplinkReadyCondition);
const planError = (facts: NodeFacts): unknown => {
  try {
    nodePortsPlan(facts);
  } catch (err) {
    return err;
  }
  throw new Error('the plan was expected to fail');
};

test('UplinkReady: realized VXLAN names the VTEP, the tunnel and the uplink', (t) => {
  const plan = nodePortsPlan(nodeFacts);
  t.deepEqual(uplinkCondition({ state: 'realized', plan }), {
    type: UplinkReadyCondition,
    status: 'True',
    reason: UplinkReason.Realized,
    message:
      'vxlan: VTEP 10.0.10.11/16 on br-infra, tunnel vxlan0 to 10.0.0.32:8472 over eth1 (infra VLAN 4093)',
  });
  const vlan = nodePortsPlan({
    ...nodeFacts,
    encapType: 'vlan',
    vlanPool: { start: 3000, end: 3099 },
  });
  t.like(uplinkCondition({ state: 'realized', plan: vlan }), {
    status: 'True',
    message: 'vlan: eth1 on br-int',
  });
});

test('UplinkReady: a node whose VTEP cannot be derived is EncapUnrealizable, naming why', (t) => {
  // 192.168.10.32 maps to 10.0.0.32 in the TEP pool: the leaf's anycast VTEP.
  const anycast = planError({ ...nodeFacts, nodeIPs: ['192.168.0.32'] });
  t.like(uplinkCondition({ state: 'unrealizable', error: anycast }), {
    status: 'False',
    reason: UplinkReason.Unrealizable,
  });
  t.regex(
    uplinkCondition({ state: 'unrealizable', error: anycast }).message,
    /cannot be realized on this node: the VTEP 10\.0\.0\.32 derived from node address 192\.168\.0\.32/,
  );
  const noIpv4 = planError({ ...nodeFacts, nodeIPs: ['fd00:10::11'] });
  t.regex(
    uplinkCondition({ state: 'unrealizable', error: noIpv4 }).message,
    /needs the node's IPv4 address/,
  );
  const noInfraVlan = planError({ ...nodeFacts, infraVlan: undefined });
  t.regex(uplinkCondition({ state: 'unrealizable', error: noInfraVlan }).message, /infra VLAN/);
});

test('UplinkReady: a missing uplink device is UplinkNotFound; other failures UplinkSetupFailed', (t) => {
  const plan = nodePortsPlan(nodeFacts);
  const missing = new CommandError(
    'ip',
    ['link', 'set', 'eth1', 'up'],
    'Cannot find device "eth1"\n',
    1,
  );
  t.deepEqual(uplinkCondition({ state: 'failed', plan, error: missing }), {
    type: UplinkReadyCondition,
    status: 'False',
    reason: UplinkReason.UplinkNotFound,
    message: 'The uplink interface eth1 does not exist on this node (retrying)',
  });
  // Another device missing (the gateway port before ovs-vswitchd made it) is not the uplink's fault.
  const gateway = new CommandError(
    'ip',
    ['link', 'set', 'aci-gw', 'up'],
    'Cannot find device "aci-gw"\n',
    1,
  );
  t.like(uplinkCondition({ state: 'failed', plan, error: gateway }), {
    status: 'False',
    reason: UplinkReason.SetupFailed,
  });
  const ovs = new CommandError(
    'ovs-vsctl',
    ['add-br', 'br-infra'],
    'database connection failed\n',
    1,
  );
  t.regex(
    uplinkCondition({ state: 'failed', plan, error: ovs }).message,
    /^Failed to set up vxlan: VTEP 10\.0\.10\.11\/16 .* \(retrying\): ovs-vsctl add-br br-infra failed: database connection failed/,
  );
});

test('UplinkReady: no uplink configured, pending, and absent where the agent manages no uplink', (t) => {
  t.like(uplinkCondition({ state: 'unconfigured' }), {
    status: 'False',
    reason: UplinkReason.NoUplink,
  });
  t.like(uplinkOf(buildPoolStatus(summary(0, 14), pool(), 1, t0, { state: 'pending' })), {
    status: 'Unknown',
    reason: UplinkReason.Pending,
    observedGeneration: 3,
  });
  t.is(uplinkOf(buildPoolStatus(summary(0, 14), pool(), 1, t0)), undefined);
  // Its transition time moves only when its status does.
  const realized = { state: 'realized', plan: nodePortsPlan(nodeFacts) } as const;
  const first = buildPoolStatus(summary(0, 14), pool(), 1, t0, realized);
  const again = buildPoolStatus(summary(0, 14), pool(first), 1, t1, realized);
  t.is(uplinkOf(again)?.lastTransitionTime, uplinkOf(first)?.lastTransitionTime);
  const lost = buildPoolStatus(summary(0, 14), pool(again), 1, t1, {
    state: 'failed',
    plan: realized.plan,
    error: new Error('boom'),
  });
  t.not(uplinkOf(lost)?.lastTransitionTime, uplinkOf(first)?.lastTransitionTime);
});
