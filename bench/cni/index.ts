/**
 * Pod network setup benchmark: time from CNI ADD to the first packet (a ping
 * reply from the pod subnet gateway) for N pods, sequentially and 20 at a
 * time, for
 *   - ours: the plugin executable, as the image ships it (one esbuild bundle) and
 *     under tsx (TypeScript compiled at start-up) → CNI server
 *     → veth + OVS port + endpoint file,
 *   - ours, server only: the same request sent straight to the CNI server
 *     socket, which shows what the plugin's process start-up costs,
 *   - reference: Debian's `bridge` + `host-local` plugins (Go), same subnet,
 *     pool, MTU and pod namespaces.
 * Prints p50/p99 per variant and the ratios to the reference. Needs root,
 * openvswitch-switch, containernetworking-plugins, iputils-ping.
 *
 * Run: `npx tsx bench/cni/index.ts [--smoke]`, or import run().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundle } from '../../scripts/bundle.ts';
import { pathToFileURL } from 'node:url';
import { callServer } from '../../agents/cni/client.ts';
import { ProtocolVersion } from '../../agents/host/cniserver/protocol.ts';
import type { CniRequest } from '../../agents/host/cniserver/protocol.ts';
import { run as exec } from '../../agents/host/netconf/exec.ts';
import {
  invokePlugin,
  k8sArgs,
  startCniTestBed,
  testSubnets,
} from '../../agents/host/testing/harness.ts';
import type { CniTestBed, PluginRun } from '../../agents/host/testing/harness.ts';
import { startReferenceNetwork } from '../../agents/host/testing/reference.ts';
import type { ReferenceNetwork } from '../../agents/host/testing/reference.ts';

const Chunks = ['10.123.0.0/24', 'fd00:123::/120'];
const Gateway = '10.123.0.1';
const Mtu = 1450;

type Variant =
  | 'ours (plugin, bundled)'
  | 'ours (plugin under tsx)'
  | 'ours (server only)'
  | 'reference bridge+host-local';
const Variants: readonly Variant[] = [
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

interface Sample {
  readonly variant: Variant;
  readonly mode: string;
  readonly ms: readonly number[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
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

function ensureOk(r: PluginRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
}

class Runner {
  private seq = 0;
  constructor(
    private readonly bed: CniTestBed,
    private readonly ref: ReferenceNetwork,
    /** The single-file plugin the image installs (scripts/bundle.ts). */
    private readonly bundle: string,
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

  /** ADD → first packet for each pod, `limit` at a time; namespaces are made before and removed after the clock. */
  async measure(variant: Variant, n: number, limit: number): Promise<number[]> {
    const pods = await this.pods(n, variant.startsWith('ref') ? 'r' : 'o');
    const ms: number[] = [];
    await pool(pods, limit, async (pod) => {
      const t0 = process.hrtime.bigint();
      await this.add(variant, pod);
      await firstPacket(pod.netnsName);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    await pool(pods, limit, (pod) => this.del(variant, pod));
    return ms.sort((a, b) => a - b);
  }
}

function report(samples: readonly Sample[]): void {
  const fmt = (x: number): string => x.toFixed(1).padStart(9);
  console.log(
    `\n${'variant'.padEnd(30)}${'mode'.padEnd(16)}${'pods'.padStart(6)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`,
  );
  for (const s of samples) {
    console.log(
      `${s.variant.padEnd(30)}${s.mode.padEnd(16)}${String(s.ms.length).padStart(6)}${fmt(percentile(s.ms, 50))}${fmt(percentile(s.ms, 99))}`,
    );
  }
  console.log('\nratio to the reference (higher is slower):');
  for (const mode of new Set(samples.map((s) => s.mode))) {
    const ref = samples.find((s) => s.mode === mode && s.variant === 'reference bridge+host-local');
    if (!ref) continue;
    for (const s of samples.filter((x) => x.mode === mode && x !== ref)) {
      const r50 = percentile(s.ms, 50) / percentile(ref.ms, 50);
      const r99 = percentile(s.ms, 99) / percentile(ref.ms, 99);
      console.log(
        `  ${mode.padEnd(16)}${s.variant.padEnd(30)} p50 ×${r50.toFixed(2)}  p99 ×${r99.toFixed(2)}`,
      );
    }
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
    const runner = new Runner(bed, ref, path.join(dist, 'aci-containers-cni.mjs'));
    // Warm-up: tsx's transform cache, ARP tables of the gateways, page cache of the Go binaries.
    for (const v of Variants) await runner.measure(v, 1, 1);
    const samples: Sample[] = [];
    for (const [mode, limit] of [
      ['sequential', 1],
      [`${concurrency} concurrent`, concurrency],
    ] as const) {
      for (const variant of Variants) {
        const ms = await runner.measure(variant, n, limit);
        samples.push({ variant, mode, ms });
        console.log(`measured ${variant}, ${mode}: ${n} pods`);
      }
    }
    console.log(
      `\nCNI ADD to first packet (ping of the gateway from the new pod netns), ${n} pods${opts.smoke ? ' (smoke)' : ''}`,
    );
    report(samples);
  } finally {
    await ref?.close();
    await bed.close();
    for (const dir of cleanupDirs) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run({ smoke: process.argv.includes('--smoke') });
}
