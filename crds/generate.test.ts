import { readFile } from 'node:fs/promises';
import test from 'ava';
import { parse } from 'yaml';
import { allGeneratedFiles } from '../scripts/generate.ts';
import { generatedFiles } from './generate.ts';
import { customResources } from './index.ts';
import { openApiSchema, type JsonSchema } from './render.ts';

test('every generated file is up to date (run `npm run generate` after changing crds/schemas)', async (t) => {
  for (const file of await allGeneratedFiles()) {
    const onDisk = await readFile(file.path, 'utf8').catch(() => '<missing>');
    t.is(onDisk, file.content, `${file.path} is stale`);
  }
});

function walk(schema: JsonSchema, at: string, visit: (node: JsonSchema, at: string) => void): void {
  visit(schema, at);
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const [name, child] of Object.entries(properties)) walk(child, `${at}.${name}`, visit);
  if (schema.items) walk(schema.items as JsonSchema, `${at}[]`, visit);
  if (typeof schema.additionalProperties === 'object')
    walk(schema.additionalProperties as JsonSchema, `${at}{}`, visit);
}

for (const resource of customResources) {
  test(`${resource.kind}: every spec and status field has a description for kubectl explain`, (t) => {
    const missing: string[] = [];
    const schema = openApiSchema(resource);
    for (const part of ['spec', 'status']) {
      walk(
        (schema.properties as Record<string, JsonSchema>)[part] as JsonSchema,
        part,
        (node, at) => {
          if (!node.description && !at.endsWith('[]') && !at.endsWith('{}')) missing.push(at);
        },
      );
    }
    t.deepEqual(missing, []);
  });

  test(`${resource.kind}: the schema is structural (typed nodes, no $ref, no additionalProperties: false)`, (t) => {
    const problems: string[] = [];
    walk(openApiSchema(resource), resource.kind, (node, at) => {
      if (node.$ref) problems.push(`${at}: $ref`);
      if (node.additionalProperties === false) problems.push(`${at}: additionalProperties false`);
      if (
        !node.type &&
        node['x-kubernetes-int-or-string'] !== true &&
        node['x-kubernetes-preserve-unknown-fields'] !== true
      ) {
        problems.push(`${at}: no type`);
      }
    });
    t.deepEqual(problems, []);
  });
}

test('the AciFabric CRD has a status subresource and the printer columns kubectl get shows', async (t) => {
  const file = (await generatedFiles()).find((f) => f.path.endsWith('acifabrics.aci.cni.dev.yaml'));
  t.truthy(file);
  const crd = parse(file?.content ?? '') as {
    spec: {
      versions: {
        subresources: unknown;
        additionalPrinterColumns: { name: string; priority?: number }[];
      }[];
    };
  };
  const version = crd.spec.versions[0];
  t.deepEqual(version?.subresources, { status: {} });
  t.deepEqual(
    version?.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name),
    ['Ready', 'Controller', 'Host agents', 'OVS', 'Age'],
  );
});
