/**
 * Runs the Lua health checks the way Argo CD does: each health_test.yaml
 * case (Argo CD's resource_customizations layout) through a real Lua VM,
 * with the object as the `obj` global table, comparing the returned
 * {status, message}. Argo CD embeds gopher-lua (Lua 5.1) and wasmoon is Lua
 * 5.4, so the scripts are also checked for 5.2+-only syntax.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LuaFactory, type LuaEngine } from 'wasmoon';
import { parse } from 'yaml';
import { z } from 'zod';
import { customResources } from '../../crds/index.ts';
import { argocdConfigMap, configMapPath, healthChecks } from './generate.ts';

const factory = new LuaFactory();

const HealthStatus = z.object({
  status: z.enum(['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown']),
  message: z.string().optional(),
});
type HealthStatus = z.infer<typeof HealthStatus>;

const HealthTests = z.object({
  tests: z
    .array(z.object({ healthStatus: HealthStatus, inputPath: z.string().min(1) }))
    .min(4, 'at least 4 cases per kind'),
});

const KubeObject = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string() }),
  status: z.unknown().optional(),
});
type KubeObject = z.infer<typeof KubeObject>;

async function engine(): Promise<LuaEngine> {
  // enableProxy false: `obj` becomes a plain Lua table copy, as Argo CD converts the object.
  const lua = await factory.createEngine({ enableProxy: false, injectObjects: false });
  // Argo CD opens only safe libraries; removing the rest makes a script that relies on them fail here too.
  await lua.doString(
    'io = nil; debug = nil; utf8 = nil; dofile = nil; loadfile = nil; require = nil; os = nil',
  );
  return lua;
}

async function health(lua: string, obj: KubeObject): Promise<HealthStatus> {
  const vm = await engine();
  try {
    vm.global.set('obj', obj);
    return HealthStatus.parse(await vm.doString(lua));
  } finally {
    vm.global.close();
  }
}

/** Syntax and library calls that gopher-lua (Lua 5.1) rejects, in code with comments and strings removed. */
const lua52Only: [RegExp, string][] = [
  [/\bgoto\b|::\w+::/, 'goto and labels'],
  [/\/\//, 'integer division //'],
  [/<(const|close)>/, 'attributes'],
  [/[&|]|~[^=]|<<|>>/, 'bitwise operators'],
  [/\btable\.unpack\b|\bmath\.type\b|\bstring\.pack\b|\butf8\./, 'Lua 5.3+ library functions'],
];

function code(lua: string): string {
  return lua.replace(/--[^\n]*/g, '').replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""');
}

const checks = healthChecks();

test('there is a health check for every custom resource kind', (t) => {
  t.deepEqual(
    checks.map((c) => c.kind),
    customResources.map((r) => r.kind),
  );
});

for (const check of checks) {
  test(`${check.kind}: health.lua uses only Lua 5.1`, (t) => {
    for (const [pattern, what] of lua52Only)
      t.notRegex(code(check.lua), pattern, `${check.kind}/health.lua uses ${what}`);
  });

  test(`${check.kind}: health_test.yaml cases`, async (t) => {
    const dir = dirname(check.path);
    const { tests } = HealthTests.parse(parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')));
    const resource = customResources.find((r) => r.kind === check.kind);
    for (const { healthStatus, inputPath } of tests) {
      const obj = KubeObject.parse(parse(readFileSync(join(dir, inputPath), 'utf8')));
      t.is(obj.kind, check.kind, inputPath);
      // The cases are only worth something if their status is one the components can write.
      if (obj.status !== undefined) {
        const parsed = resource?.status.safeParse(obj.status);
        t.true(
          parsed?.success,
          `${inputPath}: status does not match the ${check.kind} schema: ${parsed?.error?.message ?? ''}`,
        );
      }
      t.deepEqual(await health(check.lua, obj), healthStatus, inputPath);
    }
  });
}

/** samples/acifabric.yaml as the operator reports it once everything is rolled out. */
function sampleWithStatus(): KubeObject {
  const sample = KubeObject.parse(
    parse(readFileSync(new URL('../../samples/acifabric.yaml', import.meta.url), 'utf8')),
  );
  const conditions = [
    [
      'Ready',
      'True',
      'Ready',
      'All components ready: controller 1/1, host agents 2/2, openvswitch 2/2',
    ],
    [
      'Progressing',
      'False',
      'RolledOut',
      'Rolled out: controller 1/1, host agents 2/2, openvswitch 2/2',
    ],
    ['Degraded', 'False', 'AsExpected', 'No errors'],
  ].map(([type, status, reason, message]) => ({
    type,
    status,
    reason,
    message,
    observedGeneration: 5,
    lastTransitionTime: '2025-01-10T09:00:00Z',
  }));
  return {
    ...sample,
    metadata: { ...sample.metadata, generation: 5 },
    status: { observedGeneration: 5, conditions },
  };
}

test('the AciFabric sample, reconciled and Ready, is Healthy; an unobserved spec change is Progressing', async (t) => {
  const check = checks.find((c) => c.kind === 'AciFabric');
  if (!check) return t.fail('no AciFabric health check');
  const ready = sampleWithStatus();
  t.deepEqual(await health(check.lua, ready), {
    status: 'Healthy',
    message: 'All components ready: controller 1/1, host agents 2/2, openvswitch 2/2',
  });
  const edited = { ...ready, metadata: { ...ready.metadata, generation: 6 } };
  t.is((await health(check.lua, edited)).status, 'Progressing');
});

test('argocd-cm.yaml is up to date (regenerate: npx tsx deploy/argocd/generate.ts)', (t) => {
  t.is(readFileSync(configMapPath, 'utf8'), argocdConfigMap());
});

test('argocd-cm.yaml carries each health.lua verbatim under its Argo CD key', (t) => {
  const text = argocdConfigMap();
  t.regex(text.split('\n')[0] ?? '', /^# Generated by deploy\/argocd\/generate\.ts/);
  const cm = z
    .object({
      kind: z.literal('ConfigMap'),
      metadata: z.object({ name: z.literal('argocd-cm') }),
      data: z.record(z.string(), z.string()),
    })
    .parse(parse(text));
  t.deepEqual(Object.keys(cm.data), [
    'resource.customizations.health.aci.cni.dev_AciFabric',
    'resource.customizations.health.aci.cni.dev_PodIPPool',
    'resource.customizations.health.aci.cni.dev_EndpointGroupMapping',
    'resource.customizations.health.aci.cni.dev_ServiceGraph',
  ]);
  for (const check of checks) t.is(cm.data[check.key], check.lua, check.key);
});
