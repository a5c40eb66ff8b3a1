/**
 * Real kubelet + containerd nodes: the I/O shell around `node-config.ts`.
 *
 * A node is a network namespace on the cluster's host bridge plus a mount
 * namespace held by one `sleep infinity` (the node's "init"); containerd,
 * kubelet and kube-proxy are started into both with `nsenter --target`.
 * `nsenter --net` is used instead of `ip netns exec`, which remounts /sys
 * and hides the cgroup tree from the kubelet. Stopping a node kills every
 * process in its network namespace or its cgroup tree (pods included),
 * as pulling a machine's plug would; stopping one component keeps the
 * rest, so a restarted kubelet or containerd finds its pods still running.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import {
  containerdConfig,
  containerdSocket,
  hostPathOf,
  kubeletArgs,
  kubeletConfig,
  kubeProxyConfig,
  nodeInitScript,
  type NodeIdentity,
  type NodeNetwork,
} from './node-config.ts';

const exec = promisify(execFile);

export async function sh(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, {
      cause: error,
    });
  }
}

async function linkExists(name: string): Promise<boolean> {
  return exec('ip', ['link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );
}

/** The host bridge every node's eth0 hangs on; its address is where the API server listens. */
export async function ensureNodeNetwork(network: NodeNetwork): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'real nodes need root (network and mount namespaces, cgroups, containerd); run as root',
    );
  }
  if (!(await linkExists(network.bridge))) {
    await sh('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
  }
  await sh('ip', [
    'addr',
    'replace',
    `${network.gateway}/${network.prefixLength}`,
    'dev',
    network.bridge,
  ]);
  await sh('ip', ['link', 'set', network.bridge, 'up']);
}

export async function removeNodeNetwork(network: NodeNetwork): Promise<void> {
  if (await linkExists(network.bridge)) await sh('ip', ['link', 'del', network.bridge]);
}

const cgroupControllers = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
  'systemd',
];

/** The node's cgroup root under every v1 controller; cpuset needs its cpus and mems filled in. */
async function createCgroupRoot(node: NodeIdentity): Promise<void> {
  for (const controller of cgroupControllers) {
    const dir = path.join('/sys/fs/cgroup', controller, node.cgroupRoot);
    if (!existsSync(path.join('/sys/fs/cgroup', controller))) continue;
    await mkdir(dir, { recursive: true });
    if (controller === 'cpuset') {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const value = await readFile(path.join('/sys/fs/cgroup/cpuset', file), 'utf8');
        await writeFile(path.join(dir, file), value.trim());
      }
    }
  }
}

async function cgroupTreePids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  pids.push(...procs.split('\n').filter(Boolean).map(Number));
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) pids.push(...(await cgroupTreePids(path.join(dir, entry.name))));
  }
  return pids;
}

async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) await removeCgroupTree(path.join(dir, entry.name));
  }
  await rm(dir, { recursive: false, force: true }).catch(async () => {
    // cgroupfs folders are removed with rmdir, which fs.rm does not do on every Node version.
    await exec('rmdir', [dir]).catch(() => undefined);
  });
}

async function netnsInode(netns: string): Promise<number | undefined> {
  return stat(`/run/netns/${netns}`).then(
    (s) => s.ino,
    () => undefined,
  );
}

/** Every process whose network namespace is the node's, or that sits in the node's cgroup tree. */
export async function nodePids(node: NodeIdentity): Promise<number[]> {
  const pids = new Set<number>();
  const inode = await netnsInode(node.netns);
  if (inode !== undefined) {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const ns = await stat(`/proc/${entry}/ns/net`).catch(() => undefined);
      if (ns?.ino === inode && Number(entry) !== process.pid) pids.add(Number(entry));
    }
  }
  for (const pid of await cgroupTreePids(path.join('/sys/fs/cgroup/pids', node.cgroupRoot))) {
    pids.add(pid);
  }
  return [...pids];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills everything the node runs (SIGKILL), then removes its cgroups, namespace and links. */
export async function destroyNode(node: NodeIdentity): Promise<void> {
  await powerOffNode(node);
  if (await linkExists(node.hostVeth)) await sh('ip', ['link', 'del', node.hostVeth]);
  if (existsSync(`/run/netns/${node.netns}`)) await sh('ip', ['netns', 'del', node.netns]);
}

/**
 * Kills everything the node runs and removes its cgroups, but keeps its
 * network namespace: a machine that loses power keeps its cables (eth0 on the
 * node bridge, eth1 to the leaf), so it comes back on the same links.
 */
export async function powerOffNode(node: NodeIdentity): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const pids = await nodePids(node);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const controller of cgroupControllers) {
    await removeCgroupTree(path.join('/sys/fs/cgroup', controller, node.cgroupRoot));
  }
  await rm(path.join(node.dir, 'init.ready'), { force: true });
}

