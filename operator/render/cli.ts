/**
 * `npx tsx operator/render/cli.ts samples/acifabric.yaml`: prints what the
 * operator would apply for an AciFabric, as YAML, without a cluster — the
 * reviewable equivalent of acc-provision's generated manifest.
 */
import { readFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { AciFabric } from '../../crds/index.ts';
import { renderFabric } from './index.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: cli.ts <acifabric.yaml>');
  process.exit(2);
}
const fabric = AciFabric.parse(parse(await readFile(file, 'utf8')));
const { objects } = renderFabric({
  fabric: {
    name: fabric.metadata.name,
    uid: fabric.metadata.uid ?? '00000000-0000-0000-0000-000000000000',
  },
  spec: fabric.spec,
});
process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
