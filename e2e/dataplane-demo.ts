/**
 * Data-plane demo: two nodes (each its own ovsdb-server/ovs-vswitchd in a
 * node network namespace) cabled to the simulated ACI leaf, opflex agents and mcast daemons,
 * four pods, a NetworkPolicy and a ClusterIP service. Prints the pipeline,
 * the flows of one node and a ping/TCP matrix before and after the policy.
 *
 *   sudo npx tsx agents/opflex/demo.ts          # run and tear down
 *   sudo npx tsx agents/opflex/demo.ts --hold   # keep it up; Ctrl-C tears down
 *
 * While it holds, look around (paths are printed):
 *   ovs-ofctl -O OpenFlow15 --names dump-flows unix:<ovs dir>/<bridge>.mgmt
 *   ovs-ofctl -O OpenFlow15 dump-groups unix:<ovs dir>/<bridge>.mgmt
 *   ip netns exec dm-a1 ping 10.150.2.1
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { compileNetworkPolicies } from '../lib/policy/network-policy.ts';
import { dumpFlows } from '../agents/openvswitch/ofctl.ts';
import { Tables } from '../agents/opflex/pipeline.ts';
import { Cleanup, PodAgent, inNetns } from './support/opflex/netns.ts';
import type { TestPod } from './support/opflex/node.ts';
import { startTwoNodes } from './support/opflex/two-nodes.ts';

const Prefix = '10.150';
const ServiceIP = '10.96.150.10';
const hold = process.argv.includes('--hold');
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const cleanup = new Cleanup();

async function ping(from: TestPod, to: TestPod): Promise<boolean> {
  return inNetns(from.netns, 'ping', ['-c1', '-W1', to.ip]).then(
    () => true,
    () => false,
  );
}

async function matrix(
  title: string,
  pods: TestPod[],
  agents: Map<string, PodAgent>,
): Promise<void> {
  console.log(`\n${title}  (ping / tcp:80, rows = from)`);
  console.log(['        ', ...pods.map((p) => p.name.padEnd(9))].join(''));
  for (const from of pods) {
    const cells = await Promise.all(
      pods.map(async (to) => {
        if (to === from) return '-'.padEnd(9);
        const [icmp, [tcp]] = await Promise.all([
          ping(from, to),
          agents.get(from.name)?.probe([{ ip: to.ip, port: 80, proto: 'tcp' }], 1000) ?? [false],
        ]);
        return `${icmp ? 'ok' : '--'}/${tcp ? 'ok' : '--'}`.padEnd(9);
      }),
    );
    console.log([from.name.padEnd(8), ...cells].join(''));
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dataplane-demo-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  console.log(
    'Starting two nodes (ovsdb-server + ovs-vswitchd + opflex agent + mcast daemon each)...',
  );
  const fabric = await startTwoNodes({ tag: 'dm', prefix: Prefix, dir, log, cleanup });
  const pods = [
    await fabric.addPod(0, 'a1', 1),
    await fabric.addPod(0, 'b1', 2),
    await fabric.addPod(1, 'a2', 1),
    await fabric.addPod(1, 'b2', 2),
  ];
  const agents = new Map<string, PodAgent>();
  for (const p of pods) {
    const agent = await PodAgent.start(p.netns, path.join(dir, `${p.name}.sock`), p.ip, [80], []);
    cleanup.add(() => agent.stop());
    agents.set(p.name, agent);
  }
  const [a1, b1, a2, b2] = pods as [TestPod, TestPod, TestPod, TestPod];
  // Load balancing is client-side: every node gets every service.
  for (const node of fabric.nodes)
    await node.writeService({
      uuid: 'web',
      namespace: 'default',
      name: 'web',
      frontends: [{ ip: ServiceIP, kind: 'ClusterIP' }],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80 }],
      backends: [a2.ip, b2.ip],
      sessionAffinity: 'None',
      affinityTimeoutSeconds: 10800,
    });
  await fabric.settle();

  console.log('\nPipeline (table id, name, stage):');
  for (const t of Tables)
    console.log(
      `  ${String(t.id).padStart(2)} ${t.name.padEnd(21)} ${t.stage.padEnd(16)} ${t.purpose}`,
    );
  for (const node of fabric.nodes) {
    console.log(
      `\nNode ${node.opts.name}: ovs dir ${node.ovsDir}, bridge ${node.opts.bridge}, state ${node.stateDir}`,
    );
    console.log(
      `  flows installed: ${(await dumpFlows(node.agent.target)).trim().split('\n').length}`,
    );
  }
  console.log(`\nFlows of n2 for pod a2 (${a2.ip}):`);
  const flows = await dumpFlows(fabric.nodes[1].agent.target);
  for (const line of flows
    .split('\n')
    .filter((l) => l.includes(a2.ip) || l.includes(`in_port=${a2.hostIf}`)))
    console.log(`  ${line.trim().replace(/cookie=0x[0-9a-f]+, /, '')}`);

  await matrix('Before policy', pods, agents);

  // NetworkPolicy: pods labelled app=a only accept TCP 80 from pods labelled role=client (b1).
  const k8sPods = pods.map((p) => ({
    metadata: {
      namespace: 'default',
      name: p.name,
      labels: { app: p.name.slice(0, 1), ...(p === b1 ? { role: 'client' } : {}) },
    },
    status: { podIP: p.ip },
  }));
  const compiled = compileNetworkPolicies({
    pods: k8sPods,
    namespaces: [{ metadata: { name: 'default' } }],
    policies: [
      {
        metadata: { namespace: 'default', name: 'a-from-clients' },
        spec: {
          podSelector: { matchLabels: { app: 'a' } },
          ingress: [
            {
              _from: [{ podSelector: { matchLabels: { role: 'client' } } }],
              ports: [{ port: 80 }],
            },
          ],
        },
      },
    ],
  });
  for (const node of fabric.nodes)
    for (const g of compiled.groups) await node.writeSecurityGroup(g);
  for (const [i, p] of pods.entries()) {
    p.securityGroups = compiled.podGroups.get(`default/${p.name}`) ?? [];
    await fabric.nodes[i < 2 ? 0 : 1].writeEndpoint(p);
  }
  await fabric.settle();
  await matrix(
    "After NetworkPolicy 'a-from-clients' (app=a accepts TCP 80 from role=client only)",
    pods,
    agents,
  );

  const viaService = await agents.get('b1')?.probe(
    Array.from({ length: 6 }, () => ({ ip: ServiceIP, port: 80, proto: 'tcp' as const })),
    2000,
  );
  console.log(
    `\nService ${ServiceIP}:80 (backends a2, b2 on n2) from b1 on n1: ${viaService?.filter(Boolean).length}/6 connections succeeded`,
  );
  console.log(
    `a1's ARP table (learned across the leaf):\n${(await inNetns(a1.netns, 'ip', ['neigh'])).trim()}`,
  );

  if (hold) {
    console.log('\nHolding; Ctrl-C tears everything down.');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
}

try {
  await main();
} finally {
  await cleanup.run();
}
