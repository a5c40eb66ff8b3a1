/**
 * Services with real packets: ClusterIP, external IP and NodePort frontends
 * load-balanced over select groups with conntrack NAT, ClientIP affinity,
 * hairpin, and backend removal.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { ServiceFile } from './files.ts';
import { Cleanup, PodAgent, macFor } from '../../e2e/support/opflex/netns.ts';
import { TestNode } from '../../e2e/support/opflex/node.ts';

const Prefix = '10.132';
const Tag = `sv${process.pid % 1000}`;
const ClusterIP = '10.96.32.10';
const AffinityIP = '10.96.32.11';
const HairpinIP = '10.96.32.12';
const ExternalIP = '10.140.32.10';
const NodeIP = '10.141.32.2';
const NodePort = 30080;
const BackendPort = 8080;
const HairpinSource = '169.254.169.252';

const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let node: TestNode;
const agents: Record<'client' | 'b1' | 'b2', PodAgent> = {} as Record<
  'client' | 'b1' | 'b2',
  PodAgent
>;
const ips = { client: `${Prefix}.1.1`, b1: `${Prefix}.1.2`, b2: `${Prefix}.1.3` };

const service = (
  uuid: string,
  frontends: ServiceFile['frontends'],
  backends: string[],
  extra: Partial<ServiceFile> = {},
): ServiceFile => ({
  uuid,
  namespace: 'default',
  name: uuid,
  frontends,
  ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: BackendPort, nodePort: NodePort }],
  backends,
  sessionAffinity: 'None',
  affinityTimeoutSeconds: 10800,
  ...extra,
});

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-services-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: `${Prefix}.0.1`,
    gatewayMac: '0a:58:0a:84:00:01',
    nodeIPs: [NodeIP],
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  let n = 0;
  for (const name of ['client', 'b1', 'b2'] as const) {
    n++;
    const pod = await node.addPod({
      uuid: name,
      namespace: 'default',
      name,
      netns: `${Tag}-${name}`,
      hostIf: `${Tag}${name}`,
      ip: ips[name],
      prefixLen: 16,
      mac: macFor(0x84, n),
      gateway: `${Prefix}.0.1`,
    });
    agents[name] = await PodAgent.start(
      pod.netns,
      path.join(dir, `${name}.sock`),
      pod.ip,
      [BackendPort],
      [BackendPort],
    );
    const a = agents[name];
    cleanup.add(() => a.stop());
  }
  await node.writeService(
    service(
      'web',
      [
        { ip: ClusterIP, kind: 'ClusterIP' },
        { ip: ExternalIP, kind: 'External' },
      ],
      [ips.b1, ips.b2],
    ),
  );
  await node.writeService(
    service('sticky', [{ ip: AffinityIP, kind: 'ClusterIP' }], [ips.b1, ips.b2], {
      sessionAffinity: 'ClientIP',
      affinityTimeoutSeconds: 60,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: BackendPort }],
    }),
  );
  await node.writeService(
    service('self', [{ ip: HairpinIP, kind: 'ClusterIP' }], [ips.b1], {
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: BackendPort }],
    }),
  );
  await node.agent.settled();
});

test.after.always(() => cleanup.run());

/** Opens `count` connections from the client and returns which backends saw the client. */
async function backendsReached(ip: string, port: number, count: number): Promise<Set<string>> {
  await Promise.all([agents.b1.resetSeen(), agents.b2.resetSeen()]);
  const results = await agents.client.probe(
    Array.from({ length: count }, () => ({ ip, port, proto: 'tcp' as const })),
    2000,
  );
  if (!results.every(Boolean))
    throw new Error(
      `${results.filter((r) => !r).length} of ${count} connections to ${ip}:${port} failed`,
    );
  // A completed handshake can precede the server's accept(): read what the backends saw until it
  // stops changing (or a deadline), instead of racing them.
  const entry = `${ips.client}:tcp:${BackendPort}`;
  let reached = new Set<string>();
  const deadline = Date.now() + 5000;
  for (let stable = 0; stable < 3 && Date.now() < deadline;) {
    const now = new Set<string>();
    for (const b of ['b1', 'b2'] as const) if ((await agents[b].seen()).includes(entry)) now.add(b);
    stable = now.size > 0 && now.size === reached.size ? stable + 1 : 0;
    reached = now;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return reached;
}

async function eventuallySeen(agent: PodAgent, entry: string): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if ((await agent.seen()).includes(entry)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

test.serial('ClusterIP load-balances over both backends', async (t) => {
  t.deepEqual([...(await backendsReached(ClusterIP, 80, 24))].sort(), ['b1', 'b2']);
});

test.serial('external IP load-balances over both backends', async (t) => {
  t.deepEqual([...(await backendsReached(ExternalIP, 80, 24))].sort(), ['b1', 'b2']);
});

test.serial('NodePort on the node IP reaches the backends', async (t) => {
  t.true((await backendsReached(NodeIP, NodePort, 8)).size >= 1);
});

test.serial('ClientIP affinity keeps one client on one backend', async (t) => {
  // The first connection picks and learns the backend; connections racing it could still pick another.
  t.is((await backendsReached(AffinityIP, 80, 1)).size, 1);
  t.is((await backendsReached(AffinityIP, 80, 24)).size, 1);
});

test.serial(
  'hairpin: a backend reaches itself through its service, SNATed to the hairpin IP',
  async (t) => {
    await agents.b1.resetSeen();
    t.deepEqual(await agents.b1.probe([{ ip: HairpinIP, port: 80, proto: 'tcp' }], 2000), [true]);
    t.true(await eventuallySeen(agents.b1, `${HairpinSource}:tcp:${BackendPort}`));
  },
);

test.serial('a removed backend stops receiving new connections', async (t) => {
  await node.writeService(
    service(
      'web',
      [
        { ip: ClusterIP, kind: 'ClusterIP' },
        { ip: ExternalIP, kind: 'External' },
      ],
      [ips.b1],
    ),
  );
  await node.agent.settled();
  t.deepEqual([...(await backendsReached(ClusterIP, 80, 24))], ['b1']);
});
