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
import { compileNetworkPolicies, podKey } from '../../lib/policy/network-policy.ts';
import { ofctl } from '../../agents/openvswitch/ofctl.ts';
import { OvsSupervisor } from '../../agents/openvswitch/supervisor.ts';
import { desiredState } from '../../agents/opflex/diff.ts';
import { Installer } from '../../agents/opflex/install.ts';
import { DataplaneConfig, type Model } from '../../agents/opflex/model.ts';
import { isServiceGroup } from '../../agents/opflex/pipeline.ts';
import { renderPipeline } from '../../agents/opflex/render.ts';
import {
  Cleanup,
  createPodNetns,
  deleteNetns,
  inNetns,
  macFor,
  run as sh,
} from '../../agents/opflex/testkit/netns.ts';
import { TestNode } from '../../agents/opflex/testkit/node.ts';

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

function modelFor(c: Cluster): Model {
  const compiled = compileNetworkPolicies(c);
  return {
    config: DataplaneConfig.parse({
      nodeName: 'bench',
      gateway: { ip: '10.200.255.1', mac: '0a:58:0a:c8:ff:01' },
    }),
    endpoints: c.pods.map((p, i) => ({
      uuid: podKey(p),
      ofport: i + 1,
      mac: macFor(0xc8, i + 1),
      ipv4: [p.status?.podIP ?? ''],
      vlan: 100,
      bridgeDomain: 'bd',
      securityGroups: compiled.podGroups.get(podKey(p)) ?? [],
    })),
    securityGroups: new Map(compiled.groups.map((g) => [g.name, g])),
    services: [],
  };
}

const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;

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

  // Ours, full: compile + render + diff + one bundle onto an empty bridge.
  let t0 = performance.now();
  const model = modelFor(cluster);
  const compileMs = ms(t0);
  const rendered = renderPipeline(model);
  const desired = desiredState('opflex', rendered.flows, rendered.groups);
  const renderMs = ms(t0) - compileMs;
  const full = await installer.apply(desired);
  const fullMs = ms(t0);

  // Ours, one pod added: everything recomputed, only the difference sent.
  const added = {
    ...cluster,
    pods: [
      ...cluster.pods,
      {
        ...cluster.pods[0],
        metadata: { ...cluster.pods[0]?.metadata, name: 'added' },
        status: { podIP: '10.200.250.250' },
      },
    ],
  };
  t0 = performance.now();
  const again = renderPipeline(modelFor(added));
  const update = await installer.apply(desiredState('opflex', again.flows, again.groups));
  const updateMs = ms(t0);

  // Baseline: replace-flows of the same (updated) flow set, text prepared beforehand.
  const file = path.join(dir, 'flows.txt');
  await writeFile(
    file,
    [...desiredState('opflex', again.flows, again.groups).flows.values()].join('\n') + '\n',
  );
  await ofctl(target, ['del-flows']);
  t0 = performance.now();
  await ofctl(target, ['replace-flows', file], { flags: ['--bundle'] });
  const baselineFullMs = ms(t0);
  t0 = performance.now();
  await ofctl(target, ['replace-flows', file], { flags: ['--bundle'] });
  const baselineSteadyMs = ms(t0);

  console.log(
    `policy: ${nPolicies} NetworkPolicies x ${nPods} endpoints -> ${rendered.flows.length} flows`,
  );
  console.log(
    `  (full: compile ${compileMs} ms, render+hash ${Math.round(renderMs)} ms, diff+bundle ${full.ms} ms)`,
  );
  console.log(
    `  full render+install   ${fullMs} ms (${full.flowAdds} adds)  vs replace-flows onto empty ${baselineFullMs} ms  ratio ${(fullMs / baselineFullMs).toFixed(2)}`,
  );
  console.log(
    `  one-pod-add update    ${updateMs} ms (${update.flowAdds} adds, ${update.flowDeletes} deletes)  vs replace-flows of the full set ${baselineSteadyMs} ms  ratio ${(updateMs / baselineSteadyMs).toFixed(2)}`,
  );
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
  const ovsGbps = await iperf(a.netns, b.netns, b.ip, svcIp, seconds);

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
  console.log(`throughput: iperf3 TCP ${seconds}s`);
  console.log(
    `  OVS userspace (policy + ClusterIP)  ${ovsGbps.toFixed(2)} Gbit/s  vs Linux bridge ${linuxGbps.toFixed(2)} Gbit/s  ratio ${(ovsGbps / linuxGbps).toFixed(2)}`,
  );
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
