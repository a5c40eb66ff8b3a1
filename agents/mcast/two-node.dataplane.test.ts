/**
 * Two nodes, each with its own ovsdb-server/ovs-vswitchd, cabled by their
 * uplinks to the simulated leaf (VLAN encap). Pods share one /16 and bridge
 * domain across nodes: the first packet between them needs an ARP
 * broadcast, replicated by the mcast daemon's flood group to the uplink and
 * by the leaf to the other node; after that traffic follows the pod-subnet
 * route to the uplink. Policy is enforced on each side.
 *
 * No settle call anywhere: the agents and daemons get their files as
 * production writes them, and every check probes until it holds or a
 * deadline passes, so nothing here can do work production would not do.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Cleanup, PodAgent, inNetns } from '../../e2e/support/opflex/netns.ts';
import type { TestNode, TestPod } from '../../e2e/support/opflex/node.ts';
import { type TwoNodes, startTwoNodes } from '../../e2e/support/opflex/two-nodes.ts';

const Prefix = '10.133';
const Tag = `tn${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let fabric: TwoNodes;
const pods: Record<string, { pod: TestPod; agent: PodAgent; node: TestNode }> = {};

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-two-node-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  fabric = await startTwoNodes({ tag: Tag, prefix: Prefix, dir, log, cleanup });
  const specs = [
    { key: 'a1', node: 0, host: 1, bd: 'bd-pods' },
    { key: 'b1', node: 0, host: 2, bd: 'bd-pods' },
    { key: 'a2', node: 1, host: 1, bd: 'bd-pods' },
    { key: 'c2', node: 1, host: 3, bd: 'bd-other' },
  ] as const;
  for (const s of specs) {
    const pod = await fabric.addPod(s.node, s.key, s.host, s.bd);
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
});

test.after.always(() => cleanup.run());

const get = (key: string): { pod: TestPod; agent: PodAgent; node: TestNode } => {
  const p = pods[key];
  if (!p) throw new Error(`no pod ${key}`);
  return p;
};

const Deadline = 20_000;

/** Repeats `probe` until it answers `want` or the deadline passes; returns the last answer. */
async function eventually<T>(probe: () => Promise<T>, want: T, deadlineMs = Deadline): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const got = await probe();
    if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function neighbors(key: string): Promise<string> {
  return inNetns(get(key).pod.netns, 'ip', ['neigh', 'show', 'dev', 'eth0']);
}

test.serial(
  'an ARP broadcast reaches the other node’s pod in the same bridge domain',
  async (t) => {
    const a1 = get('a1');
    const a2 = get('a2');
    await inNetns(a1.pod.netns, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    await inNetns(a2.pod.netns, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    t.deepEqual(
      await eventually(
        () => a1.agent.probe([{ ip: a2.pod.ip, port: 80, proto: 'tcp' }], 3000),
        [true],
      ),
      [true],
    );
    // a2 learned a1 from a1's broadcast request: the request itself crossed the fabric.
    t.regex(
      await neighbors('a2'),
      new RegExp(`${a1.pod.ip.replace(/\./g, '\\.')} lladdr ${a1.pod.mac}`),
    );
    t.regex(
      await neighbors('a1'),
      new RegExp(`${a2.pod.ip.replace(/\./g, '\\.')} lladdr ${a2.pod.mac}`),
    );
  },
);

test.serial('pods on different nodes reach each other over TCP and UDP both ways', async (t) => {
  const a1 = get('a1');
  const a2 = get('a2');
  const b1 = get('b1');
  t.deepEqual(
    await eventually(
      () =>
        a1.agent.probe(
          [
            { ip: a2.pod.ip, port: 80, proto: 'tcp' },
            { ip: a2.pod.ip, port: 80, proto: 'udp' },
          ],
          3000,
        ),
      [true, true],
    ),
    [true, true],
  );
  t.deepEqual(
    await eventually(
      () =>
        a2.agent.probe(
          [
            { ip: a1.pod.ip, port: 80, proto: 'tcp' },
            { ip: b1.pod.ip, port: 80, proto: 'udp' },
          ],
          3000,
        ),
      [true, true],
    ),
    [true, true],
  );
});

test.serial('a broadcast does not leave its bridge domain', async (t) => {
  // c2 is in another bridge domain: a1's ARP for it is flooded in bd-pods only, so c2 never answers.
  const c2 = get('c2');
  t.deepEqual(await get('a1').agent.probe([{ ip: c2.pod.ip, port: 80, proto: 'tcp' }], 1500), [
    false,
  ]);
  t.notRegex(await neighbors('c2'), new RegExp(get('a1').pod.ip.replace(/\./g, '\\.')));
});

test.serial(
  'policy is enforced across nodes (ingress on the server node, egress on the client node)',
  async (t) => {
    const a1 = get('a1');
    const b1 = get('b1');
    const a2 = get('a2');
    // a2 accepts TCP 80 only from b1.
    await a2.node.writeSecurityGroup({
      name: 'a2-from-b1',
      isolates: ['ingress'],
      rules: [
        {
          direction: 'ingress',
          protocol: 'TCP',
          ports: [{ from: 80, to: 80 }],
          remotes: [{ cidr: `${b1.pod.ip}/32`, except: [] }],
        },
      ],
    });
    a2.pod.securityGroups = ['a2-from-b1'];
    await a2.node.writeEndpoint(a2.pod);
    // b1 may not send UDP anywhere.
    await b1.node.writeSecurityGroup({
      name: 'b1-tcp-only',
      isolates: ['egress'],
      rules: [{ direction: 'egress', protocol: 'TCP', ports: [] }],
    });
    b1.pod.securityGroups = ['b1-tcp-only'];
    await b1.node.writeEndpoint(b1.pod);
    for (const n of fabric.nodes) await n.flushConntrack();
    t.deepEqual(
      await eventually(
        () => a1.agent.probe([{ ip: a2.pod.ip, port: 80, proto: 'tcp' }], 1500),
        [false],
      ),
      [false],
      'a1 -> a2 denied by a2 ingress',
    );
    t.deepEqual(
      await eventually(
        () => b1.agent.probe([{ ip: a2.pod.ip, port: 80, proto: 'udp' }], 1500),
        [false],
      ),
      [false],
      'b1 -> a2 udp denied by b1 egress',
    );
    // Both policies are in force now; the allowed pairs must still pass.
    t.deepEqual(
      await eventually(
        () => b1.agent.probe([{ ip: a2.pod.ip, port: 80, proto: 'tcp' }], 3000),
        [true],
      ),
      [true],
      'b1 -> a2 allowed',
    );
    t.deepEqual(
      await eventually(
        () => a2.agent.probe([{ ip: a1.pod.ip, port: 80, proto: 'tcp' }], 3000),
        [true],
      ),
      [true],
      'a2 -> a1 unaffected',
    );
  },
);
