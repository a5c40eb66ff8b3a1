/**
 * The image's build step, run for real: scripts/bundle.ts into a temp
 * folder, then the bundles started with plain node (no tsx, no
 * node_modules next to them), as the image and the node's container
 * runtime start them.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import {
  access,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { components, usage } from '../agents/entrypoint.ts';
import { PluginVersion } from '../agents/cni/plugin.ts';
import { ErrorCode, SupportedVersions } from '../agents/host/cniserver/protocol.ts';
import { bundle, CniPluginFile, DispatcherFile, repoRoot, type BundleReport } from './bundle.ts';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs node on a file with a clean environment (no tsx loader inherited), killing it after timeoutMs. */
function runNode(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd ?? tmpdir(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

let outDir = '';
let report: BundleReport;

test.before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'aci-bundle-'));
  report = await bundle({ outDir: join(outDir, 'dist') });
});

test.after.always(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const dist = (file: string) => join(outDir, 'dist', file);

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test('every component whose main exists is bundled; missing ones are reported, not fatal', async (t) => {
  for (const [name, source] of Object.entries(components)) {
    if (await exists(join(repoRoot, source))) {
      t.is(report.components[name], `${name}.mjs`, name);
      t.true(await exists(dist(`${name}.mjs`)), `${name}.mjs`);
    } else {
      t.true(
        report.skipped.some((s) => s.name === name),
        `${name} should be reported as skipped`,
      );
    }
  }
  t.is(report.cniPlugin, CniPluginFile);
  for (const file of report.files) t.true(await exists(dist(file)), file);
  const mode = (await stat(dist(DispatcherFile))).mode;
  t.truthy(mode & constants.S_IXUSR, 'the dispatcher is executable');
});

test('CNI plugin bundle answers VERSION on its own, copied away from everything else', async (t) => {
  // The node's container runtime runs the plugin from a CNI bin folder: nothing but the file is there.
  const alone = await mkdtemp(join(tmpdir(), 'aci-cni-alone-'));
  t.teardown(() => rm(alone, { recursive: true, force: true }));
  await copyFile(dist(CniPluginFile), join(alone, CniPluginFile));
  for (const stdin of [
    '',
    '{}',
    '{"cniVersion":"1.0.0","name":"aci-containers","type":"aci-containers-cni"}',
  ]) {
    const run = await runNode([join(alone, CniPluginFile)], {
      env: { CNI_COMMAND: 'VERSION' },
      stdin,
      cwd: alone,
    });
    t.is(run.code, 0, `stdin ${JSON.stringify(stdin)}: ${run.stderr}`);
    t.deepEqual(JSON.parse(run.stdout), {
      cniVersion: PluginVersion,
      supportedVersions: [...SupportedVersions],
    });
  }
});

test('CNI plugin bundle reports an unreachable host agent as a CNI error', async (t) => {
  const run = await runNode([dist(CniPluginFile)], {
    env: {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/bundle-test',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=bundle-test',
    },
    stdin: JSON.stringify({
      cniVersion: '1.0.0',
      name: 'aci-containers',
      type: 'aci-containers-cni',
      serverSocket: join(outDir, 'no-such.sock'),
    }),
  });
  t.is(run.code, 1, run.stderr);
  const error = JSON.parse(run.stdout) as { code: number; msg: string };
  t.is(error.code, ErrorCode.TryAgainLater);
  t.truthy(error.msg);
});

test('CNI plugin bundle is one file: it imports only node built-ins', async (t) => {
  const text = await readFile(dist(CniPluginFile), 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm),
  ].map((m) => m[1]);
  const dynamic = [...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  for (const specifier of [...specifiers, ...dynamic])
    t.regex(specifier ?? '', /^node:/, `imports ${specifier}`);
  t.false(await exists(dist(`${CniPluginFile}.map`)), 'no source map beside the plugin');
});

test('the entry point prints the usage of agents/entrypoint.ts and rejects unknown components', async (t) => {
  const help = await runNode([dist(DispatcherFile), '--help']);
  t.is(help.code, 0);
  t.is(help.stdout, usage);
  const unknown = await runNode([dist(DispatcherFile), 'no-such-component']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown component "no-such-component"/);
});

/** What a bundle that cannot load its own code prints (a broken build, not a component's own error). */
const loadFailure =
  /Dynamic require of|ERR_MODULE_NOT_FOUND|Cannot find (module|package)|require is not defined|__dirname is not defined|__filename is not defined|ERR_UNKNOWN_FILE_EXTENSION/;

for (const name of Object.keys(components)) {
  test(`component ${name}: its bundle loads and reaches its own argument parsing`, async (t) => {
    if (!report.components[name]) {
      t.log(`skipped: ${components[name as keyof typeof components]} does not exist yet`);
      t.pass();
      return;
    }
    // An unknown flag: every main parses strictly and stops there, after its whole module graph has loaded.
    const run = await runNode([dist(DispatcherFile), name, '--aci-bundle-smoke-test'], {
      timeoutMs: 10_000,
    });
    t.notRegex(run.stderr, loadFailure, run.stderr);
    // Reaching parseArgs proves the whole module graph loaded; a main that stops parsing strictly needs another probe here.
    t.regex(
      run.stderr,
      /ERR_PARSE_ARGS_UNKNOWN_OPTION/,
      `${name} did not reach its argument parsing:\n${run.stderr}`,
    );
  });
}

test('with a main missing, the bundle skips it and the entry point says so; argv reaches main(args)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'aci-bundle-root-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const lines: string[] = [];
  await mkdir(join(root, 'agents/controller'), { recursive: true });
  await writeFile(
    join(root, 'agents/controller/main.ts'),
    'export function main(args: string[]): void {\n  process.stdout.write(JSON.stringify({ args, argv: process.argv.slice(2) }));\n}\n',
  );
  const partial = await bundle({
    root,
    outDir: join(root, 'dist'),
    log: (line) => lines.push(line),
  });
  t.deepEqual(Object.keys(partial.components), ['controller']);
  t.is(partial.cniPlugin, undefined);
  t.deepEqual(
    partial.skipped.map((s) => s.name).sort(),
    [...Object.keys(components).filter((n) => n !== 'controller'), 'cni-plugin'].sort(),
  );
  t.true(
    lines.some((l) => /skipping component operator: operator\/main\.ts does not exist yet/.test(l)),
  );

  const ran = await runNode([
    join(root, 'dist', DispatcherFile),
    'controller',
    '--config=/x',
    'extra',
  ]);
  t.is(ran.code, 0, ran.stderr);
  t.deepEqual(JSON.parse(ran.stdout), {
    args: ['--config=/x', 'extra'],
    argv: ['--config=/x', 'extra'],
  });

  const missing = await runNode([join(root, 'dist', DispatcherFile), 'operator']);
  t.is(missing.code, 1);
  t.regex(
    missing.stderr,
    /component operator is not available in this build \(operator\/main\.ts is missing\)/,
  );
});

