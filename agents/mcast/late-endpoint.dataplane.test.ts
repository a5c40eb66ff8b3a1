/**
 * The order production uses: the CNI server adds a pod's OVS port first and
 * writes its endpoint file afterwards, so the mcast daemon sees the port
 * before it knows the pod. The second pod of a bridge domain changes no
 * bridge-domain membership, only the domain's ports; the daemon must still
 * put it into the flood groups. Nothing here asks the daemon to do work
 * (no settled()): the test only watches the groups on the real switch until
 * a deadline, as a pod waiting for its first ARP reply would.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ofctl } from '../openvswitch/ofctl.ts';
import { waitForOfport } from '../openvswitch/supervisor.ts';
import { bridgeDomainVlan } from '../opflex/model.ts';
import { Cleanup, macFor } from '../../e2e/support/opflex/netns.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';
import { McastDaemon } from './daemon.ts';
import { floodGroupId, floodLocalGroupId } from './render.ts';

const Tag = `le${process.pid % 1000}`;
const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let node: TestNode;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dp-mcast-late-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-n1`,
    dir: path.join(dir, 'n1'),
    bridge: `br${Tag}`,
    gatewayIp: '10.151.0.1',
    gatewayMac: '00:22:bd:f8:19:ff',
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  const daemon = new McastDaemon({
    nodeName: 'n1',
    stateDir: node.stateDir,
    ovsRundir: node.ovsDir,
    bridge: node.opts.bridge,
    log,
    rescanIntervalMs: 2000,
    probeIntervalMs: 300,
  });
  await daemon.start();
  cleanup.add(() => daemon.stop());
});

test.after.always(() => cleanup.run());

const pod = (key: string, host: number): Parameters<TestNode['addPod']>[0] => ({
  uuid: key,
  namespace: 'default',
  name: key,
  netns: `${Tag}-${key}`,
  hostIf: `${Tag}${key}`,
  ip: `10.151.1.${host}`,
  prefixLen: 16,
  mac: macFor(0x86, host),
  gateway: '10.151.0.1',
});

const ofportOf = (p: TestPod): Promise<number> => waitForOfport(node.db, p.hostIf);

/** The output ports of one group, as the switch has it now. */
async function groupPorts(id: number): Promise<number[]> {
  const text = await ofctl({ rundir: node.ovsDir, bridge: node.opts.bridge }, ['dump-groups']);
  const line = text.split('\n').find((l) => l.includes(`group_id=${id},`));
  return [...(line ?? '').matchAll(/output:(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

async function waitForGroupPorts(
  id: number,
  want: number[],
  deadlineMs: number,
): Promise<number[]> {
  const until = Date.now() + deadlineMs;
  let got = await groupPorts(id);
  while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    got = await groupPorts(id);
  }
  return got;
}

test.serial(
  'a pod whose endpoint file lands after its port joins its bridge domain’s flood groups',
  async (t) => {
    const vlan = bridgeDomainVlan('bd-pods', {});
    const first = await node.addPod(pod('a', 1));
    const a = await ofportOf(first);
    t.deepEqual(await waitForGroupPorts(floodGroupId(vlan), [a], 10_000), [a]);

    // addPod: the port, its ofport in OVSDB, only then the file (the CNI server's order).
    const second = await node.addPod(pod('b', 2));
    const b = await ofportOf(second);
    const want = [a, b].sort((x, y) => x - y);
    // The old daemon never added it (neither the file's change nor a rescan re-rendered); a loaded
    // machine may take seconds for one sync, so the deadline is generous.
    t.deepEqual(await waitForGroupPorts(floodGroupId(vlan), want, 15_000), want);
    t.deepEqual(await waitForGroupPorts(floodLocalGroupId(vlan), want, 15_000), want);
  },
);
