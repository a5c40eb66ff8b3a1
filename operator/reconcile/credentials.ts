/**
 * Checks the Secrets (and the leaf CA's ConfigMap) an AciFabric references
 * before anything is applied: a missing object or key is a Degraded condition with a message that says
 * exactly what to fix, never a crash-looping controller or a pod stuck on a
 * volume that cannot mount. Values are only tested for presence and never
 * logged.
 */
import { accProvisionKeyFile } from '../../agents/controller/config.ts';
import type { AciFabricSpec } from '../../crds/index.ts';
import type { KubeObject } from '../../lib/kube/types.ts';

/** A Secret or a ConfigMap: both keep their keys in `data` (base64 for a Secret, text for a ConfigMap). */
export interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

/** The leaf's CA Secret, when the opflex agent mounts it (mode Verify, as render/workloads.ts). */
function leafCaSecret(spec: AciFabricSpec): { name: string; key: string } | undefined {
  const tls = spec.aci.opflex?.tls;
  return tls?.mode === 'Verify' ? tls.caSecretRef : undefined;
}

/** The ConfigMaps the spec names: the leaf's CA bundle, when given as one (mode Verify). */
export function referencedConfigMaps(spec: AciFabricSpec): string[] {
  const tls = spec.aci.opflex?.tls;
  return tls?.mode === 'Verify' && tls.caConfigMapRef ? [tls.caConfigMapRef.name] : [];
}

/** Every Secret the spec names, each once (the watches follow this list). */
export function referencedSecrets(spec: AciFabricSpec): string[] {
  return [
    ...new Set([
      spec.apic.credentials.secretRef.name,
      ...(spec.apic.caBundleSecretRef ? [spec.apic.caBundleSecretRef.name] : []),
      ...(leafCaSecret(spec) ? [leafCaSecret(spec)!.name] : []),
    ]),
  ];
}

export function credentialProblems(
  spec: AciFabricSpec,
  secretOf: (name: string) => SecretLike | undefined,
  configMapOf: (name: string) => SecretLike | undefined = () => undefined,
): string[] {
  const problems: string[] = [];
  const ref = spec.apic.credentials.secretRef.name;
  const credentials = secretOf(ref);
  if (!credentials) {
    problems.push(
      `Secret ${spec.namespace}/${ref} (spec.apic.credentials.secretRef) does not exist`,
    );
  } else {
    const has = (key: string) => Boolean(credentials.data?.[key]);
    const { method, username } = spec.apic.credentials;
    // As the controller reads them (loadCredentials): acc-provision's Secret has no username and
    // keeps the key as user.key; the user name may come from the spec instead.
    const missing = [
      ...(has('username') || username ? [] : ['username (or spec.apic.credentials.username)']),
      ...(method === 'Password'
        ? has('password')
          ? []
          : ['password']
        : has('privateKey') || has(accProvisionKeyFile)
          ? []
          : [`privateKey (or ${accProvisionKeyFile})`]),
    ];
    if (missing.length > 0) {
      problems.push(
        `Secret ${spec.namespace}/${ref} lacks ${missing.join(' and ')} (needed for method ${method})`,
      );
    }
  }
  const keyed = (field: string, name: string, key: string) => {
    const secret = secretOf(name);
    if (!secret) problems.push(`Secret ${spec.namespace}/${name} (${field}) does not exist`);
    else if (!secret.data?.[key])
      problems.push(`Secret ${spec.namespace}/${name} (${field}) lacks ${key}`);
  };
  if (spec.apic.caBundleSecretRef)
    keyed('spec.apic.caBundleSecretRef', spec.apic.caBundleSecretRef.name, 'ca.crt');
  // Mounted into the opflex agent: a missing Secret or key would hold every host pod at start.
  const leafCa = leafCaSecret(spec);
  if (leafCa) keyed('spec.aci.opflex.tls.caSecretRef', leafCa.name, leafCa.key);
  // The same for a CA given as a ConfigMap: without it the opflex volume never mounts.
  const tls = spec.aci.opflex?.tls;
  if (tls?.mode === 'Verify' && tls.caConfigMapRef) {
    const { name, key } = tls.caConfigMapRef;
    const configMap = configMapOf(name);
    const field = 'spec.aci.opflex.tls.caConfigMapRef';
    if (!configMap) problems.push(`ConfigMap ${spec.namespace}/${name} (${field}) does not exist`);
    else if (!configMap.data?.[key])
      problems.push(`ConfigMap ${spec.namespace}/${name} (${field}) lacks ${key}`);
  }
  return problems;
}
