/**
 * OpFlex benchmark: how fast an ACI contract change reaches the data plane.
 * Needs root and openvswitch-switch.
 *
 * Two simulated nodes behind the leaf (e2e/support/opflex/two-nodes.ts),
 * each with its own OVS and opflex agent started from agent.json with an
 * `opflex` section; the leaf's OpFlex server reads an in-process APIC
 * simulator. EPG A consumes contract `web` from B; each node has a pod of
 * both. One change is a REST POST of the filter entry with a new port; it
 * is done when both nodes' switches hold the rule for the new port (REST →
 * APIC → leaf's remap → policy_update → each agent's resolve, render,
 * diff, bundle). 100 changes (smoke: 10), p50 and p99.
 *
 * Baseline, in the same run: the same change as one `ovs-ofctl bundle`
 * (delete the old rule, add the new one) on both switches at once, text
 * prepared beforehand: the floor of any agent that installs through
 * ovs-ofctl.
 *
 * Second: an agent starting with a large policy, 1,000 EPGs and 5,000
 * contracts (smoke: 100 and 500), 100 local pods in 100 of the EPGs:
 * resolution of the whole store, render, diff and one bundle onto an empty
 * switch, against `ovs-ofctl --bundle replace-flows` of the same flows onto
 * an empty switch (text prepared beforehand).
 *
 * Run: `npx tsx bench/opflex/index.ts [--smoke]`, or import run().
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type { Mo } from '../../agents/controller/apic/mo.ts';
import { type OfTarget, bundle, ofctl } from '../../agents/openvswitch/ofctl.ts';
import { OvsSupervisor } from '../../agents/openvswitch/supervisor.ts';
import { desiredState } from '../../agents/opflex/diff.ts';
import { Installer } from '../../agents/opflex/install.ts';
import { DataplaneConfig, type Model } from '../../agents/opflex/model.ts';
import { isServiceGroup } from '../../agents/opflex/pipeline.ts';
import { epgUri } from '../../agents/opflex/policy/contract-model.ts';
import { resolveContracts } from '../../agents/opflex/policy/resolve.ts';
import { renderPipeline } from '../../agents/opflex/render.ts';
import { generateServerPki } from '../../e2e/apic-simulator/certs.ts';
import { startOpflexLeaf } from '../../e2e/leaf-simulator/opflex/leaf-opflex.ts';
import {
  OpflexDomain as domain,
  connectToLeaf,
  startApicWithTenant,
  tcpEntry,
  webTenantTree,
} from '../../e2e/support/opflex/apic-tenant.ts';
import { Cleanup, deleteNetns, macFor, run as sh } from '../../e2e/support/opflex/netns.ts';
import { type PolicySpec, policyObjects } from '../../e2e/support/opflex/policy-fixture.ts';
import { startTwoNodes } from '../../e2e/support/opflex/two-nodes.ts';
import { SampleTimeout, Samples, results } from '../report.ts';

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const Tag = `bo${process.pid % 1000}`;
const Prefix = '10.137';
const password = 'noir0123-bench';
const EntryDn = 'uni/tn-kube/flt-web/e-tcp';
const ChangeTimeoutMs = 15_000;

const entry = (port: number): Mo => tcpEntry('tcp', String(port));

/** EPG A consumes `web` (one TCP port, changed by the benchmark) from B. */
const tenantTree = (): Mo =>
  webTenantTree({
    subnet: `${Prefix}.0.1/16`,
    filter: { name: 'web', entries: [entry(20000)] },
    epgs: ['A', 'B'],
  });

/** Whether the switch holds the contract rule for TCP `port` (the classifier's exact match). */
async function holdsRule(target: OfTarget, port: number): Promise<boolean> {
  const flows = await ofctl(target, ['dump-flows', '--no-stats']);
  // ovs-ofctl prints the match in its own order: `tcp,reg6=…,reg7=…,tp_dst=<port> actions=…`.
  return new RegExp(`reg6=\\S*tp_dst=${port}[ ,]`).test(flows);
}

