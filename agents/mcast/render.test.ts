import test from 'ava';
import { describeFlow, describeGroup } from '../opflex/pipeline.ts';
import { floodGroupId, floodLocalGroupId, renderFlood } from './render.ts';

const bd = {
  name: 'bd-pods',
  vlan: 100,
  localPorts: [1, 2],
  uplinkOfport: 20,
};

test('flood group: local ports plus the uplink tagged with the encap VLAN; flood-local: local ports only', (t) => {
  const { groups } = renderFlood([bd]);
  t.deepEqual(groups.map(describeGroup), [
    `group_id=${floodGroupId(100)},type=all,bucket=actions=output:1,bucket=actions=output:2,bucket=actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:20`,
    `group_id=${floodLocalGroupId(100)},type=all,bucket=actions=output:1,bucket=actions=output:2`,
  ]);
});

test('Flood table: pods flood everywhere, traffic from the leaf floods locally (split horizon)', (t) => {
  t.deepEqual(renderFlood([bd]).flows.map(describeFlow).sort(), [
    'table=Flood, priority=0 actions=drop',
    `table=Flood, priority=200,reg0=0x1/0xf,reg2=0x64/0xfff actions=group:${floodGroupId(100)}`,
    `table=Flood, priority=200,reg0=0x3/0xf,reg2=0x64/0xfff actions=group:${floodLocalGroupId(100)}`,
  ]);
});

test('each bridge domain has its own group ids', (t) => {
  t.not(floodLocalGroupId(100), floodGroupId(101));
});

test('vxlan uplink: the remote bucket carries the domain’s VNI to the tunnel port; no VNI, no remote bucket', (t) => {
  const tunnel = { ...bd, encap: 'vxlan' as const, vni: 0x12345 };
  t.is(
    renderFlood([tunnel]).groups.map(describeGroup)[0],
    `group_id=${floodGroupId(100)},type=all,bucket=actions=output:1,bucket=actions=output:2,bucket=actions=set_field:0x12345->tun_id,output:20`,
  );
  const { vni: _v, ...noVni } = tunnel;
  t.is(
    renderFlood([noVni]).groups.map(describeGroup)[0],
    `group_id=${floodGroupId(100)},type=all,bucket=actions=output:1,bucket=actions=output:2`,
  );
});

test('no uplink yet: the flood group reaches the local ports only', (t) => {
  const { groups } = renderFlood([{ name: bd.name, vlan: bd.vlan, localPorts: bd.localPorts }]);
  t.is(
    groups.map(describeGroup)[0],
    `group_id=${floodGroupId(100)},type=all,bucket=actions=output:1,bucket=actions=output:2`,
  );
});
