/**
 * ACI contracts on real nodes, configured as a user configures them: the
 * AciFabric names the leaf's OpFlex proxy and its CA (spec.aci.opflex), the
 * operator renders it, each node's host agent writes it into agent.json and
 * each node's opflex agent opens a verified-TLS OpFlex session to the leaf
 * simulator, which serves the APIC simulator's tree. A network engineer
 * writes EPGs A and B and a contract on the APIC by REST; the cluster user
 * maps pods to them with EndpointGroupMappings. Pods a1, b1 on the first
 * node and a2, b2 on the second; A consumes `web` (TCP 8080) from B.
 *
 * Each node enforces the contract between its own pods; what crosses the
 * fabric the leaf polices, as in ACI (docs/dataplane.md): the simulated leaf
 * classifies both ends by the endpoints the nodes declared to it over OpFlex
 * and applies the same contract (e2e/leaf-simulator/opflex/policer.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Mo } from '../../agents/controller/apic/mo.ts';
import { epgUri } from '../../agents/opflex/policy/contract-model.ts';
import { Containers, HostAgentName, Labels, OpenvswitchName } from '../../operator/render/names.ts';
import { stopByState } from '../cluster/cluster.ts';
import { uniqueName } from '../support/cluster.ts';
import {
  type OpflexRealEnvironment,
  startOpflexRealEnvironment,
} from '../support/opflex-real-nodes.ts';
import { repoRoot } from '../support/paths.ts';
import { agnhostPodSpec, podsOf, probe, type PodInfo } from '../support/workloads.ts';

let env: OpflexRealEnvironment;
// A folder of its own: ava runs two real-node files at once, and real-nodes.e2e uses .cluster-real.
const clusterDir =
  process.env.ACI_REAL_CLUSTER_DIR !== undefined
    ? `${process.env.ACI_REAL_CLUSTER_DIR}-opflex`
    : path.join(repoRoot, '.cluster-real-opflex');
const namespace = uniqueName('epg');
type PodName = 'a1' | 'b1' | 'a2' | 'b2';
const placement: Record<PodName, { node: 0 | 1; app: 'a' | 'b' }> = {
  a1: { node: 0, app: 'a' },
  b1: { node: 0, app: 'b' },
  a2: { node: 1, app: 'a' },
  b2: { node: 1, app: 'b' },
};
const pods = {} as Record<PodName, PodInfo>;
const EpgOf = { a: 'A', b: 'B' } as const;

const mo = (cls: string, attributes: Record<string, string>, children: Mo[] = []): Mo =>
  children.length > 0 ? { [cls]: { attributes, children } } : { [cls]: { attributes } };

const tenantDn = () => `uni/tn-${env.names.tenant}`;
const entryDn = () => `${tenantDn()}/flt-web-tcp/e-tcp`;

/** TCP `port` only, as a network engineer edits a filter entry. */
const webEntry = (port: number): Mo =>
  mo('vzEntry', {
    name: 'tcp',
    etherT: 'ip',
    prot: 'tcp',
    dFromPort: String(port),
    dToPort: String(port),
    stateful: 'yes',
  });

/** What the network engineer writes on the APIC: the filter, the contract, EPGs A and B in the pod BD. */
function policyTree(): Mo {
  const epg = (name: string, rel: Mo): Mo =>
    mo('fvAEPg', { name }, [mo('fvRsBd', { tnFvBDName: env.names.podBridgeDomain }), rel]);
  return mo('fvTenant', { name: env.names.tenant }, [
    mo('vzFilter', { name: 'web-tcp' }, [webEntry(8080)]),
    mo('vzBrCP', { name: 'web' }, [
      mo('vzSubj', { name: 's', revFltPorts: 'yes' }, [
        mo('vzRsSubjFiltAtt', { tnVzFilterName: 'web-tcp' }),
      ]),
    ]),
    mo('fvAp', { name: env.names.applicationProfile }, [
      epg('A', mo('fvRsCons', { tnVzBrCPName: 'web' })),
      epg('B', mo('fvRsProv', { tnVzBrCPName: 'web' })),
    ]),
  ]);
}

const mapping = (app: 'a' | 'b') => ({
  apiVersion: 'aci.cni.dev/v1alpha1',
  kind: 'EndpointGroupMapping',
  metadata: { name: `epg-${app}`, namespace },
  spec: {
    podSelector: { matchLabels: { app } },
    endpointGroup: { applicationProfile: env.names.applicationProfile, name: EpgOf[app] },
  },
});

const reach = (from: PodName, to: PodName): Promise<boolean> =>
  probe(env, namespace, from, `${pods[to].ip}:8080`);

