/**
 * Pure conversion of the zod schemas into CustomResourceDefinitions with
 * structural OpenAPI v3 schemas, as the API server requires: no $ref, no
 * additionalProperties:false, `type` on every node, int-or-string marked.
 */
import { z } from 'zod';
import { crdName, group, version, type CustomResource } from './index.ts';

export type JsonSchema = { [key: string]: unknown };

const keptFormats = new Set(['date-time', 'int32', 'int64', 'byte']);

/** Rewrites one zod JSON Schema node (recursively) into its structural form. */
export function structural(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'id' || key === '$id') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'format' && !keptFormats.has(String(value))) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [
          name,
          structural(child),
        ]),
      );
    } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = structural(value as JsonSchema);
    } else {
      out[key] = value;
    }
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    // Only this exact anyOf is structural for int-or-string; finer checks move to CEL if needed.
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  } else if (Array.isArray(out.anyOf)) {
    throw new Error(`anyOf is not structural here: ${JSON.stringify(node).slice(0, 200)}`);
  }
  return out;
}

export function openApiSchema(resource: CustomResource): JsonSchema {
  const spec = structural(
    z.toJSONSchema(resource.spec, { target: 'openapi-3.0', io: 'input' }) as JsonSchema,
  );
  const status = structural(
    z.toJSONSchema(resource.status, { target: 'openapi-3.0', io: 'input' }) as JsonSchema,
  );
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
