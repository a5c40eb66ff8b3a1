/**
 * Building blocks shared by the four kinds. Each helper returns a zod schema
 * that validates in TypeScript and carries, through `.meta()`, exactly the
 * OpenAPI/CEL text the API server needs, so one declaration serves both.
 */
import { z } from 'zod';
import { isCidr, isIpAddress } from '../../lib/net/cidr.ts';

export const group = 'aci.cni.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;

/** A CEL rule in the shape of `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/**
 * A rule in both languages: `rule` is CEL for the API server, `check` is the
 * same predicate in TypeScript for zod (true when valid). Both report
 * `message` at `fieldPath`, so either layer rejects a spec the same way.
 */
export interface DualRule<T> extends CelRule {
  check: (self: T) => boolean;
}

/** Attaches dual rules to a schema: CEL through meta, TypeScript through superRefine. */
export function withRules<S extends z.ZodType>(schema: S, rules: DualRule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const rule of rules) {
      if (rule.check(value)) continue;
      ctx.addIssue({
        code: 'custom',
        message: rule.message,
        path: (rule.fieldPath ?? '').split('.').filter(Boolean),
      });
    }
  });
  const existing = (z.globalRegistry.get(schema) ?? {}) as Record<string, unknown>;
  const previous = (existing['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  return refined.meta({
    ...cel(...previous, ...rules.map(({ check: _check, ...celRule }) => celRule)),
  }) as S;
}

export const cidr = (description: string) =>
  z
    .string()
    .max(64)
    .refine(isCidr, { message: 'must be a CIDR such as 10.2.0.1/16 or fd00::1/64' })
    .meta({
      description,
      ...cel({ rule: 'isCIDR(self)', message: 'must be a CIDR such as 10.2.0.1/16 or fd00::1/64' }),
    });

export const ipAddress = (description: string) =>
  z
    .string()
    .max(64)
    .refine(isIpAddress, { message: 'must be an IPv4 or IPv6 address' })
    .meta({
      description,
      ...cel({ rule: 'isIP(self)', message: 'must be an IPv4 or IPv6 address' }),
    });

export const macAddress = (description: string) =>
  z
    .string()
    .regex(
      /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/,
      'must be a lower-case MAC address such as 02:00:0a:05:00:02',
    )
    .meta({ description });

/** DNS-1123 label as Kubernetes names most things. */
export const dnsLabel = (description: string) =>
  z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower case, digits, -)')
    .meta({ description });

/** Names of APIC objects: the APIC allows letters, digits, and _ . : - up to 64. */
export const apicName = (description: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-zA-Z0-9_.:-]+$/, 'must be an APIC name: letters, digits, _ . : - (at most 64)')
    .meta({ description });

export const vlan = (description: string) =>
  z.number().int().min(1).max(4094).meta({ description });

export const Condition = z
  .object({
    type: z.string().min(1).max(316).meta({ description: 'Type of condition in CamelCase.' }),
    status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'Status of the condition.' }),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The .metadata.generation the condition was set from.' }),
    lastTransitionTime: z
      .string()
      .meta({ description: 'Last time the condition changed status.', format: 'date-time' }),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .meta({ description: 'Machine-readable CamelCase reason for the last transition.' }),
    message: z.string().max(32768).meta({ description: 'Human-readable details.' }),
  })
  .meta({ description: 'A standard Kubernetes condition (metav1.Condition).' });
export type Condition = z.infer<typeof Condition>;

export const conditions = () =>
  z
    .array(Condition)
    .max(16)
    .optional()
    .meta({
      description: 'Standard conditions: Ready, Progressing, Degraded and kind-specific ones.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    });

export const observedGeneration = () =>
  z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'The .metadata.generation this status describes.' });

export const LabelSelectorRequirement = z.object({
  key: z.string().min(1).max(317).meta({ description: 'The label key the selector applies to.' }),
  operator: z
    .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
    .meta({ description: 'Relation of key to values.' }),
  values: z
    .array(z.string().max(63))
    .max(64)
    .optional()
    .meta({ description: 'Values for In and NotIn; empty for Exists and DoesNotExist.' }),
});

export const LabelSelector = z
  .object({
    matchLabels: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Labels that must all match exactly.' }),
    matchExpressions: z
      .array(LabelSelectorRequirement)
      .max(32)
      .optional()
      .meta({ description: 'Set-based requirements, all of which must match.' }),
  })
  .meta({
    description:
      'A Kubernetes label selector. An empty selector selects every pod of the namespace.',
    'x-kubernetes-map-type': 'atomic',
  });
export type LabelSelector = z.infer<typeof LabelSelector>;

const quantity = z
  .union([
    z
      .string()
      .max(64)
      .regex(/^[0-9.]+([eE][-+]?[0-9]+|[mkMGTPE]i?|[KMGTPE]i|n|u)?$/),
    // int-or-string holds whole numbers only: a fraction is written as a string (500m).
    z.number().int().min(0),
  ])
  .meta({
    'x-kubernetes-int-or-string': true,
    // The API server prices any rule on an int-or-string in a map above its CEL budget (it has no maxLength): zod checks these.
    'x-zod-only': ['pattern', 'maxLength', 'minimum', 'maximum'],
    description: 'A resource quantity such as 100m or 128Mi.',
  });

/** Bounded so the API server can price the quantity rule of each entry (CEL cost). */
const maxResourceNames = 16;
const resourceList = (description: string) =>
  withRules(z.record(z.string().max(253), quantity), [
    {
      rule: `self.size() <= ${maxResourceNames}`,
      message: `must name at most ${maxResourceNames} resources`,
      check: (list) => Object.keys(list).length <= maxResourceNames,
    },
  ])
    .optional()
    .meta({ description, maxProperties: maxResourceNames });

export const Resources = z
  .object({
    requests: resourceList('Minimum resources.'),
    limits: resourceList('Maximum resources.'),
  })
  .meta({ description: 'Compute resources of the container(s), as in a Pod spec.' });

export const Toleration = z.object({
  key: z
    .string()
    .optional()
    .meta({ description: 'Taint key; empty with Exists matches every taint.' }),
  operator: z
    .enum(['Exists', 'Equal'])
    .optional()
    .meta({ description: 'Exists or Equal (default).' }),
  value: z.string().optional().meta({ description: 'Taint value for Equal.' }),
  effect: z
    .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
    .optional()
    .meta({ description: 'Taint effect to match; empty matches all.' }),
  tolerationSeconds: z
    .number()
    .int()
    .optional()
    .meta({ description: 'For NoExecute: how long the pod stays bound after the taint appears.' }),
});

export const SecretReference = z
  .object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 subdomain')
      .meta({ description: 'Name of the Secret.' }),
  })
  .meta({
    description:
      "A reference to a Secret in the fabric's namespace (it is mounted into the pods that need it, never copied).",
  });

/**
 * Wraps the spec/status schemas of a kind as the whole object, so the same
 * schema validates what the API server returns.
 */
export function kindObject<K extends string, S extends z.ZodType, T extends z.ZodType>(
  kind: K,
  spec: S,
  status: T,
) {
  return z.object({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: z.looseObject({
      name: z.string(),
      namespace: z.string().optional(),
      uid: z.string().optional(),
      generation: z.number().optional(),
      resourceVersion: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
      deletionTimestamp: z.string().optional(),
      finalizers: z.array(z.string()).optional(),
      creationTimestamp: z.string().optional(),
    }),
    spec,
    status: status.optional(),
  });
}
