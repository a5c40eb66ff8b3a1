/**
 * ACI contracts over IPv6 with real packets on one node: dual-stack pods a
 * (EPG a) and b (EPG b); contract `web` lets a consume TCP 8080 and ICMPv6
 * from b. The same contract decides both families, and nothing IPv6
 * passes that IPv4 would not (the classification has IPv6 twins; without
 * them IPv6 would skip every class).
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Cleanup, PodAgent, inNetns, macFor } from '../../e2e/support/opflex/netns.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';
import { MemoryPolicySource, policyObjects } from '../../e2e/support/opflex/policy-fixture.ts';

const Tag = `c6${process.pid % 1000}`;
const Port = 8080;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const source = new MemoryPolicySource();
let node: TestNode;
const names = ['a', 'b'] as const;
type Name = (typeof names)[number];
const v4 = { a: '10.134.1.1', b: '10.134.1.2' };
const v6 = { a: 'fd00:134::1:1', b: 'fd00:134::1:2' };
const pods = {} as Record<Name, { pod: TestPod; agent: PodAgent }>;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-contracts-v6-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  source.set(
    policyObjects({
      vrfs: { vrf: true },
      epgs: [
        { name: 'a', classId: 0x4001, consumes: ['web'] },
        { name: 'b', classId: 0x4002, provides: ['web'] },
      ],
      contracts: [
        {
          name: 'web',
          subjects: [
            {
              name: 's',
              rules: [
                {
                  name: 'in',
                  direction: 'in',
                  classifiers: [
                    { name: 'tcp', prot: 6, dFromPort: Port, dToPort: Port },
                    { name: 'ping6', prot: 58 },
                  ],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: '10.134.0.1',
    gatewayMac: '0a:58:0a:86:00:01',
    podSubnets: [
      { cidr: '10.134.0.0/16', gateway: '10.134.0.1' },
      { cidr: 'fd00:134::/64', gateway: 'fd00:134::1' },
    ],
    policy: source,
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  for (const [i, name] of names.entries()) {
    const pod = await node.addPod({
      uuid: name,
      namespace: 'default',
      name,
      netns: `${Tag}-${name}`,
      hostIf: `${Tag}${name}`,
      ip: v4[name],
      prefixLen: 16,
      mac: macFor(0x87, i + 1),
      gateway: '10.134.0.1',
      ipv6: { ip: v6[name], prefixLen: 64, gateway: 'fd00:134::1' },
      endpointGroup: { tenant: 'kube', appProfile: 'kubernetes', name },
    });
    const agent = await PodAgent.start(pod.netns, path.join(dir, `${name}.sock`), '::', [Port], []);
    pods[name] = { pod, agent };
    cleanup.add(() => agent.stop());
  }
  await node.agent.settled();
});

test.after.always(() => cleanup.run());

const tcp = async (from: Name, ip: string): Promise<boolean> =>
  (await pods[from].agent.probe([{ ip, port: Port, proto: 'tcp' }], 1500))[0] ?? false;

const ping6 = (from: Name, to: string): Promise<boolean> =>
  inNetns(pods[from].pod.netns, 'ping', ['-6', '-c', '1', '-W', '2', to]).then(
    () => true,
    () => false,
  );

test.serial(
  'the consumer reaches the provider on the contract’s port, in both families',
  async (t) => {
    t.true(await tcp('a', v6.b), 'a → b TCP 8080 over IPv6');
    t.true(await tcp('a', v4.b), 'a → b TCP 8080 over IPv4');
  },
);

test.serial(
  'the provider does not open connections to the consumer, in either family',
  async (t) => {
    t.false(await tcp('b', v6.a), 'b → a TCP 8080 over IPv6');
    t.false(await tcp('b', v4.a), 'b → a TCP 8080 over IPv4');
  },
);

test.serial('an ICMPv6 classifier allows ping6 from consumer to provider only', async (t) => {
  t.true(await ping6('a', v6.b), 'a pings b over IPv6');
  t.false(await ping6('b', v6.a), 'b pings a over IPv6');
});
