import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { repoRoot } from '../../e2e/support/paths.ts';
import { mutationArbitrary, validSpec } from '../testing/arbitraries.ts';
import { AciFabric, AciFabricSpec } from './acifabric.ts';

const samples = path.join(repoRoot, 'samples');

test('the sample AciFabric is valid and defaults fill in', async (t) => {
  const fabric = AciFabric.parse(
    parse(await readFile(path.join(samples, 'acifabric.yaml'), 'utf8')),
  );
  t.is(fabric.spec.network.podSubnetChunkSize, 32);
  t.is(fabric.spec.apic.insecureSkipTLSVerify, false);
  t.is(fabric.spec.aci.legacyNaming, false);
});

test('defaults: a minimal spec gets the documented defaults', (t) => {
  const spec = AciFabricSpec.parse({
    systemId: 'k',
    apic: { hosts: ['a'], credentials: { method: 'Password', secretRef: { name: 's' } } },
    aci: {
      vrf: { name: 'v', tenant: 'common' },
      l3out: { name: 'l', externalNetworks: ['e'] },
      aep: 'aep',
      vmmDomain: { multicastRange: { start: '225.0.0.1', end: '225.0.0.9' } },
    },
    network: {
      nodeSubnet: '10.1.0.1/16',
      podSubnets: ['10.2.0.1/16'],
      nodeServiceSubnet: '10.5.0.1/24',
      kubeapiVlan: 1,
      serviceVlan: 2,
      infraVlan: 3,
    },
  });
  t.is(spec.namespace, 'aci-containers-system');
  t.is(spec.network.podSubnetChunkSize, 32);
  t.is(spec.network.mtu, 1500);
  t.is(spec.components.controller.replicas, 1);
  t.is(spec.components.maxUnavailable, 1);
  t.is(spec.images.pullPolicy, 'IfNotPresent');
  t.is(spec.aci.vmmDomain.encapType, 'vxlan');
});

test('each file in samples/invalid is rejected by zod at the field its header names', async (t) => {
  const dir = path.join(samples, 'invalid');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  t.true(files.length >= 14);
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    const field = /# expect-field: (.*)/.exec(text)?.[1]?.trim() ?? '';
    const result = AciFabric.safeParse(parse(text));
    t.false(result.success, `${file} was accepted`);
    const paths =
      result.error?.issues.map((issue) =>
        issue.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')
          .replace(/\.\[/g, '['),
      ) ?? [];
    t.true(
      paths.includes(field),
      `${file}: expected an issue at ${field}, got ${paths.join(', ')}`,
    );
  }
});

test('property: generated specs are valid', (t) => {
  fc.assert(
    fc.property(validSpec, (spec) => AciFabricSpec.safeParse(spec).success),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: each mutation is accepted exactly when it keeps the spec valid', (t) => {
  fc.assert(
    fc.property(validSpec, mutationArbitrary, (spec, mutation) => {
      const copy = structuredClone(spec);
      mutation.apply(copy);
      return AciFabricSpec.safeParse(copy).success === mutation.stillValid;
    }),
    { numRuns: 500 },
  );
  t.pass();
});