/** The node's network namespace, wired to the bridge as eth0 with the node IP. */
async function createNodeNetns(network: NodeNetwork, node: NodeIdentity): Promise<void> {
  await sh('ip', ['netns', 'add', node.netns]);
  const peer = `${node.hostVeth}p`;
  await sh('ip', ['link', 'add', node.hostVeth, 'type', 'veth', 'peer', 'name', peer]);
  await sh('ip', ['link', 'set', node.hostVeth, 'master', network.bridge, 'up']);
  await sh('ip', ['link', 'set', peer, 'netns', node.netns]);
  const inNode = (args: string[]) => sh('ip', ['-n', node.netns, ...args]);
  await inNode(['link', 'set', peer, 'name', 'eth0']);
  await inNode(['addr', 'add', `${node.ip}/${network.prefixLength}`, 'dev', 'eth0']);
  await inNode(['link', 'set', 'lo', 'up']);
  await inNode(['link', 'set', 'eth0', 'up']);
  await inNode(['route', 'add', 'default', 'via', network.gateway]);
  // What a Kubernetes node is provisioned with (kind's node image sets the same): it routes
  // between its interfaces, and replies may come back on another interface than requests left.
  for (const setting of nodeSysctls) {
    await sh('nsenter', [`--net=/run/netns/${node.netns}`, 'sysctl', '-qw', setting]);
  }
}

export const nodeSysctls = [
  'net.ipv4.ip_forward=1',
  'net.ipv4.conf.all.rp_filter=2',
  'net.ipv4.conf.default.rp_filter=2',
];

export interface NodeFiles {
  caCert: string;
  kubeletKubeconfig: string;
  kubeProxyKubeconfig: string;
  servingCert: string;
  servingKey: string;
}

export interface NodeCommand {
  name: string;
  binary: string;
  args: string[];
}

/** Writes the node's configuration files and returns the three commands that make it a node. */
export async function prepareNode(
  node: NodeIdentity,
  files: NodeFiles,
  binaries: { containerd: string; kubelet: string; kubeProxy: string },
  clusterCIDR: string,
): Promise<NodeCommand[]> {
  const etc = path.join(node.dir, 'etc');
  await mkdir(etc, { recursive: true });
  const containerdToml = path.join(etc, 'containerd.toml');
  await writeFile(containerdToml, containerdConfig());
  const resolvConf = path.join(etc, 'resolv.conf');
  // Pods use the cluster DNS; host-network ones have nothing outside this machine to ask.
  await writeFile(resolvConf, 'nameserver 127.0.0.53\noptions ndots:1\n');
  const kubeletYaml = path.join(etc, 'kubelet.yaml');
  await writeFile(
    kubeletYaml,
    stringify(
      kubeletConfig(node, {
        caCert: files.caCert,
        servingCert: files.servingCert,
        servingKey: files.servingKey,
        resolvConf,
      }),
    ),
  );
  const kubeProxyYaml = path.join(etc, 'kube-proxy.yaml');
  await writeFile(
    kubeProxyYaml,
    stringify(kubeProxyConfig(node, files.kubeProxyKubeconfig, clusterCIDR)),
  );
  return [
    { name: 'containerd', binary: binaries.containerd, args: ['--config', containerdToml] },
    {
      name: 'kubelet',
      binary: binaries.kubelet,
      args: kubeletArgs(node, kubeletYaml, files.kubeletKubeconfig),
    },
    { name: 'kube-proxy', binary: binaries.kubeProxy, args: [`--config=${kubeProxyYaml}`] },
  ];
}

/** Creates the namespaces and cgroups and starts the init; returns the init's pid. */
export async function bootNode(network: NodeNetwork, node: NodeIdentity): Promise<number> {
  await powerOffNode(node);
  // /run is a tmpfs on a real machine: a boot starts with none of the last run's sockets and pid files.
  await rm(hostPathOf(node, '/run'), { recursive: true, force: true });
  await mkdir(node.dir, { recursive: true });
  if (!existsSync(`/run/netns/${node.netns}`)) await createNodeNetns(network, node);
  await createCgroupRoot(node);
  // The loopback plugin: containerd's CRI sets up every sandbox's lo with it.
  const cniBin = path.join(node.dir, 'fs', 'opt_cni', 'bin');
  await mkdir(cniBin, { recursive: true });
  await copyFile('/usr/lib/cni/loopback', path.join(cniBin, 'loopback'));
  const init = spawn(
    'nsenter',
    [
      `--net=/run/netns/${node.netns}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'slave',
      '--',
      'sh',
      '-c',
      nodeInitScript(node),
    ],
    { detached: true, stdio: 'ignore' },
  );
  init.unref();
  if (init.pid === undefined) throw new Error(`could not start the init of node ${node.name}`);
  const ready = path.join(node.dir, 'init.ready');
  const deadline = Date.now() + 15_000;
  while (!existsSync(ready)) {
    if (!isAlive(init.pid)) throw new Error(`the init of node ${node.name} exited during set-up`);
    if (Date.now() > deadline) throw new Error(`node ${node.name} init not ready after 15s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return init.pid;
}

/** A command line that runs inside the node (its mount and network namespaces). */
export function inNode(initPid: number, binary: string, args: string[]): [string, string[]] {
  return ['nsenter', ['--target', String(initPid), '--mount', '--net', '--', binary, ...args]];
}

/** The node's containerd socket as the host sees it (through the bind source of /run). */
export function hostContainerdSocket(node: NodeIdentity): string {
  return hostPathOf(node, containerdSocket);
}

export async function waitForFile(file: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${file} missing after ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Imports image archives into the node's containerd, where the kubelet's CRI looks (namespace k8s.io). */
export async function importImages(node: NodeIdentity, archives: readonly string[]): Promise<void> {
  const socket = hostContainerdSocket(node);
  for (const archive of archives) {
    await sh('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive]);
  }
}
