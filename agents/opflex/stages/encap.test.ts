/**
 * VXLAN encapsulation flows (expected `dump-flows`-like lines, as sets): the
 * VNI is the only per-packet encapsulation, mapped from and to the
 * node-local bridge-domain id; a domain without a VNI never leaves the node.
 */
import test from 'ava';
import { DataplaneConfig, type Model } from '../model.ts';
import { describeFlow } from '../pipeline.ts';
import { renderPipeline } from '../render.ts';
import { PodA, PodB, defaultModel } from '../../../e2e/support/opflex/fixtures.ts';

function vxlanModel(change: Partial<Model> = {}): Model {
  const base = defaultModel();
  return {
    ...base,
    config: DataplaneConfig.parse({
      ...base.config,
      gateway: { ...base.config.gateway, bridgeDomain: 'bd', hostMac: '02:ac:00:00:00:01' },
      uplink: { port: 'vxlan0', encap: 'vxlan' },
      bridgeDomainVnis: { bd: 0x12345 },
    }),
    endpoints: [
      { ...PodA, vni: 0x12345 },
      { ...PodB, vni: 0x12345 },
    ],
    uplink: { port: 'vxlan0', ofport: 30, encap: 'vxlan' },
    gatewayVlan: 100,
    gatewayVni: 0x12345,
    ...change,
  };
}

const uplinkLines = (m: Model): string[] =>
  renderPipeline(m)
    .flows.map(describeFlow)
    .filter((l) => /in_port=30\b|reg1=0x1e\b/.test(l))
    .sort();

test('vxlan: frames from the tunnel join their VNI’s domain, the node’s own floods back from the group are dropped, frames out carry the VNI', (t) => {
  t.deepEqual(uplinkLines(vxlanModel()), [
    'table=Classifier, priority=200,in_port=30 actions=drop',
    'table=Classifier, priority=210,in_port=30,tun_id=0x12345 actions=load:0x64->NXM_NX_REG2[0..11],load:0x3->NXM_NX_REG0[0..3],goto_table:SpoofGuard',
    'table=Classifier, priority=220,in_port=30,dl_src=02:ac:00:00:00:01 actions=drop',
    'table=Classifier, priority=220,in_port=30,dl_src=0a:58:0a:00:00:01 actions=drop',
    'table=Classifier, priority=220,in_port=30,dl_src=0a:58:0a:00:00:02 actions=drop',
    'table=Output, priority=190,reg1=0x1e actions=drop',
    'table=Output, priority=200,reg1=0x1e,reg2=0x64/0xfff actions=set_field:0x12345->tun_id,output:30',
    'table=Output, priority=205,reg0=0x2/0xf,reg1=0x1e,reg2=0x64/0xfff actions=set_field:02:ac:00:00:00:01->eth_src,set_field:0x12345->tun_id,output:30',
  ]);
});

test('vxlan: no VLAN is ever pushed toward the tunnel', (t) => {
  t.false(renderPipeline(vxlanModel()).flows.some((f) => f.actions.includes('push_vlan')));
});

test('vxlan: a bridge domain without a VNI stays on the node (only the drop toward the tunnel)', (t) => {
  const m = vxlanModel({ endpoints: [PodA, PodB] });
  const { gatewayVni: _g, ...noGatewayVni } = m;
  const lines = uplinkLines(noGatewayVni);
  t.false(lines.some((l) => l.includes('tun_id')));
  t.true(lines.includes('table=Output, priority=190,reg1=0x1e actions=drop'));
});
