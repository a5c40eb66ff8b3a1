import { readFile } from 'node:fs/promises';
import test from 'ava';
import { pino } from 'pino';
import { parse } from 'yaml';
import { AciFabricSpec, type AciFabricSpecInput } from '../../../crds/index.ts';
import { HostAgentConfig } from '../../../lib/config/components.ts';
import { renderConfig } from '../../../operator/render/config.ts';
import { ConfigKeys } from '../../../operator/render/names.ts';
import { nodeAgentFiles } from '../../host/node-agents.ts';
import { opflexCaFile } from '../../../lib/config/opflex-session.ts';
import { AgentFileConfig } from '../main-config.ts';
import { OpflexSessionConfig, OpflexSessionHolder } from './config.ts';

const base = {
  nodeName: 'node-1',
  gateway: { ip: '10.2.0.1', mac: '00:22:bd:f8:19:ff' },
};

test('agent.json may carry an opflex section; TLS is verified unless a mode says otherwise', (t) => {
  const parsed = AgentFileConfig.parse({
    ...base,
    opflex: { peers: [{ host: '10.0.0.30', port: 8009 }], domain: 'kube' },
  });
  t.deepEqual(parsed.opflex?.tls, { mode: 'verify', caFile: opflexCaFile });
  t.is(parsed.opflex?.prrSeconds, 7200);
  t.is(AgentFileConfig.parse(base).opflex, undefined);
  const bad = OpflexSessionConfig.safeParse({ peers: [], domain: 'kube', tls: { mode: 'none' } });
  t.false(bad.success);
  t.deepEqual(bad.error?.issues.map((i) => i.path.join('.')).sort(), ['peers', 'tls.mode']);
});

test('a rewrite with the same opflex section keeps the session; a changed one starts another', async (t) => {
  const holder = new OpflexSessionHolder(pino({ level: 'silent' }));
  const config = OpflexSessionConfig.parse({
    peers: [{ host: '127.0.0.1', port: 1 }],
    domain: 'kube',
    tls: { mode: 'insecure-plaintext' },
  });
  try {
    const first = await holder.update(config, 'node-1');
    t.truthy(first);
    t.is(await holder.update(structuredClone(config), 'node-1'), first);
    const second = await holder.update({ ...config, domain: 'other' }, 'node-1');
    t.not(second, first);
    t.is(await holder.update(undefined, 'node-1'), undefined);
  } finally {
    await holder.stop();
  }
});

test('every hop from the AciFabric to the agent keeps the session: render, host agent, agent.json', async (t) => {
  const sample = parse(
    await readFile(new URL('../../../samples/acifabric.yaml', import.meta.url), 'utf8'),
  ) as { spec: AciFabricSpecInput };
  const spec = AciFabricSpec.parse({
    ...sample.spec,
    aci: {
      ...sample.spec.aci,
      opflex: { peer: { host: '10.0.0.30' }, tls: { caSecretRef: { name: 'leaf-ca' } } },
    },
  });
  const rendered = renderConfig({ fabric: { name: 'f', uid: 'u' }, spec });
  // The host agent reads its file from the ConfigMap, as text.
  const hostConfig = HostAgentConfig.parse(JSON.parse(rendered.files[ConfigKeys.hostAgent]));
  const files = nodeAgentFiles({
    nodeName: 'node-7',
    gateways: ['10.2.0.1/16'],
    nodeIPs: ['10.1.0.7'],
    stateDir: hostConfig.stateDir,
    ovsRunDir: '/usr/local/var/run/openvswitch',
    bridge: hostConfig.integrationBridge,
    encapType: hostConfig.encapType,
    bridgeDomains: [hostConfig.aci.podBridgeDomain],
    ...(hostConfig.opflex ? { opflex: hostConfig.opflex } : {}),
  });
  const agent = AgentFileConfig.parse(JSON.parse(JSON.stringify(files['agent.json'])));
  t.deepEqual(agent.opflex, {
    peers: [{ host: '10.0.0.30', port: 8009 }],
    domain: 'comp/prov-Kubernetes/ctrlr-[kube-pod1]-kube-pod1/sw-InsiemeLSOid',
    name: 'node-7',
    tls: { mode: 'verify', caFile: opflexCaFile },
    prrSeconds: 7200,
  });
});
