import test from 'ava';
import { AgentFileConfig } from '../opflex/main-config.ts';
import { McastFileConfig } from '../mcast/main-config.ts';
import {
  AciRouterMac,
  GatewayPortName,
  bridgeDomainEncapVlan,
  ensureNodePorts,
  nodeAgentFiles,
  nodeHostMac,
  nodePortsPlan,
} from './node-agents.ts';

const facts = {
  nodeName: 'worker-1',
  gateways: ['fd00:2::1/64', '10.2.0.1/16', '10.9.0.1/24'],
  nodeIPs: ['192.168.10.11', 'fd00:10::11'],
  stateDir: '/usr/local/var/lib/aci-containers',
  ovsRunDir: '/usr/local/var/run/openvswitch',
  bridge: 'br-int',
  encapType: 'vlan' as const,
  uplinkInterface: 'eth1',
  vlanPool: { start: 3000, end: 3099 },
  bridgeDomains: ['aci-containers-kube-pod-bd'],
};

test('the files the host agent writes are what the opflex agent and mcast daemon parse', (t) => {
  const files = nodeAgentFiles(facts);
  const agent = AgentFileConfig.parse(files['agent.json']);
  t.deepEqual(agent.gateway, {
    ip: '10.2.0.1',
    mac: AciRouterMac,
    port: GatewayPortName,
    bridgeDomain: 'aci-containers-kube-pod-bd',
    hostMac: nodeHostMac('worker-1'),
  });
  t.regex(nodeHostMac('worker-1'), /^02:ac(:[0-9a-f]{2}){4}$/);
  t.not(nodeHostMac('worker-1'), nodeHostMac('worker-2'));
  t.deepEqual(agent.podSubnets, [
    { cidr: '10.2.0.0/16', gateway: '10.2.0.1' },
    { cidr: '10.9.0.0/24', gateway: '10.9.0.1' },
  ]);
  t.deepEqual(agent.uplink, { port: 'eth1', encap: 'vlan' });
  t.deepEqual(agent.nodeIPs, ['192.168.10.11']);
  t.is(agent.bridge, 'br-int');
  const mcast = McastFileConfig.parse(files['mcast.json']);
  t.is(mcast.nodeName, 'worker-1');
  t.deepEqual(mcast.uplink, agent.uplink);
  t.deepEqual(mcast.bridgeDomainVlans, agent.bridgeDomainVlans);
});

test('vlan encap: each bridge domain gets an encap VLAN from the pool, the same on every node', (t) => {
  const vlan = bridgeDomainEncapVlan('aci-containers-kube-pod-bd', facts.vlanPool);
  t.true(vlan >= 3000 && vlan <= 3099);
  const other = nodeAgentFiles({ ...facts, nodeName: 'worker-2', gateways: ['10.2.0.1/16'] });
  t.deepEqual(other['agent.json'].bridgeDomainVlans, { 'aci-containers-kube-pod-bd': vlan });
  t.deepEqual(nodeAgentFiles(facts)['agent.json'].bridgeDomainVlans, {
    'aci-containers-kube-pod-bd': vlan,
  });
  t.throws(() => nodeAgentFiles({ ...facts, vlanPool: undefined }), { message: /VLAN pool/ });
});

test('no uplink interface, or vxlan (not rendered yet): no uplink in the files', (t) => {
  const { uplinkInterface: _u, ...noUplink } = facts;
  t.is(AgentFileConfig.parse(nodeAgentFiles(noUplink)['agent.json']).uplink, undefined);
  const vxlan = nodeAgentFiles({ ...facts, encapType: 'vxlan' });
  t.is(AgentFileConfig.parse(vxlan['agent.json']).uplink, undefined);
  t.is(nodePortsPlan({ ...facts, encapType: 'vxlan' }).uplink, undefined);
});

test('an IPv6-only PodIPPool is refused clearly (the data plane is IPv4)', (t) => {
  t.throws(() => nodeAgentFiles({ ...facts, gateways: ['fd00:2::1/64'] }), {
    message: /no IPv4 gateway/,
  });
});

test('ports: the gateway port (internal, router MAC, pod subnet routes) and the uplink, idempotently', async (t) => {
  const calls: string[] = [];
  await ensureNodePorts(nodePortsPlan(facts), {
    vsctl: async (args) => {
      calls.push(`ovs-vsctl ${args.join(' ')}`);
      return '';
    },
    ip: async (args) => {
      calls.push(`ip ${args.join(' ')}`);
      return '';
    },
  });
  t.deepEqual(calls, [
    `ovs-vsctl --may-exist add-port br-int ${GatewayPortName} -- set Interface ${GatewayPortName} type=internal mac="${AciRouterMac}"`,
    `ip link set ${GatewayPortName} up`,
    `ip route replace 10.2.0.0/16 dev ${GatewayPortName}`,
    `ip route replace 10.9.0.0/24 dev ${GatewayPortName}`,
    'ip link set eth1 up',
    'ovs-vsctl --may-exist add-port br-int eth1',
  ]);
});
