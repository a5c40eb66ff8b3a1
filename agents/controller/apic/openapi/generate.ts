import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';

const here = fileURLToPath(new URL('.', import.meta.url));
export const specPath = `${here}apic-rest.yaml`;
export const generatedPath = `${here}generated.ts`;

const header =
  '// GENERATED FILE, do not edit. Source: apic-rest.yaml. Regenerate: npx tsx -e "import(\'./agents/controller/apic/openapi/generate.ts\').then(m => m.generateApicTypes())"\n';

/** Renders the TypeScript types for apic-rest.yaml without touching the disk. */
export async function renderApicTypes(): Promise<string> {
  const spec: unknown = parse(await readFile(specPath, 'utf8'));
  // openapi-typescript accepts a parsed document; passing the object keeps it off the network.
  const ast = await openapiTS(spec as Parameters<typeof openapiTS>[0], { alphabetize: true });
  // Formatted with the repo's prettier config so `prettier --check .` stays green.
  const options = (await resolveConfig(generatedPath)) ?? {};
  return format(header + astToString(ast), { ...options, filepath: generatedPath });
}

/** Writes generated.ts; the stale check lives in generate.test.ts. */
export async function generateApicTypes(): Promise<string> {
  const text = await renderApicTypes();
  await writeFile(generatedPath, text);
  return generatedPath;
}
