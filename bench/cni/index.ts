/**
 * Pod network setup benchmark: time from CNI ADD to the first packet (a ping
 * reply from the pod subnet gateway) for N pods, sequentially and 20 at a
 * time, for
 *   - ours: the plugin executable → CNI server → veth + OVS port + endpoint
 *     file, as the native forwarder (agents/cni/native, what cni-install
 *     should put first), as the node plugin bundle (one esbuild file) and
 *     under tsx (TypeScript compiled at start-up),
 *   - ours, server only: the same request sent straight to the CNI server
 *     socket, which shows what the plugin's process start-up costs,
 *   - reference: Debian's `bridge` + `host-local` plugins (Go), same subnet,
 *     pool, MTU and pod namespaces.
 * Prints p50/p99 per variant and the ratios to the reference. Needs root,
 * openvswitch-switch, containernetworking-plugins, iputils-ping.
 *
 * Run: `npx tsx bench/cni/index.ts [--smoke]`, or import run().
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundle } from '../../scripts/bundle.ts';
import { pathToFileURL } from 'node:url';
import { callServer } from '../../agents/cni/client.ts';
import {
  buildNativePlugin,
  FallbackBundleName,
  FallbackNodeName,
} from '../../agents/cni/native/build.ts';
import { ProtocolVersion } from '../../agents/host/cniserver/protocol.ts';
import type { CniRequest } from '../../agents/host/cniserver/protocol.ts';
import { run as exec } from '../../agents/host/netconf/exec.ts';
import { repoRoot } from '../../e2e/support/paths.ts';
import {
  invokePlugin,
  k8sArgs,
  startCniTestBed,
  testSubnets,
} from '../../e2e/support/host/harness.ts';
import type { CniTestBed, PluginRun } from '../../e2e/support/host/harness.ts';
import { startReferenceNetwork } from '../../e2e/support/host/reference.ts';
import type { ReferenceNetwork } from '../../e2e/support/host/reference.ts';
import { results, Samples, type Mark } from '../report.ts';

const Chunks = ['10.123.0.0/24', 'fd00:123::/120'];
const Gateway = '10.123.0.1';
const Mtu = 1450;

type Variant =
  | 'ours (native plugin)'
  | 'ours (plugin, bundled)'
  | 'ours (plugin under tsx)'
  | 'ours (server only)'
  | 'reference bridge+host-local';
const Variants: readonly Variant[] = [
  'ours (native plugin)',
  'ours (plugin, bundled)',
  'ours (plugin under tsx)',
  'ours (server only)',
  'reference bridge+host-local',
];

interface Pod {
  readonly netnsName: string;
  readonly netns: string;
  readonly containerId: string;
}

interface Measured {
  readonly variant: Variant;
  readonly mode: string;
  readonly samples: Samples;
  readonly since: Mark;
}

async function pool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

/** Pings until the first reply: ping resends every 10 ms, for at most 10 s. */
async function firstPacket(netnsName: string): Promise<void> {
  await exec('ip', [
    'netns',
    'exec',
    netnsName,
    'ping',
    '-c',
    '1',
    '-i',
    '0.01',
    '-w',
    '10',
    '-q',
    Gateway,
  ]);
}

/** The runtime's view of a plugin: an executable, the CNI environment only, the config on stdin. */
function runExecutable(
  file: string,
  env: Record<string, string>,
  stdin: string,
  args: readonly string[] = [],
): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, json: undefined }));
    // A plugin may answer (VERSION) and exit before reading stdin: a closed pipe is not a failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

function ensureOk(r: PluginRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
}

class Runner {
  private seq = 0;
  constructor(
    private readonly bed: CniTestBed,
    private readonly ref: ReferenceNetwork,
    /** The single-file node plugin (scripts/bundle.ts). */
    private readonly bundle: string,
    /** The native plugin (agents/cni/native), with the node plugin beside it for its fallback. */
    private readonly native: string,
  ) {}

  async pods(n: number, label: string): Promise<Pod[]> {
    const out: Pod[] = [];
    for (let i = 0; i < n; i++) {
      const k = ++this.seq;
      const ns = await this.bed.netns.create(`b${k}`);
      out.push({
        netnsName: ns.name,
        netns: ns.path,
        containerId: `bench-${this.bed.netns.tag}-${label}-${k}`,
      });
    }
    return out;
  }

