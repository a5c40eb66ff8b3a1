import test from 'ava';
import { AgentFileConfig } from '../opflex/main-config.ts';
import { McastFileConfig } from '../mcast/main-config.ts';
import { AciRouterMac, nodeAgentFiles } from './node-agents.ts';

const facts = {
  nodeName: 'worker-1',
  gateways: ['fd00:2::1/64', '10.2.0.1/16'],
  nodeIPs: ['192.168.10.11', 'fd00:10::11'],
  stateDir: '/usr/local/var/lib/aci-containers',
  ovsRunDir: '/usr/local/var/run/openvswitch',
  bridge: 'br-int',
};

test('the files the host agent writes are what the opflex agent and mcast daemon parse', (t) => {
  const files = nodeAgentFiles(facts);
  const agent = AgentFileConfig.parse(files['agent.json']);
  t.is(agent.gateway.ip, '10.2.0.1');
  t.is(agent.gateway.mac, AciRouterMac);
  t.deepEqual(agent.nodeIPs, ['192.168.10.11']);
  t.is(agent.bridge, 'br-int');
  const mcast = McastFileConfig.parse(files['mcast.json']);
  t.is(mcast.nodeName, 'worker-1');
  t.is(mcast.fabricDir, '/usr/local/var/lib/aci-containers/fabric');
});

test('an IPv6-only PodIPPool is refused clearly (the data plane is IPv4)', (t) => {
  t.throws(() => nodeAgentFiles({ ...facts, gateways: ['fd00:2::1/64'] }), {
    message: /no IPv4 gateway/,
  });
});
