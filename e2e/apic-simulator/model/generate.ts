// Generates the simulator's class model (model/classes.json) from APIC class
// metadata in the APIC's own jsonmeta format (what an APIC serves under
// /doc/jsonmeta/<pkg>/<Class>.json):
//   npx tsx e2e/apic-simulator/model/generate.ts <checkout> [more jsonmeta dirs...]
// reads <checkout>/gen/meta/*.json (CiscoDevNet/terraform-provider-aci,
// MPL-2.0), then any further directories of jsonmeta files (for example
// classes fetched from an APIC's /doc/jsonmeta); the first source of a class
// wins. Containment is the union of each class's `containedBy` and the
// `contains` lists of the classes that hold it. Classes no such source
// carries are transcribed in supplement.ts, which classes.ts merges in.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ModelClass, ModelFile, ModelProp } from './types.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

const ValidValue = z.object({ value: z.string(), localName: z.string() });
const Validator = z.object({
  min: z.number().optional(),
  max: z.number().optional(),
  regexs: z.array(z.object({ regex: z.string(), type: z.string() })).optional(),
  regex: z.string().optional(),
  type: z.string().optional(),
});
const MetaProp = z.object({
  baseType: z.string(),
  isConfigurable: z.boolean(),
  isNaming: z.boolean().optional(),
  createOnly: z.boolean().optional(),
  secure: z.boolean().optional(),
  default: z.union([z.string(), z.number()]).optional().nullable(),
  validValues: z.array(ValidValue).optional(),
  validators: z.array(Validator).optional(),
});
const MetaClass = z.object({
  rnFormat: z.string(),
  identifiedBy: z.array(z.string()).optional(),
  containedBy: z.record(z.string(), z.unknown()).optional(),
  contains: z.record(z.string(), z.unknown()).optional(),
  relationTo: z.record(z.string(), z.string()).optional(),
  relationFrom: z.record(z.string(), z.string()).optional(),
  superClasses: z.array(z.string()).optional(),
  subClasses: z.record(z.string(), z.unknown()).optional(),
  isAbstract: z.boolean().optional(),
  isConfigurable: z.boolean().optional(),
  isCreatableDeletable: z.string().optional(),
  properties: z.record(z.string(), MetaProp),
});
export type MetaClass = z.infer<typeof MetaClass>;

/** `fv:BD` → `fvBD`. */
const className = (qualified: string) => qualified.replace(':', '');

/** Numeric MAC defaults are stored byte-reversed (0xFF19F8BD2200 is 00:22:BD:F8:19:FF). */
function macFromNumber(n: string): string {
  const hex = BigInt(n).toString(16).padStart(12, '0');
  const bytes = hex.match(/../g) ?? [];
  return bytes.reverse().join(':').toUpperCase();
}

function convertProp(p: z.infer<typeof MetaProp>): ModelProp {
  const out: ModelProp = { type: p.baseType };
  // Read-only properties are only named: the simulator ignores them on write.
  if (!p.isConfigurable) return { type: p.baseType, readOnly: true };
  if (p.isNaming === true) out.naming = true;
  if (p.createOnly === true) out.createOnly = true;
  if (p.secure === true) out.secure = true;
  const named = (p.validValues ?? []).filter((v) => v.localName !== 'defaultValue');
  if (named.length > 0) {
    // Both the wire value and the name are accepted; the APIC stores and returns the name.
    const values: Record<string, string> = {};
    for (const v of named) {
      values[v.localName] = v.localName;
      values[v.value] ??= v.localName;
    }
    if (p.baseType === 'scalar:Bool') {
      values.true = values.yes ?? 'yes';
      values.false = values.no ?? 'no';
    }
    out.values = values;
  }
  const dflt =
    p.default ?? (p.validValues ?? []).find((v) => v.localName === 'defaultValue')?.value;
  if (dflt !== undefined && dflt !== null) {
    const d = String(dflt);
    out.default =
      out.values?.[d] ?? (p.baseType === 'address:MAC' && /^\d+$/.test(d) ? macFromNumber(d) : d);
  }
  for (const v of p.validators ?? []) {
    if (v.min !== undefined) out.min = v.min;
    if (v.max !== undefined) out.max = v.max;
    const res = [
      ...(v.regexs ?? []),
      ...(v.regex !== undefined ? [{ regex: v.regex, type: v.type ?? 'include' }] : []),
    ];
    for (const r of res) {
      if (r.type !== 'include' || r.regex === '') continue;
      (out.patterns ??= []).push(r.regex);
    }
  }
  return out;
}

