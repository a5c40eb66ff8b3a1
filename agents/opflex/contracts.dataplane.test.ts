/**
 * ACI contracts with real packets on one node: EPGs a (pods a1, a2), b and
 * c; contract `web` lets a consume TCP 80 and UDP 5000-5010 from b; nothing
 * between b and c. The policy arrives as resolved modelgbp objects through
 * the agent's PolicySource (what the OpFlex client's store holds) and is
 * changed at run time the way policy_update changes it.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Cleanup, PodAgent, inNetns, macFor } from '../../e2e/support/opflex/netns.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';
import {
  type ContractSpec,
  type EpgSpec,
  MemoryPolicySource,
  type PolicySpec,
  policyObjects,
} from '../../e2e/support/opflex/policy-fixture.ts';

const Prefix = '10.133';
const Tag = `ct${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const source = new MemoryPolicySource();
let node: TestNode;

const Pods = ['a1', 'a2', 'b', 'c', 'lost'] as const;
type PodName = (typeof Pods)[number];
const epgOf: Record<PodName, string> = { a1: 'a', a2: 'a', b: 'b', c: 'c', lost: 'unknown' };
const ip = (p: PodName): string => `${Prefix}.1.${Pods.indexOf(p) + 1}`;
const TcpPorts = [80, 8080];
const UdpPorts = [4999, 5000, 5010, 5011, 8080];
const pods = {} as Record<PodName, { pod: TestPod; agent: PodAgent }>;

const web = (
  classifiers: ContractSpec['subjects'][number]['rules'][number]['classifiers'],
): ContractSpec => ({
  name: 'web',
  subjects: [{ name: 'http', rules: [{ name: 'in', direction: 'in', classifiers }] }],
});
const web80: ContractSpec = web([
  { name: 'tcp-80', prot: 6, dFromPort: 80, dToPort: 80 },
  { name: 'udp-5000-5010', prot: 17, dFromPort: 5000, dToPort: 5010 },
]);

function spec(
  change: {
    epgs?: Partial<Record<'a' | 'b' | 'c', Partial<EpgSpec>>>;
    contracts?: ContractSpec[];
    enforced?: boolean;
  } = {},
): PolicySpec {
  const epg = (name: 'a' | 'b' | 'c', classId: number, e: Partial<EpgSpec>): EpgSpec => ({
    name,
    classId,
    ...e,
    ...change.epgs?.[name],
  });
  return {
    vrfs: { vrf: change.enforced ?? true },
    epgs: [
      epg('a', 0x4001, { consumes: ['web'] }),
      epg('b', 0x4002, { provides: ['web'] }),
      epg('c', 0x4003, {}),
    ],
    contracts: change.contracts ?? [web80],
  };
}

/** Applies a policy as a policy_update would and waits for the flows. */
async function applyPolicy(s: PolicySpec): Promise<number> {
  const started = Date.now();
  source.set(policyObjects(s));
  await node.agent.settled();
  await node.flushConntrack();
  return Date.now() - started;
}

async function reach(
  from: PodName,
  to: PodName,
  proto: 'tcp' | 'udp',
  port: number,
  timeoutMs = 1000,
): Promise<boolean> {
  const [ok = false] = await pods[from].agent.probe([{ ip: ip(to), port, proto }], timeoutMs);
  return ok;
}

/** Probes many pairs at once (denied probes cost their timeout). */
async function matrix(cases: [PodName, PodName, 'tcp' | 'udp', number][]): Promise<string[]> {
  const results = await Promise.all(cases.map(([f, to, proto, port]) => reach(f, to, proto, port)));
  return cases.map(
    ([f, to, proto, port], i) =>
      `${f}->${to} ${proto}/${port} ${results[i] ? 'allowed' : 'dropped'}`,
  );
}

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-contracts-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  source.set(policyObjects(spec()));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: `${Prefix}.0.1`,
    gatewayMac: '0a:58:0a:85:00:01',
    policy: source,
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  for (const [n, name] of Pods.entries()) {
    const pod = await node.addPod({
      uuid: name,
      namespace: 'default',
      name,
      netns: `${Tag}-${name}`,
      hostIf: `${Tag}${name}`,
      ip: ip(name),
      prefixLen: 16,
      mac: macFor(0x86, n + 1),
      gateway: `${Prefix}.0.1`,
      endpointGroup: { tenant: 'kube', appProfile: 'kubernetes', name: epgOf[name] },
    });
    const agent = await PodAgent.start(
      pod.netns,
      path.join(dir, `${name}.sock`),
      pod.ip,
      TcpPorts,
      UdpPorts,
    );
    cleanup.add(() => agent.stop());
    pods[name] = { pod, agent };
  }
  await node.agent.settled();
});

