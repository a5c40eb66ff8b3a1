/**
 * The one-time commands around provisioning (thin I/O over the pure
 * renders): migration of an acc-provision input file, creation of the APIC
 * user with its certificate and the credentials Secret, and the adoption
 * dry run. Secrets are read and written by reference; their values are
 * never printed or logged.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AciFabricSpec, apiVersion, type AciFabricSpec as Spec } from '../../../crds/index.ts';
import type { KubeClient } from '../../../lib/kube/client.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';
import { controllerConfig } from '../../../operator/render/config.ts';
import { ApicClient } from '../apic/client.ts';
import { staticObjects, StaticKey } from '../policy/static.ts';
import { adoptionPlan, formatAdoptionPlan, readDesiredSubtrees } from './adopt.ts';
import { migrateAccProvision } from './migrate.ts';
import { provisionObjects } from './render.ts';
import { apicUserObjects, userDn } from './user.ts';

export const FieldManager = 'aci-provision';

/** `migrate`: the AciFabric as YAML, what has no equivalent as comments above it. */
export function migrateFile(
  file: string,
  options: { name?: string; namespace?: string } = {},
): string {
  const { fabric, unmigrated } = migrateAccProvision(parse(readFileSync(file, 'utf8')), options);
  const notes = unmigrated.map((u) => `#   ${u.path}: ${u.reason}`);
  const header = [
    `# AciFabric migrated from ${file}.`,
    '# It provisions and adopts what acc-provision made (spec.aci.provision: Fabric,',
    '# spec.aci.adoptExisting: true); preview the adoption with `adopt --dry-run` first.',
    ...(notes.length > 0 ? ['# Settings with no AciFabric equivalent:', ...notes] : []),
  ];
  return `${header.join('\n')}\n${stringify(fabric)}`;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

async function readFabric(kube: KubeClient, name: string): Promise<Spec> {
  const fabric = await kube.get<KubeObject & { spec?: unknown }>({
    apiVersion,
    kind: 'AciFabric',
    name,
  });
  return AciFabricSpec.parse(fabric.spec);
}

async function secretValues(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  const secret = await kube.get<SecretObject>({
    apiVersion: 'v1',
    kind: 'Secret',
    name,
    namespace,
  });
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v, 'base64').toString('utf8'),
    ]),
  );
}

async function caPem(kube: KubeClient, spec: Spec): Promise<string | undefined> {
  const ref = spec.apic.caBundleSecretRef;
  if (!ref) return undefined;
  const ca = (await secretValues(kube, spec.namespace, ref.name))['ca.crt'];
  if (!ca) throw new Error(`Secret ${spec.namespace}/${ref.name} has no ca.crt`);
  return ca;
}

