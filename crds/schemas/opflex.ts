/**
 * AciFabric spec.aci.opflex: the nodes' OpFlex session with the leaf, as
 * acc-provision's opflex-agent settings and the original host agent's
 * opflex config carry it (peer, domain, TLS), with verification on by
 * default. The operator renders it into the host-agent config
 * (operator/render/config.ts), which passes it into agent.json.
 */
import { z } from 'zod';
import { withRules } from './common.ts';

/** A key of a Secret or ConfigMap in the fabric's namespace. */
const KeyReference = (kind: 'Secret' | 'ConfigMap') =>
  z.object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 subdomain')
      .meta({ description: `Name of the ${kind} in the fabric namespace.` }),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, 'must be a key: letters, digits, - . _')
      .default('ca.crt')
      .meta({ description: 'Key holding the PEM CA bundle. Default ca.crt.' }),
  });

const OpflexTls = withRules(
  z.object({
    mode: z
      .enum(['Verify', 'InsecureEncryptedUnverified', 'InsecurePlaintext'])
      .default('Verify')
      .meta({
        description:
          "Verify (the default): TLS, the leaf's certificate checked against the CA bundle. InsecureEncryptedUnverified: TLS without any check (the original agent's `encrypted` mode; anyone on the infra VLAN can pose as the leaf). InsecurePlaintext: no TLS. Either insecure mode is logged by every agent at start.",
      }),
    caSecretRef: KeyReference('Secret').optional().meta({
      description: "Secret with the CA bundle the leaf's certificate chains to (mode Verify).",
    }),
    caConfigMapRef: KeyReference('ConfigMap').optional().meta({
      description: 'ConfigMap with that CA bundle instead (a CA certificate is not secret).',
    }),
    serverName: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.-]+$/, 'must be a DNS name')
      .optional()
      .meta({
        description:
          "Name the leaf's certificate must carry, when it is not the peer host (mode Verify).",
      }),
  }),
  [
    {
      rule: "self.mode != 'Verify' || has(self.caSecretRef) || has(self.caConfigMapRef)",
      message: 'mode Verify needs the CA bundle: caSecretRef or caConfigMapRef',
      fieldPath: '.caSecretRef',
      reason: 'FieldValueRequired',
      check: (t) =>
        t.mode !== 'Verify' || t.caSecretRef !== undefined || t.caConfigMapRef !== undefined,
    },
    {
      rule: '!(has(self.caSecretRef) && has(self.caConfigMapRef))',
      message: 'caSecretRef and caConfigMapRef are mutually exclusive',
      fieldPath: '.caConfigMapRef',
      reason: 'FieldValueForbidden',
      check: (t) => t.caSecretRef === undefined || t.caConfigMapRef === undefined,
    },
  ],
);

export const Opflex = z.object({
  peer: z
    .object({
      host: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or address')
        .default('10.0.0.30')
        .meta({
          description:
            "The leaf's OpFlex proxy (anycast) address, reached from every node. Default 10.0.0.30, ACI's in the default TEP pool (the original's opflex-peer-ip).",
        }),
      port: z
        .number()
        .int()
        .min(1)
        .max(65535)
        .default(8009)
        .meta({ description: 'OpFlex port of the leaf. Default 8009.' }),
    })
    .default({ host: '10.0.0.30', port: 8009 })
    .meta({
      description: 'Where the agents open their OpFlex session; the leaf names its failover peers.',
    }),
  domain: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[ -~]+$/, 'must be printable ASCII')
    .optional()
    .meta({
      description:
        "OpFlex policy domain (the PlatformConfig the agents resolve first). Default: the VMM domain's, comp/prov-Kubernetes/ctrlr-[<vmmDomain>]-<systemId>/sw-InsiemeLSOid, as the original host agent writes it.",
    }),
  tls: OpflexTls.meta({ description: 'TLS of the OpFlex session.' }),
});
