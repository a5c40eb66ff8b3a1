/**
 * The generated CRDs against the real API server: they install and become
 * Established, accept every sample, reject every invalid sample with a
 * message naming the field, and agree with zod on random specs.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { KubeApiError } from '../lib/kube/client.ts';
import type { KubeObject } from '../lib/kube/types.ts';
import { ensureCrds, readYamlDocuments, testClient } from '../e2e/support/cluster.ts';
import { repoRoot } from '../e2e/support/paths.ts';
import { mutationArbitrary, validSpec } from './testing/arbitraries.ts';
import { AciFabricSpec, apiVersion } from './index.ts';

const samples = path.join(repoRoot, 'samples');

test.before(async () => {
  const client = await testClient();
  await ensureCrds(client);
  for (const name of ['shop', 'aci-containers-system']) {
    await client.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { fieldManager: 'aci-e2e' },
    );
  }
});

/** Server-side dry run: full validation and admission, nothing stored. */
async function verdict(object: KubeObject): Promise<{ accepted: boolean; message: string }> {
  const client = await testClient();
  try {
    await client.create(object, { dryRun: true });
    return { accepted: true, message: '' };
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 422)
      return { accepted: false, message: error.message };
    throw error;
  }
}

test('every sample is accepted by the API server', async (t) => {
  const files = (await readdir(samples)).filter((f) => f.endsWith('.yaml'));
  t.true(files.length >= 4);
  for (const file of files) {
    for (const object of await readYamlDocuments(path.join(samples, file))) {
      const result = await verdict(object);
      t.true(result.accepted, `${file} ${object.kind}/${object.metadata.name}: ${result.message}`);
    }
  }
});

test('every invalid sample is rejected with a message naming the field', async (t) => {
  const dir = path.join(samples, 'invalid');
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
    const text = await readFile(path.join(dir, file), 'utf8');
    const field = /# expect-field: (.*)/.exec(text)?.[1]?.trim() ?? '<no expect-field header>';
    const message =
      /# expect-message: (.*)/.exec(text)?.[1]?.trim() ?? '<no expect-message header>';
    const result = await verdict(parse(text) as KubeObject);
    t.false(result.accepted, `${file} was accepted`);
    t.true(
      result.message.includes(`${field}:`),
      `${file}: "${result.message}" does not name ${field}`,
    );
    t.true(
      result.message.includes(message),
      `${file}: "${result.message}" does not say "${message}"`,
    );
  }
});

test('property: zod and the API server give the same verdict on random specs and mutations', async (t) => {
  let index = 0;
  await fc.assert(
    fc.asyncProperty(
      validSpec,
      fc.option(mutationArbitrary, { nil: undefined }),
      async (spec, mutation) => {
        const mutated = structuredClone(spec);
        mutation?.apply(mutated);
        const object = {
          apiVersion,
          kind: 'AciFabric',
          metadata: { name: `parity-${index++}` },
          spec: mutated,
        };
        const server = await verdict(object);
        const zod = AciFabricSpec.safeParse(mutated).success;
        if (server.accepted !== zod) {
          t.log(
            `disagreement on ${mutation?.name ?? 'valid spec'}: server ${server.accepted} (${server.message}), zod ${zod}`,
          );
        }
        return server.accepted === zod;
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('an update that removes a pod subnet or changes systemId is rejected (transition rules)', async (t) => {
  const client = await testClient();
  const base = parse(await readFile(path.join(samples, 'acifabric.yaml'), 'utf8')) as KubeObject & {
    spec: { systemId: string; network: { podSubnets: string[] } };
  };
  const name = 'transition-rules';
  const created = await client.apply<typeof base>(
    // Paused: an operator running in the same cluster must leave this fabric alone.
    { ...base, metadata: { name, annotations: { 'aci.cni.dev/paused': 'true' } } },
    { fieldManager: 'aci-e2e' },
  );
  // Merge patches, not replaces: an operator of another test file may still write this fabric's
  // metadata or status (a finalizer, a Paused condition), and a replace carrying the resourceVersion
  // read here would then meet 409 Conflict before the transition rules are ever evaluated.
  const ref = { apiVersion, kind: 'AciFabric', name };
  try {
    t.truthy(created.metadata.resourceVersion);
    await t.throwsAsync(
      client.mergePatch(ref, { spec: { network: { podSubnets: ['10.9.0.1/16'] } } }),
      { message: /pod subnets can be added but not removed/ },
    );
    await t.throwsAsync(client.mergePatch(ref, { spec: { systemId: 'other' } }), {
      message: /systemId is immutable/,
    });
  } finally {
    await client.delete({ apiVersion, kind: 'AciFabric', name });
  }
});
