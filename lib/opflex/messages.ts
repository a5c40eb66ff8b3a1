/**
 * OpFlex messages (draft-smith-opflex, as libopflex speaks it): JSON-RPC
 * 1.0-style envelopes and the params and results of each method, checked
 * with zod after the lossless parse (json.ts).
 *
 * Envelopes, as libopflex's yajr reads them:
 * - request `{id, method, params: [...]}`; an id is any JSON value, and the
 *   original sends `[method, counter]` with 64-bit counters;
 * - result `{id, result}` and error `{id, error: {code, message}}`, without
 *   `method` (a frame with `method` is taken for a request);
 * - a frame that is not an object, or has no id, is a protocol error: the
 *   original drops the connection, since it cannot name what it refuses.
 *
 * Where the draft and libopflex differ, the wire follows libopflex (that is
 * what the original agent and server speak), and is lenient on input:
 * policy_update deletions are `delete: [{subject, uri}]` (the draft's
 * `delete_uri` is accepted too).
 */
import { z } from 'zod';
import type { ManagedObject, PropertyData } from './mo.ts';
import type { JsonValue } from './json.ts';

export const Methods = [
  'send_identity',
  'echo',
  'policy_resolve',
  'policy_unresolve',
  'policy_update',
  'endpoint_declare',
  'endpoint_undeclare',
  'endpoint_resolve',
  'endpoint_unresolve',
  'endpoint_update',
  'state_report',
] as const;
export type Method = (typeof Methods)[number];

/** Error codes libopflex uses in error replies. */
export const ErrorCodes = {
  error: 'ERROR',
  unsupported: 'EUNSUPPORTED',
  state: 'ESTATE',
} as const;

const nonNegativeInt = z.union([z.number().int().min(0), z.bigint().min(0n)]);

export const ObjectReferenceSchema = z.object({ subject: z.string(), reference_uri: z.string() });

export const PropertyDataSchema: z.ZodType<PropertyData> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.bigint(),
    z.boolean(),
    z.null(),
    ObjectReferenceSchema,
    z.array(PropertyDataSchema),
  ]),
);

export const ManagedObjectSchema: z.ZodType<ManagedObject> = z
  .object({
    subject: z.string().min(1),
    uri: z.string().startsWith('/'),
    properties: z.array(z.object({ name: z.string(), data: PropertyDataSchema })).default([]),
    parent_subject: z.string().optional(),
    parent_uri: z.string().optional(),
    parent_relation: z.string().optional(),
    children: z.array(z.string()).default([]),
  })
  .transform((mo) => {
    // Strip absent optionals so stored objects compare equal to what was sent.
    const out: ManagedObject = {
      subject: mo.subject,
      uri: mo.uri,
      properties: mo.properties,
      children: mo.children,
    };
    if (mo.parent_subject !== undefined) out.parent_subject = mo.parent_subject;
    if (mo.parent_uri !== undefined) out.parent_uri = mo.parent_uri;
    if (mo.parent_relation !== undefined) out.parent_relation = mo.parent_relation;
    return out;
  });

// ---- send_identity ----
export const Roles = [
  'policy_element',
  'policy_repository',
  'endpoint_registry',
  'observer',
] as const;