  private request(command: 'ADD' | 'DEL', pod: Pod): CniRequest {
    return {
      protocol: ProtocolVersion,
      command,
      containerId: pod.containerId,
      netns: pod.netns,
      ifName: 'eth0',
      args: {
        K8S_POD_NAMESPACE: 'bench',
        K8S_POD_NAME: pod.containerId,
        K8S_POD_UID: `uid-${pod.containerId}`,
      },
      config: { cniVersion: '1.0.0', name: 'aci-containers', type: 'aci-containers-cni' },
    };
  }

  async add(variant: Variant, pod: Pod): Promise<void> {
    switch (variant) {
      case 'ours (native plugin)':
        ensureOk(
          await runExecutable(
            this.native,
            {
              CNI_COMMAND: 'ADD',
              CNI_CONTAINERID: pod.containerId,
              CNI_NETNS: pod.netns,
              CNI_IFNAME: 'eth0',
              CNI_ARGS: k8sArgs('bench', pod.containerId, `uid-${pod.containerId}`),
              CNI_PATH: path.dirname(this.native),
            },
            JSON.stringify(this.bed.config()),
          ),
          'ADD',
        );
        return;
      case 'ours (plugin, bundled)':
      case 'ours (plugin under tsx)':
        ensureOk(
          await invokePlugin({
            ...(variant === 'ours (plugin, bundled)' ? { bundle: this.bundle } : {}),
            command: 'ADD',
            containerId: pod.containerId,
            netns: pod.netns,
            ifName: 'eth0',
            args: k8sArgs('bench', pod.containerId, `uid-${pod.containerId}`),
            config: this.bed.config(),
          }),
          'ADD',
        );
        return;
      case 'ours (server only)': {
        const r = await callServer(this.bed.socketPath, this.request('ADD', pod));
        if ('error' in r) throw new Error(`ADD failed: ${JSON.stringify(r.error)}`);
        return;
      }
      case 'reference bridge+host-local':
        ensureOk(await this.ref.invoke('ADD', pod.containerId, pod.netns), 'reference ADD');
        return;
    }
  }

  async del(variant: Variant, pod: Pod): Promise<void> {
    if (variant === 'reference bridge+host-local') {
      ensureOk(await this.ref.invoke('DEL', pod.containerId, pod.netns), 'reference DEL');
    } else {
      const r = await callServer(this.bed.socketPath, this.request('DEL', pod));
      if ('error' in r) throw new Error(`DEL failed: ${JSON.stringify(r.error)}`);
    }
    await this.bed.netns.remove(pod.netnsName);
  }

  /**
   * ADD → first packet for each pod, `limit` at a time; namespaces are made
   * before and removed after the clock. A failed ADD or a pod without a
   * reply within ping's 10 s is a failed sample, counted, not dropped.
   */
  async measure(variant: Variant, n: number, limit: number): Promise<Samples> {
    const pods = await this.pods(n, variant.startsWith('ref') ? 'r' : 'o');
    const samples = new Samples();
    await pool(pods, limit, (pod) =>
      samples.time(async () => {
        await this.add(variant, pod);
        await firstPacket(pod.netnsName);
      }),
    );
    await pool(pods, limit, (pod) => this.del(variant, pod));
    return samples;
  }
}

const Reference: Variant = 'reference bridge+host-local';

function report(measured: readonly Measured[], smoke: boolean): void {
  for (const mode of new Set(measured.map((m) => m.mode))) {
    const ref = measured.find((m) => m.mode === mode && m.variant === Reference);
    if (!ref) continue;
    for (const m of measured.filter((x) => x.mode === mode && x !== ref)) {
      for (const p of [50, 99]) {
        // The target (p50 and p99 at full size) is for the plugin the runtime starts.
        const target =
          !smoke && p === 50 && m.variant === 'ours (plugin, bundled)' ? 1.5 : undefined;
        results.row({
          job: `CNI ADD → first packet, ${mode}, ${m.variant} p${p}`,
          unit: 'ms',
          ours: m.samples.percentile(p),
          baseline: ref.samples.percentile(p),
          baselineName: Reference,
          ...(target !== undefined ? { target } : {}),
          samples: m.samples,
          baselineSamples: ref.samples,
          since: m.since,
        });
      }
    }
  }
}

/**
 * Process start of each way to ship the plugin: CNI_COMMAND=VERSION with
 * empty stdin, which every candidate answers without the server, against
 * Debian's Go `bridge` plugin doing the same. Run round-robin, so load
 * changes hit every candidate alike. (A Node single-executable application
 * needs postject, not a dependency: measured by hand, docs/performance.md.)
 */
