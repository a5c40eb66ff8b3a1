import test from 'ava';
import { AciFabricSpec } from '../../crds/index.ts';
import {
  credentialProblems,
  referencedConfigMaps,
  referencedSecrets,
  type SecretLike,
} from './credentials.ts';

function spec(
  credentials: Record<string, unknown>,
  refs: { apicCa?: string; opflexTls?: Record<string, unknown> } = {},
): AciFabricSpec {
  return AciFabricSpec.parse({
    systemId: 'k',
    apic: {
      hosts: ['a'],
      credentials: { secretRef: { name: 'creds' }, ...credentials },
      ...(refs.apicCa ? { caBundleSecretRef: { name: refs.apicCa } } : {}),
    },
    aci: {
      vrf: { name: 'v', tenant: 'common' },
      l3out: { name: 'l', externalNetworks: ['e'] },
      aep: 'aep',
      vmmDomain: { multicastRange: { start: '225.0.0.1', end: '225.0.0.9' } },
      ...(refs.opflexTls ? { opflex: { tls: refs.opflexTls } } : {}),
    },
    network: {
      nodeSubnet: '10.1.0.1/16',
      podSubnets: ['10.2.0.1/16'],
      nodeServiceSubnet: '10.5.0.1/24',
      kubeapiVlan: 1,
      serviceVlan: 2,
      infraVlan: 3,
    },
  });
}

const secret = (name: string, keys: string[]): SecretLike => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'aci-containers-system' },
  data: Object.fromEntries(keys.map((k) => [k, 'eA=='])),
});

const certificate = { method: 'Certificate', certificateName: 'kube.crt' };

/** The Secrets of the namespace, as the watches show them. */
const only =
  (...secrets: (SecretLike | undefined)[]) =>
  (name: string) =>
    secrets.find((s) => s?.metadata.name === name);

test('a Secret with username and privateKey is enough for method Certificate', (t) => {
  t.deepEqual(
    credentialProblems(spec(certificate), only(secret('creds', ['username', 'privateKey']))),
    [],
  );
});

test("acc-provision's Secret (user.key, no username) works when the spec names the user, as the controller reads it", (t) => {
  const accProvision = only(secret('creds', ['user.key', 'user.crt']));
  t.deepEqual(credentialProblems(spec({ ...certificate, username: 'kube' }), accProvision), []);
  const [problem] = credentialProblems(spec(certificate), accProvision);
  t.regex(problem ?? '', /lacks username \(or spec\.apic\.credentials\.username\)/);
});

test('a missing key or Secret is named, never its values', (t) => {
  const [noKey] = credentialProblems(spec(certificate), only(secret('creds', ['username'])));
  t.is(
    noKey,
    'Secret aci-containers-system/creds lacks privateKey (or user.key) (needed for method Certificate)',
  );
  const [noPassword] = credentialProblems(
    spec({ method: 'Password' }),
    only(secret('creds', ['username', 'privateKey'])),
  );
  t.regex(noPassword ?? '', /lacks password \(needed for method Password\)/);
  t.deepEqual(credentialProblems(spec(certificate), only()), [
    'Secret aci-containers-system/creds (spec.apic.credentials.secretRef) does not exist',
  ]);
  for (const problem of credentialProblems(spec(certificate), only(secret('creds', ['username']))))
    t.false(problem.includes('eA=='));
});

test('a CA bundle Secret must exist and carry ca.crt', (t) => {
  const creds = secret('creds', ['username', 'privateKey']);
  t.deepEqual(credentialProblems(spec(certificate, { apicCa: 'ca' }), only(creds)), [
    'Secret aci-containers-system/ca (spec.apic.caBundleSecretRef) does not exist',
  ]);
  t.deepEqual(
    credentialProblems(spec(certificate, { apicCa: 'ca' }), only(creds, secret('ca', ['other']))),
    ['Secret aci-containers-system/ca (spec.apic.caBundleSecretRef) lacks ca.crt'],
  );
  t.deepEqual(
    credentialProblems(spec(certificate, { apicCa: 'ca' }), only(creds, secret('ca', ['ca.crt']))),
    [],
  );
});

test("the leaf's CA Secret is checked (its key) and watched only when the opflex agent mounts it", (t) => {
  const creds = secret('creds', ['username', 'privateKey']);
  const verify = spec(certificate, {
    opflexTls: { mode: 'Verify', caSecretRef: { name: 'leaf-ca', key: 'bundle.pem' } },
  });
  t.deepEqual(referencedSecrets(verify), ['creds', 'leaf-ca']);
  t.deepEqual(credentialProblems(verify, only(creds, secret('leaf-ca', ['ca.crt']))), [
    'Secret aci-containers-system/leaf-ca (spec.aci.opflex.tls.caSecretRef) lacks bundle.pem',
  ]);
  t.deepEqual(credentialProblems(verify, only(creds, secret('leaf-ca', ['bundle.pem']))), []);
  const insecure = spec(certificate, {
    opflexTls: { mode: 'InsecurePlaintext', caSecretRef: { name: 'leaf-ca' } },
  });
  t.deepEqual(referencedSecrets(insecure), ['creds']);
  t.deepEqual(credentialProblems(insecure, only(creds)), []);
});

test("the leaf's CA given as a ConfigMap is checked (its key) and watched as a ConfigMap, in mode Verify only", (t) => {
  const creds = only(secret('creds', ['username', 'privateKey']));
  const configMap = (keys: string[]): SecretLike => ({
    ...secret('leaf-ca', keys),
    kind: 'ConfigMap',
  });
  const verify = spec(certificate, {
    opflexTls: { mode: 'Verify', caConfigMapRef: { name: 'leaf-ca', key: 'ca.crt' } },
  });
  t.deepEqual(referencedSecrets(verify), ['creds']);
  t.deepEqual(referencedConfigMaps(verify), ['leaf-ca']);
  t.deepEqual(credentialProblems(verify, creds, only()), [
    'ConfigMap aci-containers-system/leaf-ca (spec.aci.opflex.tls.caConfigMapRef) does not exist',
  ]);
  t.deepEqual(credentialProblems(verify, creds, only(configMap(['other']))), [
    'ConfigMap aci-containers-system/leaf-ca (spec.aci.opflex.tls.caConfigMapRef) lacks ca.crt',
  ]);
  t.deepEqual(credentialProblems(verify, creds, only(configMap(['ca.crt']))), []);
  const insecure = spec(certificate, {
    opflexTls: { mode: 'InsecurePlaintext', caConfigMapRef: { name: 'leaf-ca' } },
  });
  t.deepEqual(referencedConfigMaps(insecure), []);
  t.deepEqual(credentialProblems(insecure, creds, only()), []);
});

test('one watch per Secret however often the spec names it', (t) => {
  t.deepEqual(referencedSecrets(spec(certificate, { apicCa: 'creds' })), ['creds']);
});