test.after.always(() => cleanup.run());

test.serial('a consumes TCP 80 from b; nothing else between a, b and c', async (t) => {
  await applyPolicy(spec());
  t.deepEqual(
    await matrix([
      ['a1', 'b', 'tcp', 80],
      ['a2', 'b', 'tcp', 80],
      ['a1', 'b', 'tcp', 8080],
      ['b', 'a1', 'tcp', 80],
      ['b', 'c', 'tcp', 80],
      ['c', 'b', 'tcp', 80],
      ['a1', 'c', 'tcp', 80],
      ['c', 'a1', 'tcp', 80],
    ]),
    [
      'a1->b tcp/80 allowed',
      'a2->b tcp/80 allowed',
      'a1->b tcp/8080 dropped',
      'b->a1 tcp/80 dropped',
      'b->c tcp/80 dropped',
      'c->b tcp/80 dropped',
      'a1->c tcp/80 dropped',
      'c->a1 tcp/80 dropped',
    ],
  );
});

test.serial('a filter entry with a port range allows exactly the range', async (t) => {
  await applyPolicy(spec());
  t.deepEqual(
    await matrix([
      ['a1', 'b', 'udp', 4999],
      ['a1', 'b', 'udp', 5000],
      ['a1', 'b', 'udp', 5010],
      ['a1', 'b', 'udp', 5011],
    ]),
    [
      'a1->b udp/4999 dropped',
      'a1->b udp/5000 allowed',
      'a1->b udp/5010 allowed',
      'a1->b udp/5011 dropped',
    ],
  );
});

