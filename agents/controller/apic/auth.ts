// APIC certificate-based (signature) authentication, pure functions.
// Per the APIC REST API Configuration Guide ("Using Certificate Based
// Authentication"), each request carries cookies with an RSA-SHA256
// signature over: HTTP method + URI path including the query string +
// request body, plus the certificate's DN in the user's aaaUserCert.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';

export interface SignatureIdentity {
  readonly user: string;
  readonly certName: string;
  readonly key: KeyObject;
}

export function loadSignatureIdentity(
  user: string,
  certName: string,
  privateKeyPem: string,
): SignatureIdentity {
  return { user, certName, key: createPrivateKey(privateKeyPem) };
}

export function certificateDn(user: string, certName: string): string {
  return `uni/userext/user-${user}/usercert-${certName}`;
}

/** Base64 signature for one request; `pathWithQuery` is exactly what goes on the request line. */
export function signRequest(
  id: SignatureIdentity,
  method: string,
  pathWithQuery: string,
  body: string,
): string {
  return sign(
    'sha256',
    Buffer.concat([Buffer.from(method + pathWithQuery), Buffer.from(body)]),
    id.key,
  ).toString('base64');
}

/** The Cookie header of a signed request; a websocket session token ties subscriptions to the socket. */
export function signatureCookie(
  id: SignatureIdentity,
  signature: string,
  wsToken?: string,
): string {
  const parts = [
    `APIC-Request-Signature=${signature}`,
    'APIC-Certificate-Algorithm=v1.0',
    `APIC-Certificate-DN=${certificateDn(id.user, id.certName)}`,
    'APIC-Certificate-Fingerprint=fingerprint',
  ];
  if (wsToken !== undefined) parts.push(`APIC-WebSocket-Session=${wsToken}`);
  return parts.join('; ');
}
