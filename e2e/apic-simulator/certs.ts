// Test PKI made with the openssl CLI (Node's crypto signs but cannot issue
// X.509 certificates): a throwaway CA, a server certificate for localhost
// and 127.0.0.1 signed by it, and self-signed client certificates for
// APIC certificate (signature) authentication.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerPki {
  readonly dir: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh CA and a server certificate (SAN localhost, 127.0.0.1, ::1 and `extraIps`) in a new temp dir. */
export function generateServerPki(
  commonName = 'apic-simulator',
  extraIps: readonly string[] = [],
): ServerPki {
  const dir = mkdtempSync(join(tmpdir(), 'apic-sim-pki-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      `/CN=${commonName} test CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      `/CN=${commonName}`,
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'ext.cnf'),
    `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...extraIps.map((ip) => `IP:${ip}`)].join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ],
    dir,
  );
  return {
    dir,
    caPath: join(dir, 'ca.pem'),
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    certPem: readFileSync(join(dir, 'server.pem'), 'utf8'),
    keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
  };
}

export interface UserCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly keyPath: string;
  readonly certPath: string;
}

/** A self-signed user certificate, as an APIC admin would upload to aaaUserCert. */
export function generateUserCert(user: string): UserCert {
  const dir = mkdtempSync(join(tmpdir(), 'apic-user-cert-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'user.key',
      '-out',
      'user.pem',
      '-days',
      '2',
      '-subj',
      `/CN=${user}`,
    ],
    dir,
  );
  return {
    certPem: readFileSync(join(dir, 'user.pem'), 'utf8'),
    keyPem: readFileSync(join(dir, 'user.key'), 'utf8'),
    keyPath: join(dir, 'user.key'),
    certPath: join(dir, 'user.pem'),
  };
}