/** Probes every pair until the verdicts are `want` or the deadline passes; returns the time taken. */
async function until(want: Partial<Record<`${PodName}>${PodName}`, boolean>>, timeoutMs: number) {
  const start = Date.now();
  let last: Record<string, boolean> = {};
  for (;;) {
    const pairs = Object.keys(want) as `${PodName}>${PodName}`[];
    const got = await Promise.all(
      pairs.map((pair) => {
        const [from, to] = pair.split('>') as [PodName, PodName];
        return reach(from, to);
      }),
    );
    last = Object.fromEntries(pairs.map((p, i) => [p, got[i] ?? false]));
    if (pairs.every((p) => last[p] === want[p])) return Date.now() - start;
    if (Date.now() - start > timeoutMs)
      throw new Error(`wanted ${JSON.stringify(want)}, still ${JSON.stringify(last)}`);
  }
}

test.before(async (t) => {
  t.timeout(30 * 60_000, 'images, cluster, leaf and install (a cold machine builds images first)');
  env = await startOpflexRealEnvironment({ dir: clusterDir, log: (line) => t.log(line) });
  await env.apicClient.post(tenantDn(), policyTree());
  await env.kubectl(['create', 'namespace', namespace]);
  for (const app of ['a', 'b'] as const)
    await env.kubectl(['apply', '-f', '-'], JSON.stringify(mapping(app)));
  for (const [name, at] of Object.entries(placement) as [PodName, (typeof placement)[PodName]][]) {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { app: at.app } },
      spec: {
        ...agnhostPodSpec(env.images.agnhost.ref),
        nodeName: env.cluster.realNodes[at.node]?.name,
      },
    };
    await env.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
  }
  await env.kubectl([
    '-n',
    namespace,
    'wait',
    '--for=condition=Ready',
    'pod',
    '--all',
    '--timeout=300s',
  ]);
  for (const p of await podsOf(env.client, namespace, 'app in (a,b)')) pods[p.name as PodName] = p;
});

test.after.always(async () => {
  if (process.env.ACI_KEEP_CLUSTER !== '1') await stopByState(clusterDir);
});

test.afterEach.always(async (t) => {
  if (!t.passed && env) t.log(await env.cluster.logTails(40));
});

test.serial(
  'an EndpointGroupMapping and an APIC contract decide reachability on each node',
  async (t) => {
    const tookMs = await until(
      { 'a1>b1': true, 'b1>a1': false, 'a2>b2': true, 'b2>a2': false },
      120_000,
    );
    t.log(`contract in force on both nodes ${tookMs} ms after the pods were Ready`);
    // Held, not a passing moment.
    t.deepEqual(
      await Promise.all([
        reach('a1', 'b1'),
        reach('b1', 'a1'),
        reach('a2', 'b2'),
        reach('b2', 'a2'),
      ]),
      [true, false, true, false],
    );
  },
);

test.serial('each opflex agent logs which EPG (class id) its pods are in', async (t) => {
  const hostPods = await componentPods(HostAgentName);
  t.is(hostPods.length, 2);
  const uri = (epg: string) =>
    epgUri({ tenant: env.names.tenant, appProfile: env.names.applicationProfile, name: epg });
  for (const pod of hostPods) {
    const logs = await env.kubectl([
      '-n',
      env.fabric.spec.namespace,
      'logs',
      pod.metadata.name,
      '-c',
      Containers.opflexAgent,
    ]);
    const resolved = logs.split('\n').filter((l) => l.includes('Resolved endpoint groups'));
    t.true(
      resolved.some((l) => l.includes(uri('A')) && l.includes(uri('B'))),
      `${pod.metadata.name}: ${resolved.at(-1) ?? 'no "Resolved endpoint groups" line'}`,
    );
  }
});

test.serial('across the fabric the leaf enforces the same contract, both ways', async (t) => {
  const tookMs = await until(
    { 'a1>b2': true, 'b2>a1': false, 'a2>b1': true, 'b1>a2': false },
    60_000,
  );
  t.log(`contract in force across the fabric after ${tookMs} ms`);
  t.deepEqual(
    await Promise.all([reach('a1', 'b2'), reach('b2', 'a1'), reach('a2', 'b1'), reach('b1', 'a2')]),
    [true, false, true, false],
  );
  // Within an EPG across nodes: allowed (intra-EPG isolation off).
  t.deepEqual(await Promise.all([reach('a1', 'a2'), reach('b2', 'b1')]), [true, true]);
  // The leaf did it: it installed the contract for the endpoints both nodes declared.
  const installs = (await readFile(env.leaf.logFile, 'utf8'))
    .split('\n')
    .filter((l) => l.includes('Installed leaf contract policy'))
    .map((l) => JSON.parse(l) as { endpoints: number; rules: number });
  t.true(
    installs.some((i) => i.endpoints >= 4 && i.rules > 0),
    JSON.stringify(installs.at(-1)),
  );
});