function readMetaDir(dir: string): Map<string, MetaClass> {
  const out = new Map<string, MetaClass>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const doc = z
      .record(z.string(), z.unknown())
      .parse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    for (const [qualified, body] of Object.entries(doc)) {
      const parsed = MetaClass.safeParse(body);
      if (!parsed.success)
        throw new Error(`${join(dir, f)}: ${qualified}: ${parsed.error.message}`);
      out.set(qualified, parsed.data);
    }
  }
  return out;
}

/** Every class the metadata names (containment, relations, class hierarchy) that it does not describe. */
export function otherClasses(sources: ReadonlyArray<Map<string, MetaClass>>): string[] {
  const described = new Set(sources.flatMap((s) => [...s.keys()]));
  const named = new Set<string>();
  for (const src of sources) {
    for (const c of src.values()) {
      for (const q of [
        ...Object.keys(c.contains ?? {}),
        ...Object.keys(c.containedBy ?? {}),
        ...Object.values(c.relationTo ?? {}),
        ...Object.values(c.relationFrom ?? {}),
        ...Object.keys(c.relationTo ?? {}),
        ...Object.keys(c.relationFrom ?? {}),
        ...(c.superClasses ?? []),
        ...Object.keys(c.subClasses ?? {}),
      ])
        if (!described.has(q)) named.add(className(q));
    }
  }
  return [...named].sort();
}

export function buildModel(
  sources: ReadonlyArray<Map<string, MetaClass>>,
): Record<string, ModelClass> {
  const all = new Map<string, MetaClass>();
  for (const src of sources) for (const [k, v] of src) if (!all.has(k)) all.set(k, v);
  const parents = new Map<string, Set<string>>();
  const addParent = (child: string, parent: string) => {
    let s = parents.get(child);
    if (s === undefined) parents.set(child, (s = new Set()));
    s.add(parent);
  };
  for (const [q, c] of all) {
    for (const p of Object.keys(c.containedBy ?? {})) addParent(className(q), className(p));
    for (const ch of Object.keys(c.contains ?? {}))
      if (all.has(ch)) addParent(className(ch), className(q));
  }
  const out: Record<string, ModelClass> = {};
  for (const [q, c] of [...all].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const name = className(q);
    const props: Record<string, ModelProp> = {};
    for (const [pn, p] of Object.entries(c.properties).sort(([a], [b]) => (a < b ? -1 : 1)))
      props[pn] = convertProp(p);
    out[name] = {
      rn: c.rnFormat,
      naming: c.identifiedBy ?? [],
      parents: [...(parents.get(name) ?? [])].sort(),
      ...(c.isAbstract === true ? { abstract: true } : {}),
      ...(c.isConfigurable === false || c.isCreatableDeletable === 'never'
        ? { configurable: false }
        : {}),
      source: 'jsonmeta',
      props,
    };
  }
  return out;
}

function main(): void {
  const checkout = process.argv[2];
  if (checkout === undefined) {
    process.stderr.write(
      'usage: generate.ts <path to a CiscoDevNet/terraform-provider-aci checkout>\n',
    );
    process.exit(2);
  }
  let commit = process.env.SOURCE_COMMIT ?? 'unknown';
  if (process.env.SOURCE_COMMIT === undefined)
    try {
      commit = execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], {
        encoding: 'utf8',
      }).trim();
    } catch {
      // A plain copy of the files without .git: the commit stays unknown.
    }
  const extra = process.argv.slice(3);
  const sources = [join(checkout, 'gen', 'meta'), ...extra].map(readMetaDir);
  const model: ModelFile = {
    generatedBy: 'e2e/apic-simulator/model/generate.ts (do not edit; run it again)',
    sources: [
      `CiscoDevNet/terraform-provider-aci gen/meta at commit ${commit}, MPL-2.0 (see NOTICE)`,
      ...extra,
    ],
    classes: buildModel(sources),
    otherClasses: otherClasses(sources),
  };
  writeFileSync(join(here, 'classes.json'), JSON.stringify(model) + '\n');
  process.stdout.write(
    `Wrote ${Object.keys(model.classes).length} classes to model/classes.json\n`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
