import test from 'ava';
import { readFile } from 'node:fs/promises';
import { generatedPath, renderApicTypes } from './generate.ts';

test('generated.ts matches apic-rest.yaml (regenerate with generateApicTypes())', async (t) => {
  const onDisk = await readFile(generatedPath, 'utf8');
  const fresh = await renderApicTypes();
  t.is(onDisk, fresh, 'generated.ts is stale: run generateApicTypes() from generate.ts');
});