export const SendIdentityParams = z.tuple([
  z.object({
    proto_version: z.string().default('1.0'),
    name: z.string().min(1),
    domain: z.string().min(1),
    my_role: z.array(z.string()),
    my_location: z.string().optional(),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
]);
export type SendIdentityParams = z.infer<typeof SendIdentityParams>;

export const Peer = z.object({
  role: z.array(z.string()).default([]),
  connectivity_info: z.string(),
});
export type Peer = z.infer<typeof Peer>;

export const SendIdentityResult = z.object({
  name: z.string(),
  domain: z.string(),
  my_role: z.array(z.string()).default([]),
  your_location: z.string().optional(),
  peers: z.array(Peer).default([]),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type SendIdentityResult = z.infer<typeof SendIdentityResult>;

// ---- policy ----
export const PolicyResolveItem = z.object({
  subject: z.string().min(1),
  policy_uri: z.string().startsWith('/'),
  /** Policy resolution by name (policy_ident) is refused with EUNSUPPORTED, as libopflex does. */
  policy_ident: z.unknown().optional(),
  prr: nonNegativeInt,
});
export const PolicyResolveParams = z.array(PolicyResolveItem).min(1);
export type PolicyResolveParams = z.infer<typeof PolicyResolveParams>;
export const PolicyResolveResult = z.object({ policy: z.array(ManagedObjectSchema).default([]) });
export type PolicyResolveResult = z.infer<typeof PolicyResolveResult>;

export const PolicyUnresolveParams = z
  .array(z.object({ subject: z.string().min(1), policy_uri: z.string().startsWith('/') }))
  .min(1);

export const DeletedObject = z.object({ subject: z.string(), uri: z.string() });
export const PolicyUpdateItem = z.object({
  replace: z.array(ManagedObjectSchema).default([]),
  merge_children: z.array(ManagedObjectSchema).default([]),
  delete: z.array(DeletedObject).default([]),
  delete_uri: z.array(DeletedObject).default([]),
});
export const PolicyUpdateParams = z.array(PolicyUpdateItem);
export type PolicyUpdateItem = z.infer<typeof PolicyUpdateItem>;

// ---- endpoints ----
export const EndpointDeclareParams = z
  .array(z.object({ endpoint: z.array(ManagedObjectSchema), prr: nonNegativeInt }))
  .min(1);
export type EndpointDeclareParams = z.infer<typeof EndpointDeclareParams>;

export const EndpointUndeclareParams = z
  .array(z.object({ subject: z.string().min(1), endpoint_uri: z.string().startsWith('/') }))
  .min(1);

export const EndpointResolveParams = z
  .array(
    z.object({
      subject: z.string().min(1),
      endpoint_uri: z.string().startsWith('/'),
      endpoint_ident: z.unknown().optional(),
      prr: nonNegativeInt.optional(),
    }),
  )
  .min(1);
export const EndpointResolveResult = z.object({
  endpoint: z.array(ManagedObjectSchema).default([]),
});

export const EndpointUpdateParams = z.array(
  z.object({
    replace: z.array(ManagedObjectSchema).default([]),
    delete: z.array(DeletedObject).default([]),
  }),
);

export const StateReportParams = z
  .array(z.object({ observable: z.array(ManagedObjectSchema) }))
  .min(1);

// ---- envelopes ----
export const RpcErrorBody = z.object({ code: z.string(), message: z.string().default('') });
export type RpcErrorBody = z.infer<typeof RpcErrorBody>;

export type RpcId = JsonValue;

export type Envelope =
  | { kind: 'request'; id: RpcId; method: string; params: JsonValue }
  | { kind: 'result'; id: RpcId; result: JsonValue }
  | { kind: 'error'; id: RpcId; error: RpcErrorBody };

/** Why a frame cannot be answered: the connection is closed (the original does the same). */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function isObject(v: JsonValue): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Classifies a parsed frame, as libopflex's MessageFactory does. */
export function classifyEnvelope(frame: JsonValue): Envelope {
  if (!isObject(frame)) throw new ProtocolError('frame is not a JSON object');
  if (!('id' in frame)) throw new ProtocolError('frame has no id');
  const id = frame.id as JsonValue;
  if ('method' in frame) {
    if (typeof frame.method !== 'string') throw new ProtocolError('method is not a string');
    return { kind: 'request', id, method: frame.method, params: frame.params ?? null };
  }
  if (!Array.isArray(id) || typeof id[0] !== 'string')
    throw new ProtocolError('reply id is not a [method, counter] array');
  if ('result' in frame) return { kind: 'result', id, result: frame.result as JsonValue };
  if ('error' in frame) {
    const error = RpcErrorBody.safeParse(frame.error);
    if (!error.success) throw new ProtocolError('error reply without an error object');
    return { kind: 'error', id, error: error.data };
  }
  throw new ProtocolError('reply has neither result nor error');
}

/** The counter of a `[method, counter]` id, or undefined for ids of another shape. */
export function idCounter(id: RpcId): bigint | undefined {
  if (!Array.isArray(id) || id.length !== 2 || typeof id[0] !== 'string') return undefined;
  const n = id[1];
  if (typeof n === 'bigint') return n;
  if (typeof n === 'number' && Number.isInteger(n)) return BigInt(n);
  return undefined;
}

export const requestEnvelope = (id: RpcId, method: string, params: unknown): object => ({
  id,
  method,
  params,
});
export const resultEnvelope = (id: RpcId, result: unknown): object => ({ id, result });
export const errorEnvelope = (id: RpcId, code: string, message: string): object => ({
  id,
  error: { code, message },
});
