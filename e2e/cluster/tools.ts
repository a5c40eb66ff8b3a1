/**
 * Builds the control-plane binaries from the official Go modules pinned in
 * tools/<name>/go.mod and caches them outside the repo, keyed by a hash of
 * go.mod + go.sum, so the first run builds (minutes) and later runs start in
 * seconds. Nothing is downloaded but Go modules.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const toolsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools');

export const cacheRoot =
  process.env.ACI_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'aci-containers');

/** Go module folder → the commands it builds (binary name = last path element). */
const toolModules: Record<string, string[]> = {
  kubernetes: [
    'k8s.io/kubernetes/cmd/kube-apiserver',
    'k8s.io/kubernetes/cmd/kube-controller-manager',
    'k8s.io/kubernetes/cmd/kube-scheduler',
    'k8s.io/kubernetes/cmd/kubectl',
  ],
  // The real nodes' own binaries and the agnhost test server their pods run.
  'kubernetes-node': [
    'k8s.io/kubernetes/cmd/kubelet',
    'k8s.io/kubernetes/cmd/kube-proxy',
    'k8s.io/kubernetes/test/images/agnhost',
  ],
  etcd: ['go.etcd.io/etcd/server/v3'],
  kwok: ['sigs.k8s.io/kwok/cmd/kwok'],
  kustomize: ['sigs.k8s.io/kustomize/kustomize/v5'],
};

export type BinaryName =
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kubelet'
  | 'kube-proxy'
  | 'agnhost'
  | 'etcd'
  | 'kwok'
  | 'kustomize';
export type Binaries = Record<BinaryName, string>;

/** The file name `go build -o dir/` gives a command: its last path element, skipping a /vN suffix. */
function goOutputName(pkg: string): string {
  const parts = pkg.split('/');
  const last = parts.at(-1) ?? pkg;
  return /^v[0-9]+$/.test(last) ? (parts.at(-2) ?? last) : last;
}

/** The name we give the binary; etcd's main package is go.etcd.io/etcd/server/v3, built as `server`. */
function binaryName(pkg: string): BinaryName {
  return (pkg === 'go.etcd.io/etcd/server/v3' ? 'etcd' : goOutputName(pkg)) as BinaryName;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function moduleKey(moduleDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(await readFile(path.join(moduleDir, file)));
  return hash.digest('hex').slice(0, 12);
}

/** Returns the cached binaries, building whatever is missing. */
export async function ensureBinaries(log: (line: string) => void = () => {}): Promise<Binaries> {
  const binaries = {} as Binaries;
  for (const [name, packages] of Object.entries(toolModules)) {
    const moduleDir = path.join(toolsDir, name);
    const binDir = path.join(cacheRoot, 'bin', `${name}-${await moduleKey(moduleDir)}`);
    const wanted = packages.map(
      (pkg) => [binaryName(pkg), path.join(binDir, binaryName(pkg))] as const,
    );
    const missing = (await Promise.all(wanted.map(([, file]) => exists(file)))).some((ok) => !ok);
    if (missing) {
      log(
        `Building ${name} (${packages.length} binaries) from Go modules into ${binDir}; the first build takes minutes`,
      );
      const staging = `${binDir}.partial-${process.pid}`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      const started = Date.now();
      // A cold build is silent for minutes: say every half minute that it is still going.
      const heartbeat = setInterval(() => {
        log(`  still building ${name}: ${Math.round((Date.now() - started) / 1000)}s`);
      }, 30_000);
      try {
        await run('go', ['build', '-trimpath', '-o', staging + path.sep, ...packages], {
          cwd: moduleDir,
          env: { ...process.env, CGO_ENABLED: '0' },
          maxBuffer: 64 * 1024 * 1024,
        });
      } finally {
        clearInterval(heartbeat);
      }
      for (const pkg of packages) {
        if (goOutputName(pkg) !== binaryName(pkg)) {
          await rename(path.join(staging, goOutputName(pkg)), path.join(staging, binaryName(pkg)));
        }
      }
      await rm(binDir, { recursive: true, force: true });
      await mkdir(path.dirname(binDir), { recursive: true });
      await rename(staging, binDir);
      log(`Built ${name} in ${Math.round((Date.now() - started) / 1000)}s`);
    }
    for (const [bin, file] of wanted) binaries[bin] = file;
  }
  return binaries;
}

/**
 * kwok's own stage definitions (node initialize + lease heartbeat, pod
 * ready/complete/delete), read from the pinned kwok module, so simulated
 * nodes and pods behave as kwok's authors intend for that version.
 */
export async function kwokStages(): Promise<string> {
  const { stdout } = await run('go', ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], {
    cwd: path.join(toolsDir, 'kwok'),
  });
  const stageDir = path.join(stdout.trim(), 'kustomize', 'stage');
  const files = [
    'node/fast/node-initialize.yaml',
    'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
    'pod/fast/pod-ready.yaml',
    'pod/fast/pod-complete.yaml',
    'pod/fast/pod-delete.yaml',
  ];
  const docs = await Promise.all(files.map((file) => readFile(path.join(stageDir, file), 'utf8')));
  return docs.map((doc) => doc.trim()).join('\n---\n') + '\n';
}
