/**
 * Builds (or finds cached) every test-node image, imports each archive into a
 * throw-away containerd of its own (own root, state and socket; CRI off) and
 * runs a command in each image with runc, so a broken image fails here, not
 * in a cluster. Needs root, like the nodes themselves: as another user the
 * test fails and says so.
 */
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureImages, type ImageArchives } from './images.ts';

const run = promisify(execFile);

let images: ImageArchives;
let dir: string;
let containerd: ChildProcess | undefined;
let address: string;

async function ctr(...args: string[]): Promise<string> {
  const { stdout } = await run('ctr', ['--address', address, '-n', 'k8s.io', ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

let runs = 0;
/** `ctr run --rm` of `command` in the image; returns its output. */
async function runIn(ref: string, ...command: string[]): Promise<string> {
  runs += 1;
  return ctr('run', '--rm', ref, `aci-images-test-${process.pid}-${runs}`, ...command);
}

test.before(async (t) => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'e2e/images needs root: buildah, debootstrap and containerd mount file systems and create namespaces',
    );
  }
  // A cold build (debootstrap, npm ci, apt-get, CoreDNS from Go modules) takes minutes.
  t.timeout(45 * 60_000);
  images = await ensureImages((line) => t.log(line));

  dir = await mkdtemp(path.join(os.tmpdir(), 'aci-images-containerd-'));
  address = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      // Only the image store and runc: no CRI server, nothing listening but the socket.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      `  address = "${dir}/debug.sock"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/opt"`,
      '',
    ].join('\n'),
  );
  const log: string[] = [];
  containerd = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  containerd.stdout?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  containerd.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  const exited = new Promise<never>((_, reject) =>
    containerd?.once('exit', (code) =>
      reject(new Error(`containerd exited (${code}):\n${log.join('').slice(-3000)}`)),
    ),
  );
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await Promise.race([
      ctr('version').then(
        () => true,
        () => false,
      ),
      exited,
    ]);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`containerd did not start:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

test.after.always(async () => {
  if (containerd && containerd.exitCode === null) {
    const exited = new Promise((r) => containerd?.once('exit', r));
    containerd.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('every archive imports into containerd under all its names', async (t) => {
  t.timeout(10 * 60_000);
  for (const image of Object.values(images)) {
    await ctr('images', 'import', image.archive);
  }
  const refs = new Set((await ctr('images', 'ls', '-q')).split('\n').filter((line) => line !== ''));
  for (const [name, image] of Object.entries(images)) {
    for (const tag of image.tags) t.true(refs.has(tag), `${name}: ${tag} imported`);
  }
  // The names the operator renders and the nodes' containerd uses.
  t.is(images['aci-containers'].ref, 'ghcr.io/aci-cni/aci-containers:0.1.0');
  t.is(images.pause.ref, 'registry.k8s.io/pause:3.10');
});

test.serial(
  'the project image runs its entry point and has what the node agents call',
  async (t) => {
    const ref = images['aci-containers'].ref;
    t.regex(await runIn(ref, 'aci-containers', '--help'), /usage: aci-containers <component>/);
    const tools = await runIn(
      ref,
      'sh',
      '-c',
      'node --version; ovs-vswitchd --version; ip -V; iptables --version; nsenter --version; id -u nonroot; test -f "$ACI_CNI_BUNDLE" && echo bundle',
    );
    t.regex(tools, /^v20\.20\.2$/m);
    t.regex(tools, /Open vSwitch/);
    t.regex(tools, /iproute2/);
    t.regex(tools, /iptables v1\./);
    t.regex(tools, /nsenter from util-linux/);
    t.regex(tools, /^65532$/m);
    t.regex(tools, /^bundle$/m);
    // The CA secret of the build stage never reaches the runtime image.
    t.is(
      await runIn(
        ref,
        'sh',
        '-c',
        'test ! -e /run/secrets && test ! -e /usr/local/etc/npmrc && echo clean',
      ),
      'clean\n',
    );
  },
);

test.serial('busybox, pause, agnhost and coredns run', async (t) => {
  t.is(
    await runIn(images.busybox.ref, 'busybox', 'echo', 'hello from busybox'),
    'hello from busybox\n',
  );
  t.is(await runIn(images.busybox.ref, 'sh', '-c', 'echo $((6 * 7))'), '42\n');
  t.regex(await runIn(images.pause.ref, '/pause', '-v'), /pause\.c v3\.10/);
  t.regex(await runIn(images.agnhost.ref, '/agnhost', '--help'), /netexec/);
  t.is(await runIn(images.agnhost.ref, 'sh', '-c', 'echo shell in agnhost'), 'shell in agnhost\n');
  t.regex(await runIn(images.coredns.ref, '/coredns', '-version'), /CoreDNS-1\.\d+\.\d+/);
});

test.serial('the base images are Debian bookworm and Node 20.20.2 with npm', async (t) => {
  t.regex(await runIn(images.debian.ref, 'cat', '/etc/debian_version'), /^12\.\d+/);
  t.regex(
    await runIn(images.debian.ref, 'cat', '/etc/apt/sources.list.d/debian.sources'),
    /bookworm-security/,
  );
  t.is(await runIn(images.node.ref, 'node', '--version'), 'v20.20.2\n');
  t.regex(await runIn(images.node.ref, 'npm', '--version'), /^10\.8\.2$/m);
});
