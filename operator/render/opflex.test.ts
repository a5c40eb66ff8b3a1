/**
 * The operator's part of the OpFlex session: spec.aci.opflex becomes the
 * host-agent config's `opflex` section (which the host agent copies into
 * agent.json), and the leaf's CA reaches the opflex agent container only.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parse } from 'yaml';
import { AciFabricSpec, type AciFabricSpecInput } from '../../crds/index.ts';
import { HostAgentConfig } from '../../lib/config/components.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { opflexCaDir, opflexCaFile } from '../../lib/config/opflex-session.ts';
import { renderFabric } from './index.ts';
import { ConfigKeys, ConfigMapName, Containers, HostAgentName } from './names.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const samplePath = path.join(here, '..', '..', 'samples', 'acifabric.yaml');
const fabric = { name: 'fabric', uid: '3c1a7d55-5f4e-4f4f-9a3e-000000000001' };

type Json = Record<string, any>;

async function render(opflex?: unknown): Promise<KubeObject[]> {
  const spec = (parse(await readFile(samplePath, 'utf8')) as { spec: AciFabricSpecInput }).spec;
  const aci = opflex === undefined ? spec.aci : { ...spec.aci, opflex };
  return renderFabric({ fabric, spec: AciFabricSpec.parse({ ...spec, aci }) }).objects;
}

function hostAgentConfig(objects: KubeObject[]): HostAgentConfig {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ConfigMapName) as
    (KubeObject & { data: Record<string, string> }) | undefined;
  return HostAgentConfig.parse(JSON.parse(cm?.data[ConfigKeys.hostAgent] ?? 'null'));
}

function hostPod(objects: KubeObject[]): Json {
  const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === HostAgentName) as
    Json | undefined;
  return ds?.spec.template.spec as Json;
}

const container = (pod: Json, name: string): Json =>
  (pod.containers as Json[]).find((c) => c.name === name) as Json;

test('without spec.aci.opflex: no session in the host-agent config, no CA volume', async (t) => {
  const objects = await render();
  t.is(hostAgentConfig(objects).opflex, undefined);
  t.false((hostPod(objects).volumes as Json[]).some((v) => v.name === 'opflex-leaf-ca'));
});

test("the session with the VMM domain's OpFlex domain, TLS verified against the mounted CA", async (t) => {
  const objects = await render({ tls: { caSecretRef: { name: 'leaf-ca', key: 'leaf.pem' } } });
  t.deepEqual(hostAgentConfig(objects).opflex, {
    peers: [{ host: '10.0.0.30', port: 8009 }],
    // The sample's VMM domain is kube-pod1 (its systemId), as acc-provision names it.
    domain: 'comp/prov-Kubernetes/ctrlr-[kube-pod1]-kube-pod1/sw-InsiemeLSOid',
    tls: { mode: 'verify', caFile: opflexCaFile },
    prrSeconds: 7200,
  });
  const pod = hostPod(objects);
  t.deepEqual(
    (pod.volumes as Json[]).find((v) => v.name === 'opflex-leaf-ca'),
    {
      name: 'opflex-leaf-ca',
      secret: { secretName: 'leaf-ca', items: [{ key: 'leaf.pem', path: 'ca.crt' }] },
    },
  );
  t.deepEqual(
    (container(pod, Containers.opflexAgent).volumeMounts as Json[]).find(
      (m) => m.name === 'opflex-leaf-ca',
    ),
    { name: 'opflex-leaf-ca', mountPath: opflexCaDir, readOnly: true },
  );
  // Only the agent that opens the session sees the CA.
  for (const name of [Containers.hostAgent, Containers.mcastDaemon])
    t.false(
      (container(pod, name).volumeMounts as Json[]).some((m) => m.name === 'opflex-leaf-ca'),
      name,
    );
});

test('a ConfigMap CA, an explicit peer, domain and server name pass through', async (t) => {
  const objects = await render({
    peer: { host: '10.250.0.30', port: 18009 },
    domain: 'comp/prov-Kubernetes/ctrlr-[other]-other/sw-InsiemeLSOid',
    tls: { caConfigMapRef: { name: 'leaf-ca' }, serverName: 'leaf-101' },
  });
  t.deepEqual(hostAgentConfig(objects).opflex, {
    peers: [{ host: '10.250.0.30', port: 18009 }],
    domain: 'comp/prov-Kubernetes/ctrlr-[other]-other/sw-InsiemeLSOid',
    tls: { mode: 'verify', caFile: opflexCaFile, serverName: 'leaf-101' },
    prrSeconds: 7200,
  });
  t.deepEqual(
    (hostPod(objects).volumes as Json[]).find((v) => v.name === 'opflex-leaf-ca'),
    {
      name: 'opflex-leaf-ca',
      configMap: { name: 'leaf-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    },
  );
});

test('the insecure modes say so in the config and mount nothing', async (t) => {
  const modes = {
    InsecureEncryptedUnverified: 'insecure-encrypted-unverified',
    InsecurePlaintext: 'insecure-plaintext',
  } as const;
  for (const [mode, agentMode] of Object.entries(modes)) {
    const objects = await render({ tls: { mode } });
    t.deepEqual(hostAgentConfig(objects).opflex?.tls, { mode: agentMode });
    t.false((hostPod(objects).volumes as Json[]).some((v) => v.name === 'opflex-leaf-ca'));
  }
});

test('a change of the OpFlex section rolls the host pods (their config hash changes)', async (t) => {
  const hash = async (opflex: unknown): Promise<unknown> => {
    const spec = (parse(await readFile(samplePath, 'utf8')) as { spec: AciFabricSpecInput }).spec;
    const input = { fabric, spec: AciFabricSpec.parse({ ...spec, aci: { ...spec.aci, opflex } }) };
    return (renderFabric(input).workloads.hostAgent as Json).spec.template.metadata.annotations;
  };
  const a = await hash({ tls: { mode: 'InsecurePlaintext' } });
  const b = await hash({ tls: { mode: 'InsecurePlaintext' }, peer: { host: '10.0.0.31' } });
  t.notDeepEqual(a, b);
});
