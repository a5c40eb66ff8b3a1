/**
 * Faults: ovs-vswitchd dies (flows and groups are lost; the supervisor
 * restarts it and the agent re-renders), the agent restarts (established
 * connections survive; nothing is reinstalled), a corrupt file (skipped,
 * the rest keeps working).
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { dumpCookies } from '../openvswitch/ofctl.ts';
import { OwnerMask, ownerCookie } from './diff.ts';
import { Cleanup, PodAgent, macFor } from '../../e2e/support/opflex/netns.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';

const Prefix = '10.134';
const Tag = `ft${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let node: TestNode;
const pods: { pod: TestPod; agent: PodAgent }[] = [];

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-faults-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: `${Prefix}.0.1`,
    gatewayMac: '0a:58:0a:86:00:01',
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  for (let i = 1; i <= 3; i++) {
    const pod = await node.addPod({
      uuid: `p${i}`,
      namespace: 'default',
      name: `p${i}`,
      netns: `${Tag}-p${i}`,
      hostIf: `${Tag}p${i}`,
      ip: `${Prefix}.1.${i}`,
      prefixLen: 16,
      mac: macFor(0x86, i),
      gateway: `${Prefix}.0.1`,
    });
    const agent = await PodAgent.start(pod.netns, path.join(dir, `p${i}.sock`), pod.ip, [80], []);
    cleanup.add(() => agent.stop());
    pods.push({ pod, agent });
  }
  // p2 accepts TCP 80 from p1 only, so the pipeline's stateful path is in play.
  await node.writeSecurityGroup({
    name: 'p2-from-p1',
    isolates: ['ingress'],
    rules: [
      {
        direction: 'ingress',
        protocol: 'TCP',
        ports: [{ from: 80, to: 80 }],
        remotes: [{ cidr: `${Prefix}.1.1/32`, except: [] }],
      },
    ],
  });
  const p2 = pods[1]?.pod;
  if (!p2) throw new Error('p2 missing');
  p2.securityGroups = ['p2-from-p1'];
  await node.writeEndpoint(p2);
  await node.agent.settled();
});

test.after.always(() => cleanup.run());

const pod = (i: number): { pod: TestPod; agent: PodAgent } => {
  const p = pods[i];
  if (!p) throw new Error(`pod ${i} missing`);
  return p;
};

async function installedFlowCount(): Promise<number> {
  return (await dumpCookies(node.agent.target, ownerCookie('opflex'), OwnerMask).catch(() => []))
    .length;
}

/** Polls `check` until it holds or the deadline passes; returns whether it held. */
async function eventually(check: () => Promise<boolean>, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check().catch(() => false);
}

test.serial('ovs-vswitchd killed: restarted and every flow is back within seconds', async (t) => {
  const before = await installedFlowCount();
  t.true(before > 20);
  const pid = node.sup.pid('ovs-vswitchd');
  t.truthy(pid);
  process.kill(pid ?? 0, 'SIGKILL');
  t.true(
    await eventually(
      async () => node.sup.pid('ovs-vswitchd') !== pid && (await installedFlowCount()) === before,
      15_000,
    ),
    'flows restored',
  );
  t.true(
    await eventually(
      async () =>
        (await pod(0).agent.probe([{ ip: pod(1).pod.ip, port: 80, proto: 'tcp' }], 1000))[0] ===
        true,
      10_000,
    ),
    'p1 -> p2 works again',
  );
  t.deepEqual(
    await pod(2).agent.probe([{ ip: pod(1).pod.ip, port: 80, proto: 'tcp' }], 1000),
    [false],
    'p3 -> p2 still denied',
  );
});

test.serial(
  'opflex agent restarted: an established TCP connection survives and nothing is reinstalled',
  async (t) => {
    const p1 = pod(0);
    t.true(await p1.agent.open('long', pod(1).pod.ip, 80));
    t.true(await p1.agent.echo('long', 'before'));
    await node.agent.stop();
    t.true(await p1.agent.echo('long', 'while-down'), 'flows stay while the agent is down');
    await node.startAgent();
    await node.agent.settled();
    t.true(await p1.agent.echo('long', 'after'));
    const r = node.agent.lastResult;
    t.is((r?.flowAdds ?? -1) + (r?.flowDeletes ?? -1), 0, 'restart re-rendered identical flows');
  },
);

test.serial(
  'a corrupt endpoint file is skipped and the other endpoints are unaffected',
  async (t) => {
    const before = await installedFlowCount();
    await node.writeRaw('endpoints', 'broken.ep', '{"uuid": "broken", "mac": ');
    await node.writeRaw(
      'endpoints',
      'invalid.ep',
      JSON.stringify({ uuid: 'invalid', mac: 'not-a-mac' }),
    );
    await node.agent.settled();
    t.is(await installedFlowCount(), before);
    t.deepEqual(
      await pod(0).agent.probe(
        [
          { ip: pod(1).pod.ip, port: 80, proto: 'tcp' },
          { ip: pod(2).pod.ip, port: 80, proto: 'tcp' },
        ],
        1500,
      ),
      [true, true],
    );
    // A later valid change still goes through.
    const p3 = pod(2).pod;
    p3.securityGroups = ['p2-from-p1'];
    await node.writeEndpoint(p3);
    await node.agent.settled();
    t.deepEqual(await pod(1).agent.probe([{ ip: p3.ip, port: 80, proto: 'tcp' }], 1000), [false]);
  },
);
