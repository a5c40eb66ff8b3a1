/**
 * The generator carries every zod constraint into the CRD or refuses: the
 * constraints OpenAPI cannot hold in an int-or-string become CEL, and a
 * TypeScript refinement without a CEL twin, or a format the API server
 * ignores, stops generation with the field named.
 */
import test from 'ava';
import { z } from 'zod';
import { cel } from './schemas/common.ts';
import { openApiSchema, UnexpressedConstraintError, type JsonSchema } from './render.ts';
import { customResources, type CustomResource } from './index.ts';

const resource = (spec: z.ZodType): CustomResource => ({
  kind: 'Probe',
  plural: 'probes',
  singular: 'probe',
  shortNames: [],
  scope: 'Cluster',
  description: 'A schema under test.',
  object: spec,
  spec,
  status: z.object({}),
  printerColumns: [],
});

const specOf = (r: CustomResource) =>
  (openApiSchema(r).properties as Record<string, JsonSchema>).spec as JsonSchema;

test("an int-or-string keeps its branches' bounds as a CEL rule", (t) => {
  const spec = specOf(
    resource(
      z.object({
        budget: z
          .union([z.number().int().min(1), z.string().regex(/^[0-9]+%$/)])
          .meta({ 'x-kubernetes-int-or-string': true, description: 'Budget.' }),
      }),
    ),
  );
  const budget = (spec.properties as Record<string, JsonSchema>).budget as JsonSchema;
  t.deepEqual(budget.anyOf, [{ type: 'integer' }, { type: 'string' }]);
  t.deepEqual(budget['x-kubernetes-validations'], [
    {
      rule: "(type(self) == int && self >= 1 && self <= 9007199254740991) || (type(self) == string && self.matches('^[0-9]+%$'))",
      message: 'must be an integer at least 1 or a string matching ^[0-9]+%$',
    },
  ]);
});

test('a refinement without a CEL rule stops generation, naming the field', (t) => {
  const error = t.throws(
    () =>
      openApiSchema(
        resource(
          z.object({
            even: z
              .number()
              .refine((n) => n % 2 === 0)
              .meta({ description: 'An even number.' }),
          }),
        ),
      ),
    { instanceOf: UnexpressedConstraintError },
  );
  t.deepEqual(error?.constraints, ['Probe.spec.even: a TypeScript refinement without a CEL rule']);
});

test('a refinement with its CEL twin is accepted', (t) => {
  t.notThrows(() =>
    openApiSchema(
      resource(
        z.object({
          even: z
            .number()
            .refine((n) => n % 2 === 0)
            .meta({
              description: 'An even number.',
              ...cel({ rule: 'self % 2 == 0', message: 'must be even' }),
            }),
        }),
      ),
    ),
  );
});

test('a format the API server does not check stops generation', (t) => {
  const error = t.throws(
    () => openApiSchema(resource(z.object({ mail: z.email().meta({ description: 'Mail.' }) }))),
    { instanceOf: UnexpressedConstraintError },
  );
  t.deepEqual(error?.constraints, ['Probe.spec.mail: format email']);
});

test("the project's own kinds have nothing the CRDs cannot express", (t) => {
  for (const r of customResources) t.notThrows(() => openApiSchema(r), r.kind);
});
