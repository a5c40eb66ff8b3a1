/**
 * The leaf's OpFlex server configuration file, for the standalone entry
 * point (opflex/cli.ts) and the leaf simulator's `--opflex <file>`:
 *
 *   { "apic": { "url": "https://10.30.120.100", "user": "admin",
 *               "passwordFile": "/run/secrets/apic-password", "caFile": "apic-ca.pem" },
 *     "listen": { "host": "10.0.0.30", "port": 8009 },
 *     "tls": { "certFile": "leaf.pem", "keyFile": "leaf.key" },
 *     "peers": ["10.0.0.31:8009"],
 *     "platform": { "domain": "comp/prov-Kubernetes/ctrlr-[kube]-kube/sw-InsiemeLSOid",
 *                   "encapType": "vxlan", "multicastGroupIP": "225.1.2.3" } }
 *
 * The APIC password is read from a file (a mounted secret), never from the
 * command line or this file. Without `tls` the server speaks plain TCP,
 * which agents accept only in their `insecure-plaintext` mode.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { OfTarget } from '../../../agents/openvswitch/ofctl.ts';
import { type OpflexLeaf, startOpflexLeaf } from './leaf-opflex.ts';

export const OpflexLeafFile = z.object({
  apic: z.object({
    url: z.url(),
    user: z.string().min(1),
    passwordFile: z.string().min(1),
    caFile: z.string().min(1).optional(),
  }),
  listen: z
    .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) })
    .default({ host: '127.0.0.1', port: 8009 }),
  tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
  advertise: z.string().optional(),
  peers: z.array(z.string()).default([]),
  platform: z.object({
    domain: z.string().min(1),
    encapType: z.enum(['vlan', 'vxlan']).default('vxlan'),
    multicastGroupIP: z.ipv4().optional(),
  }),
  bridgeDomainEncaps: z.record(z.string(), z.number().int().min(1)).optional(),
  maxMessageBytes: z.number().int().min(1024).optional(),
});
export type OpflexLeafFile = z.infer<typeof OpflexLeafFile>;

/** `police`: the leaf's switch, when the server runs inside the leaf simulator. */
export async function startOpflexLeafFromFile(
  file: string,
  log: Logger,
  police?: OfTarget,
): Promise<OpflexLeaf> {
  const text = await readFile(file, 'utf8');
  const parsed = OpflexLeafFile.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const c = parsed.data;
  const password = (await readFile(c.apic.passwordFile, 'utf8')).trim();
  return startOpflexLeaf({
    apic: {
      url: c.apic.url,
      user: c.apic.user,
      password,
      ...(c.apic.caFile ? { caPem: await readFile(c.apic.caFile, 'utf8') } : {}),
    },
    host: c.listen.host,
    port: c.listen.port,
    ...(c.tls
      ? {
          tls: {
            certPem: await readFile(c.tls.certFile, 'utf8'),
            keyPem: await readFile(c.tls.keyFile, 'utf8'),
          },
        }
      : {}),
    ...(c.advertise ? { advertise: c.advertise } : {}),
    peers: c.peers,
    platform: c.platform,
    ...(c.bridgeDomainEncaps ? { bridgeDomainEncaps: c.bridgeDomainEncaps } : {}),
    ...(c.maxMessageBytes ? { maxMessageBytes: c.maxMessageBytes } : {}),
    ...(police ? { police } : {}),
    log,
  });
}