/** b sends a datagram from a port of the contract's range to a1, as a stateless reverse rule would let it. */
async function unsolicitedFromB(): Promise<boolean> {
  await pods.a1.agent.resetSeen();
  const script = `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('${ip('b')}',5003))\nfor _ in range(5): s.sendto(b'x',('${ip('a1')}',8080))`;
  await inNetns(pods.b.pod.netns, 'python3', ['-c', script]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return (await pods.a1.agent.seen()).includes(`${ip('b')}:udp:8080`);
}

test.serial('replies are allowed through conntrack only', async (t) => {
  await applyPolicy(spec());
  // The replies of a1's connection (b:80 -> a1) match no rule: conntrack lets them back.
  t.true(await pods.a1.agent.open('held', ip('b'), 80));
  t.true(await pods.a1.agent.echo('held', 'ping'));
  t.true(await reach('a1', 'b', 'udp', 5000));
  // The same kind of packet without a connection is a new flow from the provider: dropped.
  t.false(await unsolicitedFromB());
  // Control: once a rule lets b talk to a, the same datagram arrives.
  await applyPolicy(
    spec({
      contracts: [
        {
          name: 'web',
          subjects: [
            {
              name: 'http',
              rules: [
                ...(web80.subjects[0]?.rules ?? []),
                {
                  name: 'back',
                  direction: 'out',
                  classifiers: [{ name: 'udp-8080', prot: 17, dFromPort: 8080 }],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
  t.true(await unsolicitedFromB());
  // A stateful (reflexive) entry in that rule lets b answer only: the same datagram is dropped again.
  await applyPolicy(
    spec({
      contracts: [
        {
          name: 'web',
          subjects: [
            {
              name: 'http',
              rules: [
                ...(web80.subjects[0]?.rules ?? []),
                {
                  name: 'back',
                  direction: 'out',
                  classifiers: [
                    {
                      name: 'udp-8080',
                      prot: 17,
                      dFromPort: 8080,
                      connectionTracking: 'reflexive',
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
  t.false(await unsolicitedFromB());
});

test.serial(
  'intra-EPG isolation: allow by default, deny, or only what an intra contract allows',
  async (t) => {
    await applyPolicy(spec());
    t.deepEqual(await matrix([['a1', 'a2', 'tcp', 8080]]), ['a1->a2 tcp/8080 allowed']);
    await applyPolicy(
      spec({ epgs: { a: { consumes: ['web'], intraGroupPolicy: 'deny', intra: ['web'] } } }),
    );
    t.deepEqual(
      await matrix([
        ['a1', 'a2', 'tcp', 80],
        ['a1', 'b', 'tcp', 80],
      ]),
      ['a1->a2 tcp/80 dropped', 'a1->b tcp/80 allowed'],
    );
    await applyPolicy(
      spec({
        epgs: { a: { consumes: ['web'], intraGroupPolicy: 'require-contract', intra: ['web'] } },
      }),
    );
    t.deepEqual(
      await matrix([
        ['a1', 'a2', 'tcp', 80],
        ['a2', 'a1', 'tcp', 8080],
      ]),
      ['a1->a2 tcp/80 allowed', 'a2->a1 tcp/8080 dropped'],
    );
  },
);

test.serial('vzAny: a contract every EPG of the VRF provides and consumes', async (t) => {
  // The leaf expands vzAny into relations on each EPG of the VRF (the model has no vzAny class).
  const common: ContractSpec = {
    name: 'common',
    subjects: [
      {
        name: 's',
        rules: [
          {
            name: 'r',
            direction: 'in',
            classifiers: [{ name: 'tcp-8080', prot: 6, dFromPort: 8080 }],
          },
        ],
      },
    ],
  };
  const any = (e: Partial<EpgSpec>): Partial<EpgSpec> => ({
    ...e,
    provides: [...(e.provides ?? []), 'common'],
    consumes: [...(e.consumes ?? []), 'common'],
  });
  await applyPolicy(
    spec({
      epgs: { a: any({ consumes: ['web'] }), b: any({ provides: ['web'] }), c: any({}) },
      contracts: [web80, common],
    }),
  );
  t.deepEqual(
    await matrix([
      ['b', 'c', 'tcp', 8080],
      ['c', 'a1', 'tcp', 8080],
      ['a1', 'b', 'tcp', 80],
      ['b', 'c', 'tcp', 80],
    ]),
    [
      'b->c tcp/8080 allowed',
      'c->a1 tcp/8080 allowed',
      'a1->b tcp/80 allowed',
      'b->c tcp/80 dropped',
    ],
  );
});

test.serial('an unenforced VRF allows everything between its EPGs', async (t) => {
  await applyPolicy(spec({ enforced: false }));
  t.deepEqual(
    await matrix([
      ['b', 'c', 'tcp', 80],
      ['c', 'a1', 'tcp', 8080],
    ]),
    ['b->c tcp/80 allowed', 'c->a1 tcp/8080 allowed'],
  );
});

test.serial('a pod whose EPG is not resolved is isolated', async (t) => {
  await applyPolicy(spec({ enforced: false }));
  t.deepEqual(
    await matrix([
      ['lost', 'b', 'tcp', 80],
      ['b', 'lost', 'tcp', 80],
    ]),
    ['lost->b tcp/80 dropped', 'b->lost tcp/80 dropped'],
  );
});

test.serial(
  'a contract changed at run time applies within seconds, without a restart, and keeps established connections',
  async (t) => {
    await applyPolicy(spec());
    const agent = node.agent;
    t.true(await pods.a2.agent.open('kept', ip('b'), 80));
    const started = Date.now();
    source.set(
      policyObjects(spec({ contracts: [web([{ name: 'tcp-8080', prot: 6, dFromPort: 8080 }])] })),
    );
    // Poll with real packets until the new contract holds (no settle hook: what a user would see).
    while (!(await reach('a1', 'b', 'tcp', 8080, 300)) && Date.now() - started < 10_000);
    const tookMs = Date.now() - started;
    t.log(`contract change -> new flows carrying traffic: ${tookMs} ms`);
    t.true(tookMs < 5000, `took ${tookMs} ms`);
    t.false(await reach('a1', 'b', 'tcp', 80));
    t.is(node.agent, agent, 'the agent was not restarted');
    t.true(
      await pods.a2.agent.echo('kept', 'still-there'),
      'an established connection survives the change',
    );
  },
);

test.serial('both the NetworkPolicy and the contract must allow a connection', async (t) => {
  await applyPolicy(spec());
  const b = pods.b.pod;
  // b isolated for ingress, allowing only TCP 8080: the contract allows 80, the policy 8080.
  await node.writeSecurityGroup({
    name: 'b-ingress',
    isolates: ['ingress'],
    rules: [{ direction: 'ingress', protocol: 'TCP', ports: [{ from: 8080, to: 8080 }] }],
  });
  b.securityGroups = ['b-ingress'];
  await node.writeEndpoint(b);
  await node.agent.settled();
  await node.flushConntrack();
  t.deepEqual(
    await matrix([
      ['a1', 'b', 'tcp', 80],
      ['a1', 'b', 'tcp', 8080],
    ]),
    ['a1->b tcp/80 dropped', 'a1->b tcp/8080 dropped'],
  );
  // Both allow TCP 80 now.
  await node.writeSecurityGroup({
    name: 'b-ingress',
    isolates: ['ingress'],
    rules: [{ direction: 'ingress', protocol: 'TCP', ports: [{ from: 80, to: 80 }] }],
  });
  await node.agent.settled();
  await node.flushConntrack();
  t.deepEqual(await matrix([['a1', 'b', 'tcp', 80]]), ['a1->b tcp/80 allowed']);
  b.securityGroups = [];
  await node.writeEndpoint(b);
  await node.removeSecurityGroup('b-ingress');
  await node.agent.settled();
});