/** The pods of one of the fabric's DaemonSets, by the name label the operator gives them. */
async function componentPods(
  component: string,
): Promise<{ metadata: { name: string }; spec: { nodeName: string } }[]> {
  const list = JSON.parse(
    await env.kubectl([
      '-n',
      env.fabric.spec.namespace,
      'get',
      'pods',
      '-l',
      `${Labels.name}=${component}`,
      '-o',
      'json',
    ]),
  ) as { items: { metadata: { name: string }; spec: { nodeName: string } }[] };
  return list.items;
}

/** `kubectl exec` into the Open vSwitch pod of a node, as the README has a network engineer do. */
async function ovsExec(node: string, args: string[]): Promise<string> {
  const ovsPods = await componentPods(OpenvswitchName);
  const pod = ovsPods.find((p) => p.spec.nodeName === node)?.metadata.name ?? '';
  return env.kubectl(['-n', env.fabric.spec.namespace, 'exec', pod, '--', ...args]);
}

test.serial(
  "the README's trace shows the contract rule that allowed a flow and the drop where none does",
  async (t) => {
    const node = pods.a1.node;
    const ovsDir = '/usr/local/var/run/openvswitch';
    const trace = async (from: PodName, to: PodName): Promise<string> => {
      const mac = (
        await env.kubectl([
          '-n',
          namespace,
          'exec',
          from,
          '--',
          'cat',
          '/sys/class/net/eth0/address',
        ])
      ).trim();
      const port = (
        await ovsExec(node, [
          'ovs-vsctl',
          `--db=unix:${ovsDir}/db.sock`,
          '--bare',
          '--columns=name',
          'find',
          'Interface',
          `external_ids:attached-mac="${mac}"`,
        ])
      ).trim();
      return ovsExec(node, [
        'ovs-appctl',
        '-t',
        `${ovsDir}/ovs-vswitchd.ctl`,
        'ofproto/trace',
        'br-int',
        `tcp,in_port=${port},dl_src=${mac},nw_src=${pods[from].ip},nw_dst=${pods[to].ip},tp_dst=8080`,
        '--ct-next',
        'trk,new',
      ]);
    };
    const allowed = await trace('a1', 'b1');
    const dropped = await trace('b1', 'a1');
    t.log(`a1 -> b1:\n${allowed}\nb1 -> a1:\n${dropped}`);
    // ContractPolicy is the table the one loading the destination class (reg7) goes to.
    const policyTable = (trace: string): string | undefined =>
      /->reg7\n\s*goto_table:(\d+)/.exec(trace)?.[1];
    const lastActions = (trace: string): string | undefined =>
      [...trace.matchAll(/Datapath actions: (.*)/g)].at(-1)?.[1];
    // Allowed by the subject's first rule (8192, doubled) on TCP 8080, from A's class to B's.
    const allowedIn = policyTable(allowed);
    t.truthy(allowedIn);
    t.regex(
      allowed,
      new RegExp(
        `\\n\\s*${allowedIn}\\. tcp,reg6=0x[0-9a-f]+,reg7=0x[0-9a-f]+,tp_dst=8080, priority 16384,`,
      ),
    );
    t.not(lastActions(allowed), 'drop');
    // No contract lets B open connections to A: the table's last row drops it.
    const droppedIn = policyTable(dropped);
    t.is(droppedIn, allowedIn);
    t.regex(
      dropped,
      new RegExp(`\\n\\s*${droppedIn}\\. priority 0, cookie 0x[0-9a-f]+\\n\\s*drop`),
    );
    t.is(lastActions(dropped), 'drop');
  },
);

test.serial(
  'a contract changed through the APIC REST API takes effect on both nodes within seconds',
  async (t) => {
    await env.apicClient.post(entryDn(), webEntry(9090));
    const closedMs = await until({ 'a1>b1': false, 'a2>b2': false, 'a1>b2': false }, 30_000);
    await env.apicClient.post(entryDn(), webEntry(8080));
    const openedMs = await until({ 'a1>b1': true, 'a2>b2': true, 'a1>b2': true }, 30_000);
    t.log(
      `filter entry 8080 -> 9090: dropped after ${closedMs} ms; back to 8080: allowed after ${openedMs} ms`,
    );
    // A dropped probe takes its 2 s timeout; each includes one kubectl exec per pod.
    t.true(closedMs < 20_000 && openedMs < 20_000, `${closedMs} ms / ${openedMs} ms`);
  },
);
