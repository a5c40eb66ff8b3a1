/**
 * A real path off the node: two nodes (each a network namespace with its
 * own OVS, opflex agent and mcast daemon run from the files the host
 * agent's code writes) cabled to a simulated ACI leaf (VLAN encap) by their
 * uplink eth1, which the host agent's code added to the integration bridge.
 * Pods are network namespaces; every check is real packets.
 *
 * The nodes also share a node network (a veth), for the host stacks' return path.
 *
 *   n1: a1, b1 (bd-pods)            n2: a2 (bd-pods), c2 (bd-other, an address of bd-pods' subnet),
 *                                       d2 (bd-other, its own subnet)
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AciRouterMac, writeNodeAgentFiles } from '../host/node-agents.ts';
import { Cleanup, PodAgent, inNetns, run } from '../../e2e/support/opflex/netns.ts';
import type { TestNode, TestPod } from '../../e2e/support/opflex/node.ts';
import { type TwoNodes, startTwoNodes } from '../../e2e/support/opflex/two-nodes.ts';

const Prefix = '10.141';
const OtherPrefix = '10.142';
const Tag = `up${process.pid % 1000}`;
const NodeIP = (i: number): string => `192.168.141.${i + 1}`;
/** This namespace on the node network, and the leaf's L3Out there. */
const NodeRouter = '192.168.141.100';
const NodeLeaf = '192.168.141.254';
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let dir: string;
let fabric: TwoNodes;
const pods: Record<string, { pod: TestPod; agent: PodAgent; node: TestNode }> = {};

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dp-uplink-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  fabric = await startTwoNodes({
    tag: Tag,
    prefix: Prefix,
    otherPrefix: OtherPrefix,
    nodeIPs: (i) => [NodeIP(i)],
    dir,
    log,
    cleanup,
  });
  const specs = [
    { key: 'a1', node: 0, host: 1, bd: 'bd-pods', subnet: Prefix },
    { key: 'b1', node: 0, host: 2, bd: 'bd-pods', subnet: Prefix },
    { key: 'a2', node: 1, host: 1, bd: 'bd-pods', subnet: Prefix },
    { key: 'c2', node: 1, host: 3, bd: 'bd-other', subnet: Prefix },
    { key: 'd2', node: 1, host: 4, bd: 'bd-other', subnet: OtherPrefix },
  ] as const;
  for (const s of specs) {
    const pod = await fabric.addPod(s.node, s.key, s.host, s.bd, s.subnet);
    const agent = await PodAgent.start(
      pod.netns,
      path.join(dir, `${s.key}.sock`),
      pod.ip,
      [80],
      [80],
    );
    cleanup.add(() => agent.stop());
    pods[s.key] = { pod, agent, node: fabric.nodes[s.node] };
  }
  // The node network (the nodes' own addresses, as kubelets and API servers use them): a bridge
  // in this namespace, on which the leaf has its L3Out (it routes pods to and from the nodes).
  const bridge = `${Tag}nb`;
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  cleanup.add(() => run('ip', ['link', 'del', bridge]).then(() => undefined));
  await run('ip', ['addr', 'add', `${NodeRouter}/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);
  for (const [i, n] of fabric.nodes.entries()) {
    const host = `${Tag}nh${i + 1}`;
    const inside = `${Tag}nn${i + 1}`;
    await run('ip', [
      'link',
      'add',
      host,
      'type',
      'veth',
      'peer',
      'name',
      inside,
      'netns',
      n.opts.netns,
    ]);
    cleanup.add(() =>
      run('ip', ['link', 'del', host]).then(
        () => undefined,
        () => undefined,
      ),
    );
    await run('ip', ['link', 'set', host, 'master', bridge, 'up']);
    await run('ip', ['-n', n.opts.netns, 'addr', 'add', `${NodeIP(i)}/24`, 'dev', inside]);
    await run('ip', ['-n', n.opts.netns, 'link', 'set', inside, 'up']);
    // As on a Kubernetes node: forwarding on, reverse-path filter loose (systemd's default).
    await inNetns(n.opts.netns, 'sysctl', [
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=2',
    ]);
  }
  await fabric.leaf.attachExternal({
    bridge,
    hostInterface: `${Tag}l3`,
    address: `${NodeLeaf}/24`,
    router: NodeRouter,
  });
  await fabric.settle();
});

test.after.always(() => cleanup.run());

const get = (key: string): { pod: TestPod; agent: PodAgent; node: TestNode } => {
  const p = pods[key];
  if (!p) throw new Error(`no pod ${key}`);
  return p;
};

/**
 * A few echo requests from a namespace, success if any is answered (the first may wait for ARP
 * across the leaf); ping exits non-zero when none is.
 */
async function pingFrom(netns: string, ip: string): Promise<boolean> {
  return inNetns(netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-w', '3', ip]).then(
    () => true,
    () => false,
  );
}

const ping = (from: string, ip: string): Promise<boolean> => pingFrom(get(from).pod.netns, ip);
const nodePing = (i: number, ip: string): Promise<boolean> =>
  pingFrom(fabric.nodes[i]?.opts.netns ?? '', ip);

const tcp = async (from: string, to: string, timeoutMs = 3000): Promise<boolean> =>
  ((await get(from).agent.probe([{ ip: get(to).pod.ip, port: 80, proto: 'tcp' }], timeoutMs)) ?? [
    false,
  ])[0] === true;

/** A counter of the leaf namespace's IP stack (/proc/net/snmp), e.g. ('Icmp', 'InEchos'). */
async function leafCounter(proto: string, name: string): Promise<number> {
  const lines = (await fabric.leaf.inLeaf('cat', ['/proc/net/snmp'])).split('\n');
  const [header, values] = lines
    .filter((l) => l.startsWith(`${proto}:`))
    .map((l) => l.split(/\s+/));
  const i = header?.indexOf(name) ?? -1;
  return Number(values?.[i] ?? NaN);
}

const neighbors = (key: string): Promise<string> =>
  inNetns(get(key).pod.netns, 'ip', ['neigh', 'show', 'dev', 'eth0']);
const esc = (s: string): string => s.replace(/\./g, '\\.');

test.serial(
  'the host agent’s files give each node the uplink, the encap VLANs and every pod subnet',
  (t) => {
    const agent = fabric.files[0]['agent.json'];
    t.deepEqual(agent.uplink, { port: 'eth1', encap: 'vlan' });
    t.deepEqual(agent.podSubnets, [
      { cidr: `${Prefix}.0.0/16`, gateway: `${Prefix}.0.1` },
      { cidr: `${OtherPrefix}.0.0/16`, gateway: `${OtherPrefix}.0.1` },
    ]);
    t.deepEqual(agent.bridgeDomainVlans, fabric.files[1]['agent.json'].bridgeDomainVlans);
    t.deepEqual(
      fabric.leaf.domains.map((d) => d.vlan).sort(),
      Object.values(agent.bridgeDomainVlans as Record<string, number>).sort(),
    );
  },
);

test.serial('pods on one node reach each other (ping and TCP)', async (t) => {
  t.true(await ping('a1', get('b1').pod.ip));
  t.true(await tcp('a1', 'b1'));
  t.true(await tcp('b1', 'a1'));
});

test.serial(
  'an ARP broadcast crosses the leaf to the other node’s pod in the bridge domain',
  async (t) => {
    for (const k of ['a1', 'a2'])
      await inNetns(get(k).pod.netns, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    t.true(await tcp('a1', 'a2'));
    // a2 learned a1 from a1's broadcast request itself, which the leaf flooded in the BD's VLAN.
    t.regex(
      await neighbors('a2'),
      new RegExp(`${esc(get('a1').pod.ip)} lladdr ${get('a1').pod.mac}`),
    );
    t.regex(
      await neighbors('a1'),
      new RegExp(`${esc(get('a2').pod.ip)} lladdr ${get('a2').pod.mac}`),
    );
  },
);

test.serial(
  'pods on different nodes reach each other through the leaf (ping and TCP, both ways)',
  async (t) => {
    t.true(await ping('a1', get('a2').pod.ip));
    t.true(await ping('a2', get('b1').pod.ip));
    t.true(await tcp('a1', 'a2'));
    t.true(await tcp('a2', 'a1'));
    t.true(await tcp('a2', 'b1'));
    // Full-size frames fit: the tag travels on the uplink, not in the pods' MTU.
    t.true(
      await inNetns(get('a1').pod.netns, 'ping', [
        '-c',
        '1',
        '-W',
        '2',
        '-M',
        'do',
        '-s',
        '1472',
        get('a2').pod.ip,
      ]).then(
        () => true,
        () => false,
      ),
    );
    // The leaf switched them in the bridge domain's VLAN, learning each MAC on its node's port.
    const vlan = (fabric.files[0]['agent.json'].bridgeDomainVlans as Record<string, number>)[
      'bd-pods'
    ];
    const table = await fabric.leaf.macTable();
    const portOf = (mac: string): string | undefined =>
      table.find((e) => e.mac === mac && e.vlan === vlan)?.port;
    t.is(portOf(get('a1').pod.mac), fabric.leaf.attached().find((p) => p.node === 'n1')?.port);
    t.is(portOf(get('a2').pod.mac), fabric.leaf.attached().find((p) => p.node === 'n2')?.port);
  },
);

test.serial('a broadcast does not leave its bridge domain', async (t) => {
  // c2 (bd-other) holds an address of bd-pods' subnet: a1 ARPs for it, flooded in bd-pods' VLAN only.
  t.false(await tcp('a1', 'c2', 1500));
  t.notRegex(await neighbors('c2'), new RegExp(esc(get('a1').pod.ip)));
});

test.serial('the pervasive gateway answers on both nodes, with the router MAC', async (t) => {
  const echos = await leafCounter('Icmp', 'InEchos');
  t.true(await ping('a1', `${Prefix}.0.1`));
  t.true(await ping('a2', `${Prefix}.0.1`));
  t.true(await ping('d2', `${OtherPrefix}.0.1`));
  // ARP for it is answered on the node, the echo by the leaf's SVI (ACI's leaf is the gateway).
  t.true((await leafCounter('Icmp', 'InEchos')) - echos >= 3);
  for (const k of ['a1', 'a2'])
    t.regex(await neighbors(k), new RegExp(`${esc(`${Prefix}.0.1`)} lladdr ${AciRouterMac}`));
});

test.serial(
  'the leaf routes between bridge domains: pods sending to the gateway MAC reach another node’s pod',
  async (t) => {
    const forwarded = await leafCounter('Ip', 'ForwDatagrams');
    t.true(await ping('a1', get('d2').pod.ip));
    t.true(await tcp('a1', 'd2'));
    t.true(await tcp('d2', 'b1'));
    t.true((await leafCounter('Ip', 'ForwDatagrams')) - forwarded >= 4, 'routed by the leaf');
  },
);

test.serial(
  'a pod reaches its own node’s host stack through the gateway port, and back',
  async (t) => {
    t.true(await ping('a1', NodeIP(0)));
    t.true(await ping('a2', NodeIP(1)));
    t.true(await nodePing(0, get('a1').pod.ip));
  },
);

test.serial(
  'a node reaches another node’s pod: proxy-ARPed to the leaf, which routes it; the reply returns through the leaf’s L3Out',
  async (t) => {
    const forwarded = await leafCounter('Ip', 'ForwDatagrams');
    t.true(await nodePing(0, get('a2').pod.ip));
    t.true(await nodePing(1, get('b1').pod.ip));
    t.true((await leafCounter('Ip', 'ForwDatagrams')) - forwarded >= 2, 'routed by the leaf');
    // The leaf never learned its own router MAC on a node port (the host's frames carry the node's MAC).
    t.false((await fabric.leaf.macTable()).some((e) => e.mac === AciRouterMac));
  },
);

test.serial(
  'a rewrite of agent.json applies without a restart: no uplink, then the uplink again',
  async (t) => {
    const dirOf = path.join(dir, 'n1', 'hostconfig');
    const files = fabric.files[0];
    const { uplink: _u, ...withoutUplink } = files['agent.json'];
    await writeNodeAgentFiles(dirOf, { ...files, 'agent.json': withoutUplink });
    const stillThere = fabric.nodes[0].agent;
    const until = async (cond: () => Promise<boolean>): Promise<boolean> => {
      for (let i = 0; i < 50; i++) {
        // Between the old agent's stop and the new one's start the node has no agent, and says so by throwing.
        if (await cond().catch(() => false)) return true;
        await new Promise((r) => setTimeout(r, 200));
      }
      return false;
    };
    t.true(
      await until(async () => fabric.nodes[0].agent !== stillThere),
      'the agent picked up the rewrite',
    );
    await fabric.settle();
    t.false(await tcp('a1', 'a2', 1500), 'without an uplink nothing leaves the node');
    t.true(await tcp('a1', 'b1'), 'local traffic unaffected');
    await writeNodeAgentFiles(dirOf, files);
    const before = fabric.nodes[0].agent;
    t.true(await until(async () => fabric.nodes[0].agent !== before));
    await fabric.settle();
    t.true(await tcp('a1', 'a2'));
  },
);