async function startupBench(bin: string, bundleFile: string, rounds: number): Promise<void> {
  const esbuild = path.join(repoRoot, 'node_modules', '.bin', 'esbuild');
  const entry = path.join(bin, 'snapshot-entry.cjs');
  const blob = path.join(bin, 'plugin.blob');
  // A snapshot entry must be one CommonJS script.
  await exec(esbuild, [
    path.join(repoRoot, 'bench/cni/snapshot-entry.ts'),
    '--bundle',
    '--platform=node',
    '--format=cjs',
    '--target=node20',
    '--log-level=warning',
    `--outfile=${entry}`,
  ]);
  await exec(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry]);
  const candidates: Array<[string, string, string[]]> = [
    ['native plugin', path.join(bin, 'aci-containers-cni'), []],
    ['node plugin bundle', process.execPath, [bundleFile]],
    ['node plugin, V8 startup snapshot', process.execPath, ['--snapshot-blob', blob]],
    ['node with an empty script', process.execPath, ['-e', '']],
  ];
  const baseline = ['/usr/lib/cni/bridge', []] as const;
  const samples = new Map(candidates.map(([name]) => [name, new Samples()]));
  const base = new Samples();
  const since = results.mark();
  const version = (file: string, args: readonly string[]) => async () => {
    const r = await runExecutable(file, { CNI_COMMAND: 'VERSION' }, '', args);
    ensureOk(r, `${file} VERSION`);
  };
  for (let i = 0; i < rounds; i++) {
    await base.time(version(...baseline));
    for (const [name, file, args] of candidates) await samples.get(name)?.time(version(file, args));
  }
  for (const [name] of candidates) {
    const s = samples.get(name) as Samples;
    results.row({
      job: `plugin process start (VERSION), ${name}, p50`,
      unit: 'ms',
      ours: s.percentile(50),
      baseline: base.percentile(50),
      baselineName: 'Debian bridge VERSION',
      samples: s,
      baselineSamples: base,
      since,
    });
  }
}

export async function run(opts: { smoke: boolean }): Promise<void> {
  const n = opts.smoke ? 5 : 100;
  const concurrency = 20;
  const bed = await startCniTestBed({ chunks: Chunks, server: { mtu: Mtu } });
  const cleanupDirs: string[] = [];
  let ref: ReferenceNetwork | undefined;
  try {
    ref = await startReferenceNetwork(bed.netns, bed.node.name, testSubnets, Chunks, Mtu);
    const dist = await mkdtemp(path.join(os.tmpdir(), 'bench-cni-bundle-'));
    cleanupDirs.push(dist);
    await bundle({ outDir: dist });
    // As cni-install lays the plugin out: the native one, node and the node plugin beside it.
    const bin = await mkdtemp(path.join(os.tmpdir(), 'bench-cni-bin-'));
    cleanupDirs.push(bin);
    const native = path.join(bin, 'aci-containers-cni');
    await buildNativePlugin(native);
    await copyFile(path.join(dist, FallbackBundleName), path.join(bin, FallbackBundleName));
    await symlink(process.execPath, path.join(bin, FallbackNodeName));
    await startupBench(bin, path.join(dist, FallbackBundleName), opts.smoke ? 5 : 50);
    const runner = new Runner(bed, ref, path.join(dist, FallbackBundleName), native);
    // Warm-up: tsx's transform cache, ARP tables of the gateways, page cache of the Go binaries.
    // The tsx plugin is the development tree's, not what ships, and at full size it took most of
    // a run on the loaded machine (over 20 minutes): the smoke pass keeps it in view.
    const variants = opts.smoke
      ? Variants
      : Variants.filter((v) => v !== 'ours (plugin under tsx)');
    for (const v of variants) await runner.measure(v, 1, 1);
    const measured: Measured[] = [];
    for (const [mode, limit] of [
      ['sequential', 1],
      [`${concurrency} concurrent`, concurrency],
    ] as const) {
      for (const variant of variants) {
        const since = results.mark();
        const samples = await runner.measure(variant, n, limit);
        measured.push({ variant, mode, samples, since });
        console.log(`measured ${variant}, ${mode}: ${n} pods`);
      }
    }
    console.log(
      `\nCNI ADD to first packet (ping of the gateway from the new pod netns), ${n} pods${opts.smoke ? ' (smoke)' : ''}`,
    );
    report(measured, opts.smoke);
  } finally {
    await ref?.close();
    await bed.close();
    for (const dir of cleanupDirs) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run({ smoke: process.argv.includes('--smoke') });
}
