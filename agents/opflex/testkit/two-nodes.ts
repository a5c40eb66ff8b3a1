/**
 * Two simulated nodes joined by a fabric link (a veth between the node
 * namespaces), each with its own OVS, opflex agent and mcast daemon. Node i
 * owns pod subnet <prefix>.<i>.0/24; pods use the whole /16 with one
 * anycast gateway, so cross-node traffic needs the flooded ARP first.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { McastDaemon } from '../../mcast/daemon.ts';
import { DirectoryFabric } from '../../mcast/fabric.ts';
import { type Cleanup, macFor, run } from './netns.ts';
import { TestNode, type TestPod } from './node.ts';

export interface TwoNodes {
  nodes: [TestNode, TestNode];
  daemons: McastDaemon[];
  addPod(
    nodeIndex: 0 | 1,
    key: string,
    hostNumber: number,
    bridgeDomain?: string,
  ): Promise<TestPod>;
  settle(): Promise<void>;
}

export async function startTwoNodes(opts: {
  tag: string;
  prefix: string;
  dir: string;
  log: Logger;
  cleanup: Cleanup;
}): Promise<TwoNodes> {
  const { tag, prefix, dir, log, cleanup } = opts;
  const names = ['n1', 'n2'] as const;
  const link = { n1: `${tag}l1`, n2: `${tag}l2` };
  const gateway = `${prefix}.0.1`;
  const nodes: TestNode[] = [];
  for (const [i, name] of names.entries()) {
    const other = names[1 - i] ?? 'n1';
    const node = new TestNode({
      name,
      netns: `${tag}-${name}`,
      dir: path.join(dir, name),
      bridge: `br${tag}${i + 1}`,
      gatewayIp: gateway,
      gatewayMac: '0a:58:00:00:00:01',
      fabricLinks: [{ node: other, port: link[name], subnets: [`${prefix}.${2 - i}.0/24`] }],
      log,
    });
    cleanup.add(() => node.stop());
    await node.start();
    nodes.push(node);
  }
  await run('ip', [
    'link',
    'add',
    link.n1,
    'netns',
    `${tag}-n1`,
    'type',
    'veth',
    'peer',
    'name',
    link.n2,
    'netns',
    `${tag}-n2`,
  ]);
  const fabric = new DirectoryFabric(path.join(dir, 'fabric'));
  const daemons: McastDaemon[] = [];
  for (const [i, name] of names.entries()) {
    const node = nodes[i];
    if (!node) throw new Error('node missing');
    await run('ip', ['-n', `${tag}-${name}`, 'link', 'set', link[name], 'up']);
    await node.addFabricPort(link[name]);
    const daemon = new McastDaemon({
      nodeName: name,
      stateDir: node.stateDir,
      ovsRundir: node.ovsDir,
      bridge: node.opts.bridge,
      fabric,
      fabricLinks: [{ node: names[1 - i] ?? 'n1', port: link[name] }],
      log,
      refreshIntervalMs: 300,
      probeIntervalMs: 300,
    });
    cleanup.add(() => daemon.stop());
    await daemon.start();
    daemons.push(daemon);
  }
  const [n1, n2] = nodes as [TestNode, TestNode];
  let macs = 0;
  return {
    nodes: [n1, n2],
    daemons,
    addPod: (nodeIndex, key, hostNumber, bridgeDomain = 'bd-pods') =>
      (nodeIndex === 0 ? n1 : n2).addPod({
        uuid: key,
        namespace: 'default',
        name: key,
        netns: `${tag}-${key}`,
        hostIf: `${tag}${key}`,
        ip: `${prefix}.${nodeIndex + 1}.${hostNumber}`,
        prefixLen: 16,
        mac: macFor(0x85, ++macs),
        gateway,
        bridgeDomain,
      }),
    async settle() {
      for (const node of [n1, n2]) await node.agent.settled();
      // Twice: the first pass publishes membership, the second sees the other node's.
      for (const d of daemons) await d.settled();
      for (const d of daemons) await d.settled();
    },
  };
}
