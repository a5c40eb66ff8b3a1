/**
 * NetworkPolicy conformance with real packets: the upstream netpol model
 * (x/y/z × a/b/c, TCP+UDP on 80 and 81) as network namespaces on one OVS
 * node; each case is compiled by lib/policy, written as contract files,
 * rendered by the agent, and probed pair by pair. The expected truth table
 * comes from the independent reference model in e2e/support/opflex/netpol-model.ts.
 */
import test from 'ava';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { compileNetworkPolicies } from '../../lib/policy/network-policy.ts';
import { folders } from './agent.ts';
import { appendFile } from 'node:fs/promises';
import {
  Cleanup,
  PodAgent,
  type ProbeSpec,
  inNetns,
  macFor,
  run,
} from '../../e2e/support/opflex/netns.ts';
import { vswitchdCtlPath } from '../openvswitch/supervisor.ts';
import {
  NetpolCases,
  Ports,
  Protocols,
  k8sNamespace,
  k8sPod,
  modelPods,
  referenceAllowed,
  Namespaces,
  type ModelPod,
} from '../../e2e/support/opflex/netpol-model.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';

const Prefix = '10.131';
const Tag = `np${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let node: TestNode;
const pods: { model: ModelPod; pod: TestPod; agent: PodAgent }[] = [];
let passed = 0;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-conformance-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: `${Prefix}.0.1`,
    gatewayMac: '0a:58:0a:83:00:01',
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  const models = modelPods(Prefix);
  await Promise.all(
    models.map(async (m, i) => {
      const pod = await node.addPod({
        uuid: `${m.namespace}-${m.name}`,
        namespace: m.namespace,
        name: m.name,
        netns: `${Tag}-${m.namespace}-${m.name}`,
        hostIf: `${Tag}${m.namespace}${m.name}`,
        ip: m.ip,
        prefixLen: 16,
        mac: macFor(0x83, i + 1),
        gateway: `${Prefix}.0.1`,
      });
      const agent = await PodAgent.start(
        pod.netns,
        path.join(dir, `${m.namespace}-${m.name}.sock`),
        m.ip,
        [...Ports],
        [...Ports],
      );
      cleanup.add(() => agent.stop());
      pods.push({ model: m, pod, agent });
    }),
  );
  await node.agent.settled();
});

test.after.always(async () => {
  console.log(`NetworkPolicy conformance: ${passed}/${NetpolCases.length} cases passed`);
  await cleanup.run();
});

async function applyPolicies(c: (typeof NetpolCases)[number]): Promise<void> {
  const compiled = compileNetworkPolicies({
    policies: c.policies(Prefix),
    pods: pods.map((p) => k8sPod(p.model)),
    namespaces: Namespaces.map(k8sNamespace),
  });
  const sgDir = folders(node.stateDir).securityGroups;
  const keep = new Set(compiled.groups.map((g) => `${g.name}.sg`));
  for (const f of await readdir(sgDir))
    if (!keep.has(f)) await rm(path.join(sgDir, f), { force: true });
  for (const g of compiled.groups) await node.writeSecurityGroup(g);
  for (const p of pods) {
    p.pod.securityGroups = compiled.podGroups.get(`${p.model.namespace}/${p.model.name}`) ?? [];
    await node.writeEndpoint(p.pod);
  }
  await node.agent.settled();
  await node.flushConntrack();
}

const diagLog = path.join(os.tmpdir(), `np-diag-${process.pid}.log`);

/**
 * Evidence for a probe that differs from the reference, appended to
 * `diagLog`: neighbours, OpenFlow tables, conntrack, datapath flows, a trace
 * of the probe's first packet, and whether it passes after a
 * revalidator/wait and after a revalidator/purge (a stale datapath flow
 * survives the first and not the second).
 */
async function diagnose(
  name: string,
  client: (typeof pods)[number],
  server: ModelPod,
  probe: ProbeSpec,
): Promise<void> {
  const ctl = vswitchdCtlPath(node.ovsDir);
  const srv = pods.find((p) => p.model === server);
  const safe = async (f: () => Promise<string>): Promise<string> => {
    try {
      return await f();
    } catch (e) {
      return String(e);
    }
  };
  const parts = [
    `==== ${new Date().toISOString()} ${name}: ${client.model.namespace}/${client.model.name} -> ${server.namespace}/${server.name} ${probe.proto}/${probe.port}`,
    `client hostIf=${client.pod.hostIf} mac=${client.pod.mac} server hostIf=${srv?.pod.hostIf} mac=${srv?.pod.mac}`,
    '--- client ip neigh',
    await safe(() => inNetns(client.pod.netns, 'ip', ['neigh', 'show'])),
    '--- client ip -s link',
    await safe(() => inNetns(client.pod.netns, 'ip', ['-s', 'link', 'show', 'eth0'])),
    '--- server ip neigh',
    await safe(() => inNetns(srv!.pod.netns, 'ip', ['neigh', 'show'])),
    '--- ports',
    await safe(() =>
      run('ovs-ofctl', [
        '-O',
        'OpenFlow15',
        'show',
        `unix:${node.ovsDir}/${node.opts.bridge}.mgmt`,
      ]),
    ),
    '--- dump-flows',
    await safe(() =>
      run('ovs-ofctl', [
        '-O',
        'OpenFlow15',
        '--names',
        'dump-flows',
        `unix:${node.ovsDir}/${node.opts.bridge}.mgmt`,
      ]),
    ),
    '--- dump-conntrack',
    await safe(() => run('ovs-appctl', ['-t', ctl, 'dpctl/dump-conntrack', '-s'])),
    '--- dpctl/dump-flows',
    await safe(() => run('ovs-appctl', ['-t', ctl, 'dpctl/dump-flows'])),
    '--- trace',
    await safe(() =>
      run('ovs-appctl', [
        '-t',
        ctl,
        'ofproto/trace',
        node.opts.bridge,
        `in_port=${client.pod.hostIf},${probe.proto},dl_src=${client.pod.mac},dl_dst=${srv?.pod.mac},nw_src=${client.model.ip},nw_dst=${server.ip},tp_src=40000,tp_dst=${probe.port}${probe.proto === 'tcp' ? ',tcp_flags=0x002' : ''}`,
        '--ct-next',
        'trk,new',
        '--ct-next',
        'trk,new',
      ]),
    ),
    '--- upcall/show',
    await safe(() => run('ovs-appctl', ['-t', ctl, 'upcall/show'])),
    '--- revalidator/wait, then the datapath flows between the pair',
    await safe(async () => {
      await run('ovs-appctl', ['-t', ctl, 'revalidator/wait']);
      const out = await run('ovs-appctl', ['-t', ctl, 'dpctl/dump-flows']);
      return out
        .split('\n')
        .filter((l) => l.includes(`src=${client.model.ip},dst=${server.ip}`))
        .join('\n');
    }),
    '--- reprobe after the wait',
    String(await client.agent.probe([probe], 5000)),
    '--- revalidator/purge, reprobe',
    await safe(async () => {
      await run('ovs-appctl', ['-t', ctl, 'revalidator/purge']);
      return String(await client.agent.probe([probe], 5000));
    }),
  ];
  await appendFile(diagLog, parts.join('\n') + '\n');
}

interface Mismatch {
  from: string;
  to: string;
  port: number;
  proto: string;
  expected: boolean;
  actual: boolean;
}

async function probeMatrix(c: (typeof NetpolCases)[number]): Promise<Mismatch[]> {
  const policies = c.policies(Prefix);
  const mismatches: Mismatch[] = [];
  await Promise.all(
    pods.map(async (client) => {
      const targets: { server: ModelPod; probe: ProbeSpec; proto: (typeof Protocols)[number] }[] =
        [];
      for (const server of pods) {
        if (server === client) continue; // upstream ignores loopback
        for (const port of Ports)
          for (const proto of Protocols)
            targets.push({
              server: server.model,
              proto,
              probe: { ip: server.model.ip, port, proto: proto === 'TCP' ? 'tcp' : 'udp' },
            });
      }
      const results = await client.agent.probe(
        targets.map((t) => t.probe),
        // Long enough for one TCP SYN retransmission (1 s) on a loaded machine.
        2500,
      );
      for (const [i, t] of targets.entries()) {
        const expected = referenceAllowed(policies, client.model, t.server, t.probe.port, t.proto);
        let actual = results[i] ?? false;
        // 288 simultaneous first packets all take the userspace slow path; on a loaded machine an
        // allowed one can miss its deadline. Ask once more, alone: a real deny fails again, and a
        // connection that got through is never retried, so no leak is ever hidden.
        if (expected && !actual) [actual = false] = await client.agent.probe([t.probe], 5000);
        if (actual !== expected)
          await diagnose(c.name, client, t.server, t.probe).catch(() => undefined);
        if (actual !== expected) {
          mismatches.push({
            from: `${client.model.namespace}/${client.model.name}`,
            to: `${t.server.namespace}/${t.server.name}`,
            port: t.probe.port,
            proto: t.proto,
            expected,
            actual,
          });
        }
      }
    }),
  );
  return mismatches;
}

for (const c of NetpolCases) {
  test.serial(c.name, async (t) => {
    await applyPolicies(c);
    const mismatches = await probeMatrix(c);
    t.deepEqual(
      mismatches,
      [],
      `${mismatches.length} of ${pods.length * (pods.length - 1) * 4} probes differ from the reference` +
        (mismatches.length > 0 ? ` (node state at each mismatch: ${diagLog})` : ''),
    );
    if (mismatches.length === 0) passed++;
  });
}
