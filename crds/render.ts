/**
 * Pure conversion of the zod schemas into CustomResourceDefinitions with
 * structural OpenAPI v3 schemas, as the API server requires: no $ref, no
 * additionalProperties:false, `type` on every node, int-or-string marked.
 */
import { z } from 'zod';
import { crdName, group, version, type CustomResource } from './index.ts';

export type JsonSchema = { [key: string]: unknown };

const keptFormats = new Set(['date-time', 'int32', 'int64', 'byte']);

/**
 * A zod constraint the generated CRD cannot carry. The generator refuses to
 * write a CRD that would silently accept what zod rejects: every constraint
 * is either in the OpenAPI schema, turned into CEL here, or (a zod refinement
 * written in TypeScript) accompanied by its own CEL rule in `.meta()`.
 */
export class UnexpressedConstraintError extends Error {
  constructor(readonly constraints: string[]) {
    super(
      `the generated CRD cannot express these zod constraints (add a CEL rule in .meta() or change the schema):\n  ${constraints.join('\n  ')}`,
    );
    this.name = 'UnexpressedConstraintError';
  }
}

const celString = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * Keywords a schema marks `x-zod-only` are checked by zod (the operator's
 * validation, reported as Degraded with the field) and left out of the CRD;
 * the generator lists them in the CRD file's header instead of hiding them.
 */
export const zodOnlyKey = 'x-zod-only';

/** One anyOf branch of an int-or-string as a CEL condition on `self` and words for its message. */
function branchRule(
  branch: JsonSchema,
  at: string,
  problems: string[],
  zodOnly: readonly string[],
  notes: string[],
): { cel: string; words: string } {
  const type = branch.type;
  const conditions: string[] = [];
  const words: string[] = [];
  for (const [key, value] of Object.entries(branch)) {
    if (key === 'type' || key === 'description') continue;
    if (zodOnly.includes(key)) {
      notes.push(`${at}: ${String(type)} ${key} ${JSON.stringify(value)}`);
      continue;
    }
    if (type === 'integer' && key === 'minimum') {
      conditions.push(`self >= ${String(value)}`);
      words.push(`at least ${String(value)}`);
    } else if (type === 'integer' && key === 'maximum') {
      // zod's int() bound is the safe-integer range; kept so the CRD refuses what zod refuses.
      conditions.push(`self <= ${String(value)}`);
      if (value !== Number.MAX_SAFE_INTEGER) words.push(`at most ${String(value)}`);
    } else if (type === 'string' && key === 'pattern') {
      conditions.push(`self.matches(${celString(String(value))})`);
      words.push(`matching ${String(value)}`);
    } else if (type === 'string' && key === 'minLength') {
      conditions.push(`size(self) >= ${String(value)}`);
    } else if (type === 'string' && key === 'maxLength') {
      conditions.push(`size(self) <= ${String(value)}`);
    } else {
      problems.push(`${at}: ${String(type)} branch keyword ${key}=${JSON.stringify(value)}`);
    }
  }
  const celType = type === 'string' ? 'string' : 'int';
  // A number branch admits only integers in an int-or-string field; what zod also allows as a fraction the CRD refuses (stricter, never looser).
  return {
    cel: `type(self) == ${celType === 'int' || type === 'number' ? 'int' : 'string'}${conditions.length ? ` && ${conditions.join(' && ')}` : ''}`,
    words: `${type === 'string' ? 'a string' : 'an integer'}${words.length ? ` ${words.join(', ')}` : ''}`,
  };
}

/** Rewrites one zod JSON Schema node (recursively) into its structural form. */
export function structural(
  node: JsonSchema,
  at = '',
  problems: string[] = [],
  notes: string[] = [],
): JsonSchema {
  const out: JsonSchema = {};
  const zodOnly = (node[zodOnlyKey] as string[] | undefined) ?? [];
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'id' || key === '$id' || key === zodOnlyKey) continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'format' && !keptFormats.has(String(value))) {
      problems.push(`${at}: format ${String(value)}`);
      continue;
    }
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [
          name,
          structural(child, `${at}.${name}`, problems, notes),
        ]),
      );
    } else if (key === 'items') {
      out[key] = structural(value as JsonSchema, `${at}[]`, problems, notes);
    } else if (key === 'additionalProperties' && typeof value === 'object') {
      out[key] = structural(value as JsonSchema, `${at}{}`, problems, notes);
    } else {
      out[key] = value;
    }
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    // Only this exact anyOf is structural for int-or-string: the branches' constraints move to CEL.
    const branches = (Array.isArray(node.anyOf) ? node.anyOf : []) as JsonSchema[];
    const rules = branches.map((b) => branchRule(b, at, problems, zodOnly, notes));
    if (rules.some((r) => r.cel.includes('&&'))) {
      const existing = (out['x-kubernetes-validations'] as unknown[] | undefined) ?? [];
      out['x-kubernetes-validations'] = [
        ...existing,
        {
          rule: rules.map((r) => `(${r.cel})`).join(' || '),
          message: `must be ${rules.map((r) => r.words).join(' or ')}`,
        },
      ];
    }
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  } else if (Array.isArray(out.anyOf)) {
    throw new Error(`anyOf is not structural here: ${JSON.stringify(node).slice(0, 200)}`);
  }
  return out;
}

