/**
 * spec.aci.opflex as a specification: what a user writes, the defaults it
 * gets, and the TLS rules, which the generated CRD must carry as CEL too so
 * the API server refuses the same specs (crds.e2e runs the invalid samples).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parse } from 'yaml';
import { AciFabricSpec, type AciFabricSpecInput } from '../index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const samplePath = path.join(here, '..', '..', 'samples', 'acifabric.yaml');
const crdPath = path.join(here, '..', 'acifabrics.aci.cni.dev.yaml');

async function withOpflex(opflex: unknown): Promise<ReturnType<typeof AciFabricSpec.safeParse>> {
  const spec = (parse(await readFile(samplePath, 'utf8')) as { spec: AciFabricSpecInput }).spec;
  return AciFabricSpec.safeParse({ ...spec, aci: { ...spec.aci, opflex } });
}

const issuesOf = (result: ReturnType<typeof AciFabricSpec.safeParse>): string[] =>
  result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

test('absent: no OpFlex session (the sample has none)', async (t) => {
  const spec = (parse(await readFile(samplePath, 'utf8')) as { spec: AciFabricSpecInput }).spec;
  t.is(AciFabricSpec.parse(spec).aci.opflex, undefined);
});

test('a CA reference is all it takes: peer 10.0.0.30:8009, mode Verify, key ca.crt', async (t) => {
  const result = await withOpflex({ tls: { caConfigMapRef: { name: 'leaf-ca' } } });
  t.deepEqual(issuesOf(result), []);
  t.deepEqual(result.data?.aci.opflex, {
    peer: { host: '10.0.0.30', port: 8009 },
    tls: { mode: 'Verify', caConfigMapRef: { name: 'leaf-ca', key: 'ca.crt' } },
  });
});

test('verification is the default: Verify without a CA bundle is refused', async (t) => {
  t.deepEqual(issuesOf(await withOpflex({ tls: {} })), [
    'aci.opflex.tls.caSecretRef: mode Verify needs the CA bundle: caSecretRef or caConfigMapRef',
  ]);
  t.deepEqual(issuesOf(await withOpflex({})), [
    'aci.opflex.tls: Invalid input: expected object, received undefined',
  ]);
});

test('the insecure modes need no CA; two CA references are refused', async (t) => {
  for (const mode of ['InsecureEncryptedUnverified', 'InsecurePlaintext'])
    t.deepEqual(issuesOf(await withOpflex({ tls: { mode } })), [], mode);
  t.deepEqual(
    issuesOf(
      await withOpflex({
        tls: { caSecretRef: { name: 'a' }, caConfigMapRef: { name: 'b' } },
      }),
    ),
    ['aci.opflex.tls.caConfigMapRef: caSecretRef and caConfigMapRef are mutually exclusive'],
  );
  t.deepEqual(issuesOf(await withOpflex({ tls: { mode: 'encrypted' } })).length, 1);
});

test('peer, domain and key are checked field by field', async (t) => {
  const tls = { caSecretRef: { name: 'leaf-ca' } };
  const cases: [unknown, string][] = [
    [{ tls, peer: { port: 0 } }, 'aci.opflex.peer.port'],
    [{ tls, peer: { port: 65536 } }, 'aci.opflex.peer.port'],
    [{ tls, peer: { host: 'leaf one' } }, 'aci.opflex.peer.host'],
    [{ tls, domain: '' }, 'aci.opflex.domain'],
    [{ tls, domain: 'tab\there' }, 'aci.opflex.domain'],
    [{ tls: { caSecretRef: { name: 'Leaf_CA' } } }, 'aci.opflex.tls.caSecretRef.name'],
    [{ tls: { caSecretRef: { name: 'leaf-ca', key: 'a/b' } } }, 'aci.opflex.tls.caSecretRef.key'],
    [{ tls: { ...tls, serverName: 'leaf one' } }, 'aci.opflex.tls.serverName'],
  ];
  for (const [opflex, field] of cases) {
    const issues = issuesOf(await withOpflex(opflex));
    t.true(issues.length > 0, JSON.stringify(opflex));
    t.true(
      issues.every((issue) => issue.startsWith(`${field}:`)),
      `${JSON.stringify(opflex)}: ${issues.join('; ')}`,
    );
  }
  const explicit = await withOpflex({
    tls: { ...tls, serverName: 'leaf-101.fabric.example' },
    peer: { host: 'leaf-proxy.fabric.example', port: 18009 },
    domain: 'comp/prov-Kubernetes/ctrlr-[dom]-kube/sw-InsiemeLSOid',
  });
  t.deepEqual(issuesOf(explicit), []);
});

test('the CRD carries both TLS rules as CEL, with the same messages', async (t) => {
  const crd = await readFile(crdPath, 'utf8');
  t.true(
    crd.includes(
      "rule: self.mode != 'Verify' || has(self.caSecretRef) || has(self.caConfigMapRef)",
    ),
  );
  t.true(crd.includes('message: "mode Verify needs the CA bundle: caSecretRef or caConfigMapRef"'));
  t.true(crd.includes('rule: "!(has(self.caSecretRef) && has(self.caConfigMapRef))"'));
  t.true(crd.includes('message: caSecretRef and caConfigMapRef are mutually exclusive'));
});