test("the Dockerfile's build stage copies everything the bundle needs", async (t) => {
  // The sources the build stage COPYs (not `COPY --from`), with .dockerignore's test exclusions,
  // bundled on their own: a component importing a folder the Dockerfile leaves out fails here.
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  const buildStage = dockerfile
    .split(/^FROM /m)
    .find((stage) => / AS build\b/.test(stage.split('\n')[0] ?? ''));
  if (!buildStage) return t.fail('no build stage in the Dockerfile');
  const sources = [...buildStage.matchAll(/^COPY (?!--)(.+) \S+$/gm)].flatMap((m) =>
    (m[1] ?? '').split(' '),
  );
  t.true(sources.includes('scripts/bundle.ts'), 'the build stage copies scripts/bundle.ts');
  const root = await mkdtemp(join(tmpdir(), 'aci-docker-context-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const source of sources) {
    await cp(join(repoRoot, source), join(root, source), {
      recursive: true,
      filter: (from) =>
        !from.endsWith('.test.ts') &&
        basename(from) !== 'testdata' &&
        basename(from) !== 'node_modules',
    });
  }
  // Stands in for `npm ci`.
  await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
  const fromContext = await bundle({ root, outDir: join(root, 'out') });
  t.deepEqual(fromContext.components, report.components);
  t.is(fromContext.cniPlugin, CniPluginFile);
});
