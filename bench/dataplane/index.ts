/**
 * Data-plane benchmark. Needs root and openvswitch-switch + iperf3.
 *
 * 1. Policy rendering: N NetworkPolicies over M local endpoints (1,000 ×
 *    1,000; smoke 50 × 50), compiled by lib/policy, rendered and installed
 *    by the agent's installer (diff + one bundle) onto an empty bridge; then
 *    the update latency of adding one pod. The baseline, in the same run:
 *    `ovs-ofctl --bundle replace-flows` of the same flow set (what a
 *    non-incremental agent would do on every change).
 * 2. TCP throughput (iperf3) between two pods through OVS with policy and a
 *    ClusterIP service in the path, against the same two pods on a plain
 *    Linux bridge.
 * Prints each result as a ratio.
 *
 * Run: `npx tsx bench/dataplane/index.ts [--smoke]`, or import run().
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { NetworkPolicyCompiler, podKey } from '../../lib/policy/network-policy.ts';
import { ofctl } from '../../agents/openvswitch/ofctl.ts';
import { OvsSupervisor } from '../../agents/openvswitch/supervisor.ts';
import { CookieMemo, desiredState } from '../../agents/opflex/diff.ts';
import { Installer } from '../../agents/opflex/install.ts';
import type { EndpointFile, SecurityGroupFile } from '../../agents/opflex/files.ts';
import { DataplaneConfig, type FileSet, buildModel } from '../../agents/opflex/model.ts';
import { isServiceGroup } from '../../agents/opflex/pipeline.ts';
import { renderPipeline } from '../../agents/opflex/render.ts';
import { IncrementalRenderer } from '../../agents/opflex/render-incremental.ts';
import {
  Cleanup,
  createPodNetns,
  deleteNetns,
  inNetns,
  macFor,
  run as sh,
} from '../../e2e/support/opflex/netns.ts';
import { TestNode } from '../../e2e/support/opflex/node.ts';
import { results } from '../report.ts';

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const Tag = `bd${process.pid % 1000}`;

// ---- 1. policy rendering ------------------------------------------------------

interface Cluster {
  pods: V1Pod[];
  namespaces: V1Namespace[];
  policies: V1NetworkPolicy[];
}

/** Pods spread over 10 namespaces and 50 apps; each policy admits one app from another app on one port. */
function syntheticCluster(nPods: number, nPolicies: number): Cluster {
  const ip = (i: number): string => `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  const pods: V1Pod[] = Array.from({ length: nPods }, (_, i) => ({
    metadata: { namespace: `ns${i % 10}`, name: `pod${i}`, labels: { app: `app${i % 50}` } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { podIP: ip(i) },
  }));
  const namespaces: V1Namespace[] = Array.from({ length: 10 }, (_, i) => ({
    metadata: { name: `ns${i}`, labels: { team: `t${i % 3}` } },
  }));
  const policies: V1NetworkPolicy[] = Array.from({ length: nPolicies }, (_, i) => ({
    metadata: { namespace: `ns${i % 10}`, name: `policy${i}` },
    spec: {
      podSelector: { matchLabels: { app: `app${i % 50}` } },
      policyTypes: i % 4 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
      ingress: [
        {
          _from: [
            {
              namespaceSelector: { matchLabels: { team: `t${i % 3}` } },
              podSelector: { matchLabels: { app: `app${(i + 1) % 50}` } },
            },
          ],
          ports: [{ port: 80 + (i % 7) }, { port: 'http' }],
        },
      ],
      egress:
        i % 4 === 0
          ? [
              {
                to: [{ ipBlock: { cidr: '10.200.0.0/16', except: [`10.200.${i % 4}.0/24`] } }],
                ports: [{ port: 443 }],
              },
            ]
          : undefined,
    },
  }));
  return { pods, namespaces, policies };
}

const benchConfig = DataplaneConfig.parse({
  nodeName: 'bench',
  gateway: { ip: '10.200.255.1', mac: '0a:58:0a:c8:ff:01' },
});

/**
 * The files the host agent would write for this cluster, as the opflex
 * agent's watcher holds them: the host agent writes only files whose text
 * changed (agents/host/policy/dirsync.ts) and the watcher re-reads only
 * those, so an unchanged file keeps its parsed object.
 */
class NodeFiles {
  private groups = new Map<string, { text: string; file: SecurityGroupFile }>();
  private endpoints = new Map<string, { text: string; file: EndpointFile }>();
  readonly ofports = new Map<string, number>();
  /** As the host agent keeps one (agents/host/agent.ts): a change recompiles the policies it touches. */
  private readonly compiler = new NetworkPolicyCompiler();

  update(c: Cluster): FileSet {
    const compiled = this.compiler.compile(c);
    const groups = new Map<string, { text: string; file: SecurityGroupFile }>();
    for (const g of compiled.groups) {
      const text = JSON.stringify(g);
      const prev = this.groups.get(g.name);
      groups.set(g.name, prev?.text === text ? prev : { text, file: g });
    }
    this.groups = groups;
    const endpoints = new Map<string, { text: string; file: EndpointFile }>();
    c.pods.forEach((p, i) => {
      const uuid = podKey(p);
      const file: EndpointFile = {
        uuid,
        namespace: p.metadata?.namespace ?? '',
        podName: p.metadata?.name ?? '',
        interfaceName: `veth${i + 1}`,
        mac: macFor(0xc8, i + 1),
        ips: [p.status?.podIP ?? ''],
        gateways: ['10.200.255.1'],
        endpointGroup: { tenant: 'bench', appProfile: 'bench', name: 'default' },
        securityGroups: compiled.podGroups.get(uuid) ?? [],
        bridgeDomain: 'bd',
        attributes: {},
      };
      if (!this.ofports.has(file.interfaceName)) this.ofports.set(file.interfaceName, i + 1);
      const text = JSON.stringify(file);
      const prev = this.endpoints.get(uuid);
      endpoints.set(uuid, prev?.text === text ? prev : { text, file });
    });
    this.endpoints = endpoints;
    return {
      endpoints: [...endpoints.values()].map((e) => e.file),
      securityGroups: [...groups.values()].map((g) => g.file),
      services: [],
    };
  }
}

async function policyBench(smoke: boolean, dir: string, cleanup: Cleanup): Promise<void> {
  const [nPolicies, nPods] = smoke ? [50, 50] : [1000, 1000];
  const netns = `${Tag}-pol`;
  await sh('ip', ['netns', 'add', netns]);
  cleanup.add(() => deleteNetns(netns));
  const sup = new OvsSupervisor({
    dir: path.join(dir, 'ovs-pol'),
    bridges: [`br${Tag}p`],
    log,
    netns,
  });
  await sup.start();
  cleanup.add(() => sup.stop());
  const target = sup.target(`br${Tag}p`);
  const installer = new Installer(target, 'opflex', isServiceGroup, log);
  const cluster = syntheticCluster(nPods, nPolicies);

  // As the opflex agent does: one incremental renderer across changes, its delta to the installer.
  const renderer = new IncrementalRenderer('opflex');
  const files = new NodeFiles();
  /** compile (the host agent's part), model + render + cookies + delta, bundle: each timed. */
  const change = async (c: Cluster) => {
    const t = performance.now();
    const fileSet = files.update(c);
    const compiled = performance.now();
    const m = buildModel(benchConfig, fileSet, files.ofports);
    const r = renderer.render(m);
    const renderedAt = performance.now();
    const result = await installer.apply(r);
    const end = performance.now();
    return {
      model: m,
      result,
      compileMs: compiled - t,
      renderMs: renderedAt - compiled,
      installMs: end - renderedAt,
      totalMs: end - t,
    };
  };
  const parts = (x: Awaited<ReturnType<typeof change>>) => ({
    compileMs: Math.round(x.compileMs),
    renderMs: Math.round(x.renderMs),
    diffAndBundleMs: Math.round(x.installMs),
    flowAdds: x.result.flowAdds,
    flowDeletes: x.result.flowDeletes,
  });

  // Ours, full: compile + render + diff + one bundle onto an empty bridge.
  const fullSince = results.mark();
  const first = await change(cluster);
  const rendered = renderPipeline(first.model);
  const fullMs = first.totalMs;

  // Ours, one pod added: everything recomputed, only the difference sent.
  // One pod added, several times in a row (each to the state the last left): the median is the
  // steady cost, the first also pays for code the initial install never ran.
  const rounds = smoke ? 3 : 5;
  const addSince = results.mark();
  const adds: Awaited<ReturnType<typeof change>>[] = [];
  let current = cluster;
  for (let k = 0; k < rounds; k++) {
    current = {
      ...current,
      pods: [
        ...current.pods,
        {
          ...cluster.pods[0],
          metadata: { ...cluster.pods[0]?.metadata, name: `added${k}` },
          status: { podIP: `10.200.250.${250 - k}` },
        },
      ],
    };
    adds.push(await change(current));
  }
  const byTotal = [...adds].sort((a, b) => a.totalMs - b.totalMs);
  const add = byTotal[Math.floor(byTotal.length / 2)] as (typeof adds)[number];
  const updateMs = add.totalMs;
  const firstAddMs = Math.round(adds[0]?.totalMs ?? NaN);
  const flowsOnlyMs = byTotal.map((a) => a.totalMs - a.compileMs).sort((a, b) => a - b);
  const medianFlowsOnlyMs = flowsOnlyMs[Math.floor(flowsOnlyMs.length / 2)] ?? NaN;
  // What the same change costs with a full render and the cookie memo (the previous sync loop), for the detail.
  const memo = new CookieMemo('opflex');
  memo.desired(rendered.flows, rendered.groups);
  let t0 = performance.now();
  const again = renderPipeline(add.model);
  memo.desired(again.flows, again.groups);
  const fullRenderMs = Math.round(performance.now() - t0);

  // The floor of any change sent through ovs-ofctl: one process that changes nothing.
  const floor: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await ofctl(target, ['dump-flows', 'cookie=0x1/-1', '--no-stats']);
    floor.push(performance.now() - t);
  }
  const ofctlFloorMs = Math.round(floor.sort((a, b) => a - b)[2] ?? NaN);

  // Baseline: replace-flows of the same (updated) flow set, text prepared beforehand.
  const file = path.join(dir, 'flows.txt');
  const unmemoized = desiredState('opflex', again.flows, again.groups);
  await writeFile(file, [...unmemoized.flows.values()].join('\n') + '\n');
  await ofctl(target, ['del-flows']);
  t0 = performance.now();
  await ofctl(target, ['replace-flows', file], { flags: ['--bundle'] });
  const baselineFullMs = performance.now() - t0;
  const steady: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    await ofctl(target, ['replace-flows', file], { flags: ['--bundle'] });
    steady.push(performance.now() - t0);
  }
  const baselineSteadyMs = steady.sort((a, b) => a - b)[1] ?? NaN;

  console.log(
    `policy: ${nPolicies} NetworkPolicies x ${nPods} endpoints -> ${rendered.flows.length} flows; ` +
      `one ovs-ofctl process that changes nothing: ${ofctlFloorMs} ms`,
  );
  const atFullSize = !smoke;
  results.row({
    job: `${nPolicies} policies × ${nPods} endpoints → ${rendered.flows.length} flows, full install`,
    unit: 'ms',
    ours: fullMs,
    baseline: baselineFullMs,
    baselineName: 'replace-flows onto an empty bridge',
    ...(atFullSize ? { target: 1.5 } : {}),
    since: fullSince,
    detail: parts(first),
  });
  results.row({
    job: `one pod added to ${nPods} endpoints, policy compile + flows`,
    unit: 'ms',
    ours: updateMs,
    baseline: baselineSteadyMs,
    baselineName: 'replace-flows of the full set',
    ...(atFullSize ? { target: 0.1 } : {}),
    since: addSince,
    detail: { ...parts(add), rounds, ofctlFloorMs, fullRenderMs, firstAddMs },
  });
  results.row({
    job: `one pod added to ${nPods} endpoints, flows only (render, diff, bundle)`,
    unit: 'ms',
    ours: medianFlowsOnlyMs,
    baseline: baselineSteadyMs,
    baselineName: 'replace-flows of the full set',
    ...(atFullSize ? { target: 0.1 } : {}),
    since: addSince,
    detail: { ...parts(add), rounds, ofctlFloorMs, fullRenderMs, firstAddMs },
  });
}

// ---- 2. throughput ------------------------------------------------------------------

async function iperf(
  clientNs: string,
  serverNs: string,
  serverIp: string,
  connectIp: string,
  seconds: number,
): Promise<number> {
  const server = spawn(
    'ip',
    ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-B', serverIp, '-p', '5201'],
    { stdio: 'ignore' },
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await inNetns(clientNs, 'iperf3', [
      '-c',
      connectIp,
      '-p',
      '5201',
      '-t',
      String(seconds),
      '-J',
    ]);
    const bps = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end
      .sum_received.bits_per_second;
    return bps / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

async function throughputBench(smoke: boolean, dir: string, cleanup: Cleanup): Promise<void> {
  const seconds = smoke ? 1 : 5;
  const prefix = '10.201';
  const svcIp = '10.96.201.10';
  const node = new TestNode({
    name: 'bench',
    netns: `${Tag}-ovs`,
    dir: path.join(dir, 'ovs-tp'),
    bridge: `br${Tag}t`,
    gatewayIp: `${prefix}.0.1`,
    gatewayMac: '0a:58:0a:c9:00:01',
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  const a = await node.addPod({
    uuid: 'a',
    namespace: 'bench',
    name: 'a',
    netns: `${Tag}-oa`,
    hostIf: `${Tag}oa`,
    ip: `${prefix}.1.1`,
    prefixLen: 16,
    mac: macFor(0xc9, 1),
    gateway: `${prefix}.0.1`,
  });
  const b = await node.addPod({
    uuid: 'b',
    namespace: 'bench',
    name: 'b',
    netns: `${Tag}-ob`,
    hostIf: `${Tag}ob`,
    ip: `${prefix}.1.2`,
    prefixLen: 16,
    mac: macFor(0xc9, 2),
    gateway: `${prefix}.0.1`,
  });
  await node.writeSecurityGroup({
    name: 'b-from-a',
    isolates: ['ingress'],
    rules: [
      {
        direction: 'ingress',
        protocol: 'TCP',
        ports: [{ from: 5201, to: 5201 }],
        remotes: [{ cidr: `${a.ip}/32`, except: [] }],
      },
    ],
  });
  b.securityGroups = ['b-from-a'];
  await node.writeEndpoint(b);
  await node.writeService({
    uuid: 'iperf',
    namespace: 'bench',
    name: 'iperf',
    frontends: [{ ip: svcIp, kind: 'ClusterIP' }],
    ports: [{ name: 'iperf', protocol: 'TCP', port: 5201, targetPort: 5201 }],
    backends: [b.ip],
    sessionAffinity: 'None',
    affinityTimeoutSeconds: 10800,
  });
  await node.agent.settled();
  const since = results.mark();
  const ovsGbps = await iperf(a.netns, b.netns, b.ip, svcIp, seconds);

  // The floor of this switch: the same ovs-vswitchd and datapath, a bridge of its own with one
  // NORMAL flow, two more pods on it (no pipeline, no conntrack, no groups).
  const normalBridge = `br${Tag}n`;
  await sh('ovs-vsctl', [
    `--db=unix:${node.sup.dbSocket}`,
    '--timeout=10',
    'add-br',
    normalBridge,
    '--',
    'set',
    'bridge',
    normalBridge,
    `datapath_type=${node.sup.datapathType}`,
  ]);
  const normalTarget = { rundir: node.ovsDir, bridge: normalBridge };
  await ofctl(normalTarget, ['del-flows']);
  await ofctl(normalTarget, ['add-flow', 'priority=0,actions=NORMAL']);
  const normalPods = [5, 6].map((n) => ({
    netns: `${Tag}-n${n}`,
    hostIf: `${Tag}n${n}`,
    ip: `${prefix}.3.${n}`,
    prefixLen: 16,
    mac: macFor(0xc9, n),
    gateway: `${prefix}.0.1`,
  }));
  for (const p of normalPods) {
    await createPodNetns(p, node.opts.netns);
    cleanup.add(() => deleteNetns(p.netns));
    await sh('ovs-vsctl', [
      `--db=unix:${node.sup.dbSocket}`,
      '--timeout=10',
      'add-port',
      normalBridge,
      p.hostIf,
    ]);
  }
  const [na, nb] = normalPods as [(typeof normalPods)[number], (typeof normalPods)[number]];
  const normalGbps = await iperf(na.netns, nb.netns, nb.ip, nb.ip, seconds);

  // The same two pods on a Linux bridge in its own namespace.
  const brNs = `${Tag}-lbr`;
  await sh('ip', ['netns', 'add', brNs]);
  cleanup.add(() => deleteNetns(brNs));
  await sh('ip', ['-n', brNs, 'link', 'add', 'br0', 'type', 'bridge']);
  await sh('ip', ['-n', brNs, 'link', 'set', 'br0', 'up']);
  const pods = [
    {
      netns: `${Tag}-la`,
      hostIf: `${Tag}la`,
      ip: `${prefix}.2.1`,
      prefixLen: 16,
      mac: macFor(0xc9, 3),
      gateway: `${prefix}.0.1`,
    },
    {
      netns: `${Tag}-lb`,
      hostIf: `${Tag}lb`,
      ip: `${prefix}.2.2`,
      prefixLen: 16,
      mac: macFor(0xc9, 4),
      gateway: `${prefix}.0.1`,
    },
  ];
  for (const p of pods) {
    await createPodNetns(p, brNs);
    cleanup.add(() => deleteNetns(p.netns));
    await sh('ip', ['-n', brNs, 'link', 'set', p.hostIf, 'master', 'br0']);
  }
  const [la, lb] = pods as [(typeof pods)[number], (typeof pods)[number]];
  const linuxGbps = await iperf(la.netns, lb.netns, lb.ip, lb.ip, seconds);
  results.row({
    job: `TCP through OVS with policy and a ClusterIP (iperf3 ${seconds}s)`,
    unit: 'Gbit/s',
    ours: ovsGbps,
    baseline: normalGbps,
    baselineName: `the same Open vSwitch (${node.sup.datapathType} datapath), one NORMAL flow`,
    better: 'higher',
    since,
  });
  results.row({
    job: `TCP through OVS with policy and a ClusterIP (iperf3 ${seconds}s), against a Linux bridge`,
    unit: 'Gbit/s',
    ours: ovsGbps,
    baseline: linuxGbps,
    baselineName: 'Linux bridge',
    better: 'higher',
    since,
  });
}

export async function run(opts: { smoke: boolean }): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-dataplane-'));
  const cleanup = new Cleanup();
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  try {
    await policyBench(opts.smoke, dir, cleanup);
    await throughputBench(opts.smoke, dir, cleanup);
  } finally {
    await cleanup.run();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // A closed pipe (`| head`) must not kill the process before it tears down its namespaces and daemons.
  process.stdout.on('error', () => undefined);
  await run({ smoke: process.argv.includes('--smoke') });
}
