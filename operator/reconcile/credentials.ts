/**
 * Checks the Secrets an AciFabric references before anything is applied:
 * a missing Secret or key is a Degraded condition with a message that says
 * exactly what to fix, never a crash-looping controller. Values are only
 * tested for presence and never logged.
 */
import type { AciFabricSpec } from '../../crds/index.ts';
import type { KubeObject } from '../../lib/kube/types.ts';

export interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

export function credentialProblems(
  spec: AciFabricSpec,
  credentials: SecretLike | undefined,
  caBundle: SecretLike | undefined,
): string[] {
  const problems: string[] = [];
  const ref = spec.apic.credentials.secretRef.name;
  if (!credentials) {
    problems.push(
      `Secret ${spec.namespace}/${ref} (spec.apic.credentials.secretRef) does not exist`,
    );
  } else {
    const has = (key: string) => Boolean(credentials.data?.[key]);
    const needed = [
      'username',
      spec.apic.credentials.method === 'Password' ? 'password' : 'privateKey',
    ];
    const missing = needed.filter((key) => !has(key));
    if (missing.length > 0) {
      problems.push(
        `Secret ${spec.namespace}/${ref} lacks ${missing.join(' and ')} (needed for method ${spec.apic.credentials.method})`,
      );
    }
  }
  if (spec.apic.caBundleSecretRef) {
    const name = spec.apic.caBundleSecretRef.name;
    if (!caBundle)
      problems.push(
        `Secret ${spec.namespace}/${name} (spec.apic.caBundleSecretRef) does not exist`,
      );
    else if (!caBundle.data?.['ca.crt'])
      problems.push(`Secret ${spec.namespace}/${name} lacks ca.crt`);
  }
  return problems;
}