/** A fresh RSA key and a self-signed certificate for `commonName` (Node's crypto cannot issue X.509). */
export function generateUserCertificate(commonName: string): { keyPem: string; certPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aci-user-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '3650',
        '-subj',
        `/CN=${commonName}`,
        '-keyout',
        'user.key',
        '-out',
        'user.crt',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return {
      keyPem: readFileSync(join(dir, 'user.key'), 'utf8'),
      certPem: readFileSync(join(dir, 'user.crt'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface CreateUserOptions {
  kube: KubeClient;
  fabric: string;
  /** Secret in the fabric namespace with `username` and `password` of an APIC admin. */
  adminSecret: string;
  /** Test only: APIC hosts instead of the AciFabric's (a simulator on a random port). */
  apicHosts?: readonly string[];
}

export interface CreatedUser {
  username: string;
  certificateName: string;
  secret: string;
}

/**
 * `create-user`: the APIC user the controller logs in as (aaaUser, admin
 * role, aaaUserCert), logged in as the bootstrap admin, and the credentials
 * Secret the AciFabric names (username, privateKey, certificate). Checks
 * the certificate login before it returns. Run once; running again makes a
 * new key and certificate (rotation).
 */
export async function createApicUser(options: CreateUserOptions): Promise<CreatedUser> {
  const spec = await readFabric(options.kube, options.fabric);
  const { credentials } = spec.apic;
  if (credentials.method !== 'Certificate')
    throw new Error(
      'create-user makes a certificate user: set spec.apic.credentials.method to Certificate',
    );
  const username = credentials.username ?? spec.systemId;
  const certificateName = credentials.certificateName ?? `${username}.crt`;
  const admin = await secretValues(options.kube, spec.namespace, options.adminSecret);
  if (!admin.username || !admin.password)
    throw new Error(
      `Secret ${spec.namespace}/${options.adminSecret} needs keys username and password`,
    );
  const ca = await caPem(options.kube, spec);
  const hosts = options.apicHosts ?? spec.apic.hosts;
  const tls = {
    ...(ca !== undefined ? { caPem: ca } : {}),
    insecureSkipTlsVerify: spec.apic.insecureSkipTLSVerify,
  };
  const { keyPem, certPem } = generateUserCertificate(username);
  const adminClient = new ApicClient({
    hosts,
    user: admin.username,
    password: admin.password,
    ...tls,
  });
  try {
    await adminClient.post(
      userDn(username),
      apicUserObjects({
        username,
        certificateName,
        certificatePem: certPem,
        password: `${randomBytes(18).toString('base64url')}!aA1`,
      }),
    );
  } finally {
    adminClient.close();
  }
  const userClient = new ApicClient({
    hosts,
    user: username,
    privateKeyPem: keyPem,
    certName: certificateName,
    ...tls,
  });
  try {
    await userClient.getMo(userDn(username));
  } finally {
    userClient.close();
  }
  const secret = credentials.secretRef.name;
  await options.kube.apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret, namespace: spec.namespace },
      type: 'Opaque',
      stringData: { username, privateKey: keyPem, certificate: certPem },
    } as unknown as KubeObject,
    { fieldManager: FieldManager, force: true },
  );
  return { username, certificateName, secret };
}

export interface AdoptDryRunOptions {
  kube: KubeClient;
  fabric: string;
  apicHosts?: readonly string[];
}

/**
 * `adopt --dry-run`: logs in with the cluster's own credentials Secret,
 * reads what sits at every DN the cluster desires (static skeleton and
 * provisioning), and lists what the controller would create, update, adopt
 * or leave alone. Writes nothing.
 */
export async function adoptDryRun(options: AdoptDryRunOptions): Promise<string> {
  const spec = await readFabric(options.kube, options.fabric);
  const config = controllerConfig({ fabric: { name: options.fabric, uid: '' }, spec });
  const values = await secretValues(
    options.kube,
    spec.namespace,
    spec.apic.credentials.secretRef.name,
  );
  const user = values.username?.trim() || spec.apic.credentials.username;
  if (!user) throw new Error('the credentials Secret has no username and the AciFabric names none');
  const ca = await caPem(options.kube, spec);
  const client = new ApicClient({
    hosts: options.apicHosts ?? spec.apic.hosts,
    user,
    ...(spec.apic.credentials.method === 'Password'
      ? { password: values.password ?? '' }
      : {
          privateKeyPem: values.privateKey ?? values['user.key'] ?? '',
          certName: spec.apic.credentials.certificateName ?? `${user}.crt`,
        }),
    ...(ca !== undefined ? { caPem: ca } : {}),
    insecureSkipTlsVerify: spec.apic.insecureSkipTLSVerify,
  });
  try {
    const desired = new Map([
      [StaticKey, staticObjects(config)],
      ...Object.entries(provisionObjects(config)),
    ]);
    const actual = await readDesiredSubtrees(client, desired);
    // The dry run shows adoption whatever the spec says: it is the preview before setting adoptExisting.
    return formatAdoptionPlan(adoptionPlan(desired, actual, config.aci.objectPrefix, true));
  } finally {
    client.close();
  }
}
