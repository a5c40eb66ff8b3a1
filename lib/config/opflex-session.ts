/**
 * The OpFlex session of a node's opflex agent with its leaf, as every hop
 * carries it: the operator renders it from the AciFabric into the host-agent
 * config, the host agent copies it into agent.json, the opflex agent opens
 * it. One schema for all three, so no hop can drop or rename a field the
 * next one needs.
 *
 * TLS is verified by default: `verify` needs the CA bundle the leaf's
 * certificate chains to. Turning verification off takes a mode whose name
 * says what it gives up; the client logs a warning for either.
 */
import { z } from 'zod';

/** Where the opflex agent container finds the leaf's CA bundle (the AciFabric's Secret or ConfigMap). */
export const opflexCaDir = '/usr/local/etc/opflex-agent-ovs/leaf-ca';
export const opflexCaFile = `${opflexCaDir}/ca.crt`;

/** ACI's OpFlex proxy address in the default TEP pool, and its port (the original's `opflex-peer-ip`). */
export const OpflexDefaults = { peerHost: '10.0.0.30', port: 8009 } as const;

/**
 * The OpFlex domain of a Kubernetes VMM domain: the PlatformConfig the agent
 * resolves first, named as the original host agent names it (its
 * opflexConfigBase template) and as the leaf knows the VMM controller.
 */
export function opflexDomain(vmmDomain: string, vmmController: string): string {
  return `comp/prov-Kubernetes/ctrlr-[${vmmDomain}]-${vmmController}/sw-InsiemeLSOid`;
}

export const OpflexTlsConfig = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('verify'),
    caFile: z.string().min(1),
    serverName: z.string().min(1).optional(),
  }),
  z.object({ mode: z.literal('insecure-encrypted-unverified') }),
  z.object({ mode: z.literal('insecure-plaintext') }),
]);
export type OpflexTlsConfig = z.infer<typeof OpflexTlsConfig>;

export const OpflexSessionConfig = z.object({
  /** The leaf's OpFlex proxies (the original's `opflex.peers`); the leaf adds its own failover list. */
  peers: z
    .array(z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }))
    .min(1),
  /** The OpFlex domain: the PlatformConfig the agent resolves first (the VMM domain's). */
  domain: z.string().min(1),
  /** Agent name in the identity exchange; default the node name. */
  name: z.string().min(1).optional(),
  tls: OpflexTlsConfig.default({ mode: 'verify', caFile: opflexCaFile }),
  prrSeconds: z.number().int().min(10).max(86_400).default(7200),
});
export type OpflexSessionConfig = z.infer<typeof OpflexSessionConfig>;
