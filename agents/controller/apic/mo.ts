// Managed-object (MO) shapes shared by the client, the sync engine and the
// simulator. Types come from the OpenAPI contract; the zod schemas validate
// what arrives from the wire against the same shapes.
import { z } from 'zod';
import type { components } from './openapi/generated.ts';

export type Mo = components['schemas']['ManagedObject'];
export type MoBody = components['schemas']['MoBody'];
export type MoAttributes = components['schemas']['Attributes'];
export type ImdataResponse = components['schemas']['ImdataResponse'];
export type ErrorResponse = components['schemas']['ErrorResponse'];
export type LoginResponse = components['schemas']['LoginResponse'];
export type WebtokenResponse = components['schemas']['WebtokenResponse'];
export type SubscriptionEvent = components['schemas']['SubscriptionEvent'];

const AttributesSchema = z.record(z.string(), z.string());

export const MoSchema: z.ZodType<Mo> = z.lazy(() =>
  z
    .record(
      z.string(),
      z.object({
        attributes: AttributesSchema.optional(),
        children: z.array(MoSchema).optional(),
      }),
    )
    .refine((o) => Object.keys(o).length === 1, 'an MO has exactly one class key'),
);

export const ImdataResponseSchema: z.ZodType<ImdataResponse> = z.object({
  totalCount: z.string(),
  subscriptionId: z.string().optional(),
  imdata: z.array(MoSchema),
});

export const ErrorResponseSchema = z.object({
  totalCount: z.string().optional(),
  imdata: z
    .array(
      z.object({
        error: z.object({ attributes: z.object({ code: z.string(), text: z.string() }) }),
      }),
    )
    .min(1),
});

export const LoginResponseSchema = z.object({
  totalCount: z.string(),
  imdata: z
    .array(
      z.object({
        aaaLogin: z.object({
          attributes: z
            .object({ token: z.string(), refreshTimeoutSeconds: z.string() })
            .catchall(z.string()),
        }),
      }),
    )
    .min(1),
});

export const WebtokenResponseSchema = z.object({
  totalCount: z.string(),
  imdata: z
    .array(
      z.object({
        webtokenSession: z.object({
          attributes: z.object({ token: z.string(), refreshTimeoutSeconds: z.string() }),
        }),
      }),
    )
    .min(1),
});

export const SubscriptionEventSchema: z.ZodType<SubscriptionEvent> = z.object({
  subscriptionId: z.array(z.string()),
  imdata: z.array(MoSchema),
});

export function moClass(mo: Mo): string {
  const k = Object.keys(mo)[0];
  if (k === undefined) throw new Error('MO without a class');
  return k;
}

export function moBody(mo: Mo): MoBody {
  const b = mo[moClass(mo)];
  if (b === undefined) throw new Error('MO without a body');
  return b;
}

export function moAttrs(mo: Mo): MoAttributes {
  return moBody(mo).attributes ?? {};
}

export function moChildren(mo: Mo): Mo[] {
  return moBody(mo).children ?? [];
}

export function makeMo(cls: string, attributes: MoAttributes, children: Mo[] = []): Mo {
  return children.length > 0 ? { [cls]: { attributes, children } } : { [cls]: { attributes } };
}

/**
 * Splits a DN into RNs. Slashes inside brackets belong to the RN
 * (`subnet-[10.0.0.1/16]`, `rsdomAtt-[uni/vmmp-Kubernetes/dom-k]`).
 */
export function splitDn(dn: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of dn) {
    if (ch === '[') depth++;
    else if (ch === ']') depth = Math.max(0, depth - 1);
    if (ch === '/' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** DN of the parent, or '' for a top-level RN such as `uni`. */
export function parentDn(dn: string): string {
  const parts = splitDn(dn);
  return parts.slice(0, -1).join('/');
}

export function lastRn(dn: string): string {
  const parts = splitDn(dn);
  return parts[parts.length - 1] ?? '';
}

/** The DN of an MO nested under parent: its own `dn`, else parent + `rn`. */
export function moDn(mo: Mo, parent: string): string {
  const a = moAttrs(mo);
  if (a.dn) return a.dn;
  if (a.rn) return parent === '' ? a.rn : `${parent}/${a.rn}`;
  throw new Error(`MO of class ${moClass(mo)} under ${parent || '(root)'} has neither dn nor rn`);
}

/** True when `dn` is `ancestor` or lies below it. */
export function isUnder(dn: string, ancestor: string): boolean {
  if (dn === ancestor) return true;
  if (!dn.startsWith(ancestor + '/')) return false;
  // Guard against a prefix that ends inside a bracketed RN.
  return splitDn(dn).slice(0, splitDn(ancestor).length).join('/') === ancestor;
}

export function cloneMo(mo: Mo): Mo {
  return structuredClone(mo);
}