async function untilBoth(targets: OfTarget[], port: number): Promise<void> {
  const start = performance.now();
  const pending = new Set(targets);
  while (pending.size > 0) {
    for (const t of [...pending]) if (await holdsRule(t, port)) pending.delete(t);
    if (pending.size === 0) return;
    if (performance.now() - start > ChangeTimeoutMs)
      throw new SampleTimeout(`rule for port ${port} on ${pending.size} node(s)`, ChangeTimeoutMs);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** nEpgs EPGs; contract j (TCP 1000 + j) provided by EPG j and consumed by EPG 7j + 1 (mod nEpgs). */
function scaleSpec(nEpgs: number, nContracts: number): PolicySpec {
  const provides = new Map<number, string[]>();
  const consumes = new Map<number, string[]>();
  const push = (m: Map<number, string[]>, k: number, v: string) =>
    m.set(k, [...(m.get(k) ?? []), v]);
  for (let j = 0; j < nContracts; j++) {
    push(provides, j % nEpgs, `c${j}`);
    push(consumes, (7 * j + 1) % nEpgs, `c${j}`);
  }
  return {
    epgs: Array.from({ length: nEpgs }, (_, i) => ({
      name: `e${i}`,
      classId: 0x4000 + i,
      provides: provides.get(i) ?? [],
      consumes: consumes.get(i) ?? [],
    })),
    contracts: Array.from({ length: nContracts }, (_, j) => ({
      name: `c${j}`,
      subjects: [
        {
          name: 's',
          rules: [
            {
              name: 'r',
              direction: 'in' as const,
              classifiers: [
                { name: 'k', etherT: 0x0800, prot: 6, dFromPort: 1000 + j, dToPort: 1000 + j },
              ],
            },
          ],
        },
      ],
    })),
  };
}

async function startupBench(smoke: boolean, dir: string, cleanup: Cleanup): Promise<void> {
  const [nEpgs, nContracts, nPods] = smoke ? [100, 500, 100] : [1000, 5000, 100];
  const netns = `${Tag}-start`;
  await sh('ip', ['netns', 'add', netns]);
  cleanup.add(() => deleteNetns(netns));
  const bridge = `br${Tag}s`;
  const sup = new OvsSupervisor({
    dir: path.join(dir, 'ovs-start'),
    bridges: [bridge],
    log,
    netns,
  });
  await sup.start();
  cleanup.add(() => sup.stop());
  const target = sup.target(bridge);
  const objects = policyObjects(scaleSpec(nEpgs, nContracts));
  const local = new Set<string>();
  const endpoints = Array.from({ length: nPods }, (_, i) => {
    const uri = epgUri({ tenant: 'kube', appProfile: 'kubernetes', name: `e${i % nEpgs}` });
    local.add(uri);
    return {
      uuid: `pod${i}`,
      ofport: i + 1,
      mac: macFor(0xc9, i + 1),
      ipv4: [`10.201.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      ipv6: [],
      vlan: 100,
      bridgeDomain: 'bd-vrf',
      securityGroups: [],
      endpointGroup: uri,
    };
  });
  const config = DataplaneConfig.parse({
    nodeName: 'bench',
    gateway: { ip: '10.201.255.1', mac: '0a:58:0a:c9:ff:01' },
  });

  const since = results.mark();
  const t0 = performance.now();
  const contracts = resolveContracts(objects, { localEpgs: local });
  const resolvedAt = performance.now();
  const model: Model = { config, endpoints, securityGroups: new Map(), services: [], contracts };
  const rendered = renderPipeline(model);
  const desired = desiredState('opflex', rendered.flows, rendered.groups);
  const renderedAt = performance.now();
  const installed = await new Installer(target, 'opflex', isServiceGroup, log).apply(desired);
  const oursMs = performance.now() - t0;
  const installMs = performance.now() - renderedAt;

  const file = path.join(dir, 'startup-flows.txt');
  await writeFile(file, [...desired.flows.values()].join('\n') + '\n');
  await ofctl(target, ['del-flows']);
  const t1 = performance.now();
  await ofctl(target, ['replace-flows', file], { flags: ['--bundle'] });
  const baselineMs = performance.now() - t1;
  console.log(
    `opflex start: ${objects.length} policy objects (${nEpgs} EPGs, ${nContracts} contracts), ${nPods} pods -> ` +
      `${rendered.flows.length} flows in ${oursMs.toFixed(0)} ms (resolve ${(resolvedAt - t0).toFixed(0)}, ` +
      `render ${(renderedAt - resolvedAt).toFixed(0)}, install ${installMs.toFixed(0)}); replace-flows ${baselineMs.toFixed(0)} ms`,
  );
  results.row({
    job: `agent start: ${nEpgs} EPGs × ${nContracts} contracts resolved → ${rendered.flows.length} flows`,
    unit: 'ms',
    ours: oursMs,
    baseline: baselineMs,
    baselineName: 'replace-flows of the same flows onto an empty bridge',
    since,
    detail: {
      objects: objects.length,
      rules: contracts.rules.length,
      resolveMs: Math.round(resolvedAt - t0),
      renderMs: Math.round(renderedAt - resolvedAt),
      installMs: Math.round(installMs),
      flowAdds: installed.flowAdds,
    },
  });
}

async function changeBench(smoke: boolean, dir: string, cleanup: Cleanup): Promise<void> {
  const changes = smoke ? 10 : 100;
  const { apic, leafLogin } = await startApicWithTenant(tenantTree(), cleanup, { password });
  const pki = generateServerPki('leaf-opflex');
  const env = await startTwoNodes({ tag: Tag, prefix: Prefix, dir, log, cleanup });
  const vlans = env.files[0]['agent.json'].bridgeDomainVlans as Record<string, number>;
  const leaf = await startOpflexLeaf({
    apic: leafLogin,
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    platform: { domain, encapType: 'vlan' },
    bridgeDomainEncaps: { 'bd-pods': vlans['bd-pods'] ?? 0 },
    log,
  });
  cleanup.add(() => leaf.stop());
  for (const node of [0, 1] as const)
    for (const [host, epg] of [
      [1, 'A'],
      [2, 'B'],
    ] as const) {
      const pod = await env.addPod(node, `${Tag}${epg}${node}`, host);
      pod.endpointGroup = { tenant: 'kube', appProfile: 'kubernetes', name: epg };
      await env.nodes[node].writeEndpoint(pod);
    }
  await env.settle();
  for (const node of env.nodes) await connectToLeaf(node, leaf.port, pki.caPath);
  const targets = env.nodes.map((n) => n.sup.target(n.opts.bridge));
  await untilBoth(targets, 20000);

  // Ours and the floor alternate, so both see the same load on a shared machine.
  const since = results.mark();
  const ours = new Samples();
  const floor = new Samples();
  const cookie = '0xbe0c0de1';
  const line = (port: number) =>
    `flow add cookie=${cookie},table=250,priority=1,tcp,tp_dst=${port},actions=drop`;
  for (const t of targets) await bundle(t, [line(30000)]);
  for (let i = 1; i <= changes; i++) {
    const port = 20000 + i;
    await ours.time(async () => {
      await apic.post(EntryDn, entry(port));
      await untilBoth(targets, port);
    });
    // The floor: the same change as one prepared bundle per switch, both at once.
    const lines = [`flow delete cookie=${cookie}/-1`, line(30000 + i)];
    await floor.time(() => Promise.all(targets.map((t) => bundle(t, lines))));
  }
  for (const t of targets) await bundle(t, [`flow delete cookie=${cookie}/-1`]);

  const flows = (await ofctl(targets[0] as OfTarget, ['dump-flows', '--no-stats'])).split(
    '\n',
  ).length;
  console.log(
    `opflex: ${changes} contract changes by REST; p50 ${ours.percentile(50).toFixed(0)} ms, p99 ${ours
      .percentile(99)
      .toFixed(
        0,
      )} ms; one bundle on both switches p50 ${floor.percentile(50).toFixed(1)} ms; ${flows} flows per node`,
  );
  for (const p of [50, 99])
    results.row({
      job: `contract change on the APIC → flows on both nodes, p${p}`,
      unit: 'ms',
      ours: ours.percentile(p),
      baseline: floor.percentile(p),
      baselineName: 'one prepared ovs-ofctl bundle per node',
      samples: ours,
      baselineSamples: floor,
      since,
      detail: { changes, flowsPerNode: flows, errors: ours.describeErrors() },
    });
}

export async function run(opts: { smoke: boolean }): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-opflex-'));
  const cleanup = new Cleanup();
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  try {
    // Each part tears its nodes down before the next measures.
    const changeCleanup = new Cleanup();
    try {
      await changeBench(opts.smoke, dir, changeCleanup);
    } finally {
      await changeCleanup.run();
    }
    await startupBench(opts.smoke, dir, cleanup);
  } finally {
    await cleanup.run();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.on('error', () => undefined);
  await run({ smoke: process.argv.includes('--smoke') });
}
