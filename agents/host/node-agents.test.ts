import test from 'ava';
import { AgentFileConfig } from '../opflex/main-config.ts';
import { McastFileConfig } from '../mcast/main-config.ts';
import {
  AciRouterMac,
  GatewayPortName,
  InfraBridgeName,
  TunnelPortName,
  bridgeDomainEncapVlan,
  bridgeDomainGroup,
  bridgeDomainVni,
  nodeVtep,
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

test('no uplink interface: no uplink in the files', (t) => {
  const { uplinkInterface: _u, ...noUplink } = facts;
  t.is(AgentFileConfig.parse(nodeAgentFiles(noUplink)['agent.json']).uplink, undefined);
  t.is(nodePortsPlan(noUplink).uplink, undefined);
  t.is(nodePortsPlan({ ...noUplink, ...vxlanFacts }).tunnel, undefined);
});

const vxlanFacts = {
  encapType: 'vxlan' as const,
  infraVlan: 4093,
  multicastRange: { start: '225.20.1.1', end: '225.20.255.255' },
};

test('vxlan encap: the tunnel port is the uplink, each bridge domain has a VNI and a group from the range, the same on every node', (t) => {
  const files = nodeAgentFiles({ ...facts, ...vxlanFacts });
  const agent = AgentFileConfig.parse(files['agent.json']);
  t.deepEqual(agent.uplink, { port: TunnelPortName, encap: 'vxlan' });
  const vni = bridgeDomainVni('aci-containers-kube-pod-bd');
  t.true(vni >= 1 && vni <= 0xffffff);
  t.deepEqual(agent.bridgeDomainVnis, { 'aci-containers-kube-pod-bd': vni });
  t.deepEqual(agent.bridgeDomainVlans, {});
  const mcast = McastFileConfig.parse(files['mcast.json']);
  const group = bridgeDomainGroup('aci-containers-kube-pod-bd', vxlanFacts.multicastRange);
  t.regex(group, /^225\.20\.\d+\.\d+$/);
  t.deepEqual(mcast.bridgeDomainGroups, { 'aci-containers-kube-pod-bd': group });
  t.is(mcast.groupInterface, InfraBridgeName);
  const other = nodeAgentFiles({ ...facts, ...vxlanFacts, nodeName: 'worker-2' });
  t.deepEqual(other['agent.json'].bridgeDomainVnis, agent.bridgeDomainVnis);
  t.deepEqual(other['mcast.json'].bridgeDomainGroups, mcast.bridgeDomainGroups);
});

test('vxlan encap: the VTEP is the node address’s host bits in the TEP pool; unusable inputs are named', (t) => {
  t.is(nodeVtep({ nodeIPs: ['fd00::1', '192.168.10.11'] }), '10.0.10.11/16');
  t.is(
    nodeVtep({
      nodeIPs: ['172.16.3.4'],
      infra: { tepSubnet: '10.8.0.0/24', anycastVtep: '10.8.0.32', udpPort: 8472 },
    }),
    '10.8.0.4/24',
  );
  t.throws(() => nodeVtep({ nodeIPs: ['fd00::1'] }), { message: /node's IPv4 address/ });
  t.throws(() => nodeVtep({ nodeIPs: ['192.168.0.32'] }), { message: /anycast \(10\.0\.0\.32\)/ });
  t.throws(() => nodeVtep({ nodeIPs: ['192.168.0.0'] }), { message: /network, broadcast/ });
  const { infraVlan: _v, ...noInfraVlan } = vxlanFacts;
  t.throws(() => nodeAgentFiles({ ...facts, ...noInfraVlan }), {
    message: /spec\.network\.infraVlan/,
  });
  const { multicastRange: _r, ...noRange } = vxlanFacts;
  t.throws(() => nodeAgentFiles({ ...facts, ...noRange }), { message: /multicastRange/ });
});

test('vxlan ports: the infra bridge (VTEP address, infra VLAN, the uplink as its trunk), the tunnel port, the group termination flow', async (t) => {
  const calls: string[] = [];
  await ensureNodePorts(nodePortsPlan({ ...facts, ...vxlanFacts }), {
    vsctl: async (args) => {
      calls.push(`ovs-vsctl ${args.join(' ')}`);
      return args[0] === 'get' ? 'netdev\n' : '';
    },
    ip: async (args) => {
      calls.push(`ip ${args.join(' ')}`);
      return '';
    },
    ofctl: async (bridge, args) => {
      calls.push(`ovs-ofctl ${args[0]} ${bridge} ${args.slice(1).join(' ')}`);
      return '';
    },
    ethtool: async (args) => {
      calls.push(`ethtool ${args.join(' ')}`);
      return '';
    },
  });
  const mac = nodePortsPlan({ ...facts, ...vxlanFacts }).tunnel?.vtepMac ?? '';
  t.regex(mac, /^02:ac(:[0-9a-f]{2}){4}$/);
  t.deepEqual(calls.slice(4), [
    'ovs-vsctl get Bridge br-int datapath_type',
    `ovs-vsctl --may-exist add-br br-infra -- set Bridge br-infra datapath_type=netdev other-config:hwaddr="${mac}" -- set Port br-infra tag=4093`,
    'ip link set eth1 up',
    'ovs-vsctl --may-exist add-port br-infra eth1 -- set Port eth1 vlan_mode=trunk trunks=4093',
    'ip addr replace 10.0.10.11/16 dev br-infra',
    'ip link set br-infra up',
    'ovs-vsctl --may-exist add-port br-int vxlan0 -- set Interface vxlan0 type=vxlan options:remote_ip=10.0.0.32 options:key=flow options:dst_port=8472',
    `ovs-ofctl add-flow br-infra priority=100,udp,in_port=eth1,dl_vlan=4093,nw_dst=224.0.0.0/4,tp_dst=8472,actions=strip_vlan,mod_dl_dst:${mac},mod_nw_dst:10.0.10.11,LOCAL`,
    // The userspace datapath: the host stack's checksums are computed before the tunnel.
    `ethtool --offload ${GatewayPortName} tx off`,
  ]);
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
    ofctl: async () => {
      throw new Error('no flows with vlan encap');
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

test("the fabric's OpFlex session reaches agent.json under the node's name, and only there", (t) => {
  const opflex = {
    peers: [{ host: '10.0.0.30', port: 8009 }],
    domain: 'comp/prov-Kubernetes/ctrlr-[kube]-kube/sw-InsiemeLSOid',
    tls: { mode: 'verify' as const, caFile: '/usr/local/etc/opflex-agent-ovs/leaf-ca/ca.crt' },
    prrSeconds: 7200,
  };
  const files = nodeAgentFiles({ ...facts, opflex });
  t.deepEqual(AgentFileConfig.parse(files['agent.json']).opflex, { ...opflex, name: 'worker-1' });
  t.false('opflex' in files['mcast.json']);
  // Without a session the agent enforces no contracts (and fails no pod closed).
  t.false('opflex' in nodeAgentFiles(facts)['agent.json']);
});