type ZodNode = z.ZodType & {
  _zod: {
    def: {
      type: string;
      checks?: { _zod: { def: { check: string } } }[];
      shape?: Record<string, ZodNode>;
      element?: ZodNode;
      innerType?: ZodNode;
      options?: ZodNode[];
      valueType?: ZodNode;
      in?: ZodNode;
      out?: ZodNode;
    };
    parent?: ZodNode;
  };
};

/** Metadata of a zod node, its own and what `.meta()` gave the schemas it was cloned from. */
function carriesCel(node: ZodNode): boolean {
  for (let n: ZodNode | undefined = node; n; n = n._zod.parent) {
    const meta = z.globalRegistry.get(n) as Record<string, unknown> | undefined;
    if (meta?.['x-kubernetes-validations']) return true;
  }
  return false;
}

/** Refinements written in TypeScript (refine, superRefine) that have no CEL twin in `.meta()`. */
export function refinementsWithoutCel(
  node: ZodNode,
  at: string,
  problems: string[] = [],
): string[] {
  const def = node._zod.def;
  if ((def.checks ?? []).some((c) => c._zod.def.check === 'custom') && !carriesCel(node))
    problems.push(`${at}: a TypeScript refinement without a CEL rule`);
  for (const [name, child] of Object.entries(def.shape ?? {}))
    refinementsWithoutCel(child, `${at}.${name}`, problems);
  for (const child of [def.element, def.innerType, def.valueType, def.in, def.out])
    if (child) refinementsWithoutCel(child, at, problems);
  for (const option of def.options ?? []) refinementsWithoutCel(option, at, problems);
  return problems;
}

/** The constraints of a kind that only zod checks (marked x-zod-only), for the CRD file's header. */
export function zodOnlyConstraints(resource: CustomResource): string[] {
  const notes: string[] = [];
  for (const part of ['spec', 'status'] as const)
    structural(
      z.toJSONSchema(resource[part], { target: 'openapi-3.0', io: 'input' }) as JsonSchema,
      `${resource.kind}.${part}`,
      [],
      notes,
    );
  return [...new Set(notes)];
}

export function openApiSchema(resource: CustomResource): JsonSchema {
  const problems: string[] = [];
  const spec = structural(
    z.toJSONSchema(resource.spec, { target: 'openapi-3.0', io: 'input' }) as JsonSchema,
    `${resource.kind}.spec`,
    problems,
  );
  const status = structural(
    z.toJSONSchema(resource.status, { target: 'openapi-3.0', io: 'input' }) as JsonSchema,
    `${resource.kind}.status`,
    problems,
  );
  refinementsWithoutCel(resource.spec as ZodNode, `${resource.kind}.spec`, problems);
  refinementsWithoutCel(resource.status as ZodNode, `${resource.kind}.status`, problems);
  if (problems.length > 0) throw new UnexpressedConstraintError(problems);
  return {
    type: 'object',
    description: resource.description,
    required: ['spec'],
    properties: {
      apiVersion: {
        type: 'string',
        description: 'APIVersion of this object: aci.cni.dev/v1alpha1.',
      },
      kind: { type: 'string', description: `Kind of this object: ${resource.kind}.` },
      metadata: { type: 'object' },
      spec: { description: `Desired state of the ${resource.kind}.`, ...spec },
      status: { description: `Observed state of the ${resource.kind}.`, ...status },
    },
  };
}

export function customResourceDefinition(resource: CustomResource): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(resource),
      labels: { 'app.kubernetes.io/part-of': 'aci-containers' },
      // CRDs first: Argo CD applies lower waves before anything that uses them.
      annotations: { 'argocd.argoproj.io/sync-wave': '-10' },
    },
    spec: {
      group,
      scope: resource.scope,
      names: {
        kind: resource.kind,
        listKind: `${resource.kind}List`,
        plural: resource.plural,
        singular: resource.singular,
        shortNames: resource.shortNames,
        categories: ['aci'],
      },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: resource.printerColumns,
          schema: { openAPIV3Schema: openApiSchema(resource) },
        },
      ],
    },
  };
}
