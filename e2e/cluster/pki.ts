/**
 * Certificates for the local control plane, made with the openssl CLI at
 * every start (Node has no X.509 writer): one CA, serving certificates for
 * etcd and kube-apiserver, client certificates per component, and the
 * service-account signing key.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  cert(name: string): { cert: string; key: string };
}

export interface CertRequest {
  name: string;
  subject: string;
  serverNames?: string[];
  serverIps?: string[];
  client?: boolean;
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args);
}

async function issue(
  dir: string,
  ca: { cert: string; key: string },
  request: CertRequest,
): Promise<void> {
  const key = path.join(dir, `${request.name}.key`);
  const csr = path.join(dir, `${request.name}.csr`);
  const ext = path.join(dir, `${request.name}.ext`);
  const usages = [
    request.client ? 'clientAuth' : '',
    request.serverNames || request.serverIps ? 'serverAuth' : '',
  ]
    .filter(Boolean)
    .join(',');
  const san = [
    ...(request.serverNames ?? []).map((n) => `DNS:${n}`),
    ...(request.serverIps ?? []).map((ip) => `IP:${ip}`),
  ];
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usages}`,
      ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
    ].join('\n'),
  );
  await openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    request.subject,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '30',
    '-out',
    path.join(dir, `${request.name}.crt`),
    '-extfile',
    ext,
  ]);
}

/** Issues one more certificate from the cluster CA (a node's kubelet, kube-proxy). */
export async function issueCertificate(pki: Pki, request: CertRequest): Promise<void> {
  await issue(pki.dir, { cert: pki.caCert, key: pki.caKey }, request);
}

/**
 * @param apiServerIps addresses the API server is reached at besides 127.0.0.1
 *   (the real nodes' bridge address), written into its serving certificate.
 */
export async function createPki(dir: string, apiServerIps: string[] = []): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caCert = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '30',
    '-subj',
    '/CN=aci-containers-e2e-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const ca = { cert: caCert, key: caKey };
  const local = { serverNames: ['localhost'], serverIps: ['127.0.0.1'] };
  const requests: CertRequest[] = [
    { name: 'etcd', subject: '/CN=etcd', ...local, client: true },
    { name: 'apiserver-etcd-client', subject: '/CN=kube-apiserver-etcd-client', client: true },
    {
      name: 'apiserver',
      subject: '/CN=kube-apiserver',
      serverNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      serverIps: ['127.0.0.1', '10.96.0.1', ...apiServerIps],
    },
    {
      name: 'apiserver-kubelet-client',
      subject: '/O=system:masters/CN=kube-apiserver-kubelet-client',
      client: true,
    },
    { name: 'admin', subject: '/O=system:masters/CN=kubernetes-admin', client: true },
    {
      name: 'kube-controller-manager',
      subject: '/CN=system:kube-controller-manager',
      client: true,
    },
    { name: 'kube-scheduler', subject: '/CN=system:kube-scheduler', client: true },
    // Bound to system:node-proxier by the API server's default RBAC.
    { name: 'kube-proxy', subject: '/CN=system:kube-proxy', client: true },
    // kwok plays every kubelet; it needs to update any node and pod, so it gets admin rights.
    { name: 'kwok', subject: '/O=system:masters/CN=kwok-controller', client: true },
  ];
  await Promise.all(requests.map((request) => issue(dir, ca, request)));
  const serviceAccountKey = path.join(dir, 'sa.key');
  const serviceAccountPub = path.join(dir, 'sa.pub');
  await openssl([
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    serviceAccountKey,
  ]);
  await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return {
    dir,
    caCert,
    caKey,
    serviceAccountKey,
    serviceAccountPub,
    cert: (name) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) }),
  };
}
