/**
 * `npm test`: starts one real control plane for the whole run (building or
 * reusing the cached binaries), runs every ava test file against it, prints
 * the component logs if anything failed, and always tears the cluster down.
 * Extra arguments go to ava (e.g. `npm test -- crds/`).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cluster } from './cluster/cluster.ts';
import { repoRoot } from './support/paths.ts';
import { ensurePrerequisites, MissingPrerequisite } from './support/prerequisites.ts';

const clusterDir = process.env.ACI_TEST_CLUSTER_DIR ?? path.join(repoRoot, '.cluster-test');
const realNodeFiles = 'e2e/nodes/**';
/** ava's own file globs (ava.config.js), so a pass can be everything but the real-node files. */
const avaFiles = (
  (await import(pathToFileURL(path.join(repoRoot, 'ava.config.js')).href)) as {
    default: { files: string[] };
  }
).default.files;

interface AvaOutcome {
  code: number;
  passed: number;
  failed: number;
  /** Per test file: seconds into the pass of its first and last result. */
  files?: Map<string, { first: number; last: number }>;
}

/** The test file of an ava result line (`✔ dir › file › title (1.2s)` → `dir › file`). */
const fileOfResult = (line: string): string | undefined => {
  const parts = line.replace(/^\s*[✔✘]\s+(\[\w+\]:?\s+)?/, '').split(' › ');
  return parts.length > 1 ? parts.slice(0, -1).join(' › ') : undefined;
};

/** Runs ava, echoing its output, and reads its closing counts for one plain summary line. */
function runAva(args: string[], env: NodeJS.ProcessEnv): Promise<AvaOutcome> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), ...args],
      {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    // Counted from ava's per-test marks (✔ / ✘), which it prints in every mode, pass or fail.
    let passed = 0;
    let failed = 0;
    let partial = '';
    const started = performance.now();
    const files = new Map<string, { first: number; last: number }>();
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (/^\s*✔/.test(line)) passed++;
        else if (/^\s*✘/.test(line)) failed++;
        else continue;
        const file = fileOfResult(line);
        if (file === undefined) continue;
        const at = Math.round((performance.now() - started) / 1000);
        const seen = files.get(file);
        if (seen) seen.last = at;
        else files.set(file, { first: at, last: at });
      }
    });
    child.on('exit', (code, signal) => {
      resolve({ code: code ?? (signal ? 1 : 0), passed, failed, files });
    });
  });
}

let cluster: Cluster | undefined;
let code: number;
const stop = async () => {
  await cluster?.stop();
};
process.on('SIGINT', () => void stop().then(() => process.exit(130)));
process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
try {
  await ensurePrerequisites((line) => console.log(line));
  console.log(
    'Starting the test control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)...',
  );
  cluster = await Cluster.start({ dir: clusterDir, nodes: 3, log: (line) => console.log(line) });
  const env = { ...process.env, ACI_CLUSTER_DIR: clusterDir, KUBECONFIG: cluster.kubeconfig };
  // The real-node files run on their own, after the rest: two kubelet nodes and their pods load
  // both cores, and the timing-bound e2e tests of the shared cluster should not share them.
  const userArgs = process.argv.slice(2);
  // One real-node file at a time: each starts two kubelets, containerd, OVS and the leaf, and two
  // such environments side by side on 2 cores made cross-node checks miss their deadlines.
  const passes: { name: string; args: string[] }[] =
    userArgs.length > 0
      ? [{ name: 'the files given', args: userArgs }]
      : [
          { name: 'files', args: [...avaFiles, `!${realNodeFiles}`] },
          { name: 'real nodes', args: ['--concurrency=1', realNodeFiles] },
        ];
  const outcome: AvaOutcome = { code: 0, passed: 0, failed: 0 };
  // Each pass's wall time, printed at the end: what a warm CI run spends where.
  const durations: string[] = [];
  for (const [i, { name, args }] of passes.entries()) {
    const started = performance.now();
    const pass = await runAva(args, env);
    outcome.passed += pass.passed;
    outcome.failed += pass.failed;
    if (pass.code !== 0) outcome.code = pass.code;
    const seconds = Math.round((performance.now() - started) / 1000);
    durations.push(`pass ${i + 1} (${name}) ${seconds}s`);
    // The files that finished last, with when their results came: where the pass's tail goes.
    const latest = [...(pass.files ?? new Map<string, { first: number; last: number }>())]
      .sort(([, a], [, b]) => b.last - a.last)
      .slice(0, 8)
      .map(([file, { first, last }]) => `  ${file}: results from ${first}s to ${last}s`);
    if (latest.length > 0)
      console.log(`\npass ${i + 1} (${name}): the files that finished last\n${latest.join('\n')}`);
  }
  code = outcome.code;
  console.log(
    `\ntests: ${outcome.passed} passed, ${Math.max(outcome.failed, code === 0 ? 0 : 1)} failed; ${durations.join(', ')}`,
  );
  if (code !== 0) {
    console.log('\nSome tests failed; last lines of the control-plane logs:');
    console.log(await cluster.logTails(30));
    console.log(`Full logs: ${cluster.logDir}`);
  }
} catch (error) {
  if (error instanceof MissingPrerequisite) {
    console.error(`npm test: ${error.message}`);
    process.exit(1);
  }
  console.error('The test run could not start:', error);
  if (cluster) console.log(await cluster.logTails(30));
  code = 1;
} finally {
  await stop();
}
process.exit(code);
