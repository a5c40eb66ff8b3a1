/**
 * IPv6 through the pipeline with real packets: dual-stack pods on one node
 * resolve the gateway and each other by neighbour discovery (answered by
 * the pipeline, as ARP is), reach each other over ICMPv6 and TCP through
 * conntrack, and cannot send from an address that is not theirs nor
 * advertise one. Packets a pod is not allowed to send are crafted with a
 * raw socket (python3) inside the pod, as an attacker in it would.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import pino from 'pino';
import { vswitchdCtlPath } from '../openvswitch/supervisor.ts';
import { type TableName, tableId } from './pipeline.ts';
import { Cleanup, PodAgent, inNetns, macFor, run } from '../../e2e/support/opflex/netns.ts';
import { TestNode, type TestPod } from '../../e2e/support/opflex/node.ts';
import { compileNetworkPolicies } from '../../lib/policy/network-policy.ts';

const Tag = `v6${process.pid % 1000}`;
const GatewayMac = '0a:58:0a:85:00:01';
const Gateway4 = '10.133.0.1';
const Gateway6 = 'fd00:133::1';
const Port = 8080;

const cleanup = new Cleanup();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let node: TestNode;
const names = ['a', 'b', 'c'] as const;
type Name = (typeof names)[number];
const pods = {} as Record<Name, TestPod>;
const agents = {} as Record<Name, PodAgent>;
const v6 = { a: 'fd00:133::1:1', b: 'fd00:133::1:2', c: 'fd00:133::1:3' };
const v4 = { a: '10.133.1.1', b: '10.133.1.2', c: '10.133.1.3' };

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dp-ipv6-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  node = new TestNode({
    name: 'n1',
    netns: `${Tag}-node`,
    dir,
    bridge: `br${Tag}`,
    gatewayIp: Gateway4,
    gatewayMac: GatewayMac,
    podSubnets: [
      { cidr: '10.133.0.0/16', gateway: Gateway4 },
      { cidr: 'fd00:133::/64', gateway: Gateway6 },
    ],
    log,
  });
  cleanup.add(() => node.stop());
  await node.start();
  for (const [i, name] of names.entries()) {
    pods[name] = await node.addPod({
      uuid: name,
      namespace: 'default',
      name,
      netns: `${Tag}-${name}`,
      hostIf: `${Tag}${name}`,
      ip: v4[name],
      prefixLen: 16,
      mac: macFor(0x85, i + 1),
      gateway: Gateway4,
      ipv6: { ip: v6[name], prefixLen: 64, gateway: Gateway6 },
    });
    const agent = await PodAgent.start(
      pods[name].netns,
      path.join(dir, `${name}.sock`),
      '::',
      [Port],
      [],
    );
    agents[name] = agent;
    cleanup.add(() => agent.stop());
  }
  await node.agent.settled();
});

test.after.always(() => cleanup.run());

const inPod = (name: Name, cmd: string, args: string[]): Promise<string> =>
  inNetns(pods[name].netns, cmd, args);

async function ping6(from: Name, to: string, source?: string): Promise<boolean> {
  const args = ['-6', '-c', '1', '-W', '2', ...(source ? ['-I', source] : []), to];
  return inPod(from, 'ping', args).then(
    () => true,
    () => false,
  );
}

/** A counter of the pod's IPv6 stack (/proc/net/snmp6 of its netns). */
async function snmp6(name: Name, counter: string): Promise<number> {
  const text = await inPod(name, 'cat', ['/proc/net/snmp6']);
  const line = text.split('\n').find((l) => l.split(/\s+/)[0] === counter);
  if (!line) throw new Error(`no ${counter} in /proc/net/snmp6`);
  return Number(line.trim().split(/\s+/)[1]);
}

/** The link-layer address the pod's kernel resolved for `ip` (undefined: none). */
async function neighbor(name: Name, ip: string): Promise<string | undefined> {
  const text = await inPod(name, 'ip', ['-6', 'neigh', 'show', ip, 'dev', 'eth0']);
  return /lladdr ([0-9a-f:]{17})/.exec(text)?.[1];
}

/**
 * Sends one ICMPv6 message from inside the pod by a raw socket (the kernel
 * adds the IPv6 header and checksum), with hop limit 255 as ND requires.
 */
async function sendIcmp6(from: Name, dst: string, body: Buffer, source?: string): Promise<void> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)',
    'if sys.argv[3]: s.bind((sys.argv[3], 0))',
    "s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 0, 0, socket.if_nametoindex('eth0')))",
  ].join('\n');
  await inPod(from, 'python3', ['-c', script, body.toString('hex'), dst, source ?? '']);
}

const addressBytes = (ip: string): Buffer => Buffer.from(ipaddr.parse(ip).toByteArray());
const macBytes = (mac: string): Buffer => Buffer.from(mac.replaceAll(':', ''), 'hex');

/** A neighbour advertisement (solicited + override) for `target` at `mac`. */
const advertisement = (target: string, mac: string): Buffer =>
  Buffer.concat([
    Buffer.from([136, 0, 0, 0, 0x60, 0, 0, 0]),
    addressBytes(target),
    Buffer.from([2, 1]),
    macBytes(mac),
  ]);

/** A router advertisement: lifetime 1800 s, with the sender's link-layer address. */
const routerAdvertisement = (mac: string): Buffer =>
  Buffer.concat([
    Buffer.from([134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
    macBytes(mac),
  ]);

/** Waits until `probe` holds or the deadline passes; returns its last value. */
async function eventually(probe: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test.serial(
  'a pod resolves the IPv6 gateway to the router MAC (the pipeline answers its solicitation)',
  async (t) => {
    // Nothing answers echo at the gateway address without a gateway port: the ping is only the trigger.
    await ping6('a', Gateway6);
    t.is(await neighbor('a', Gateway6), GatewayMac);
  },
);

test.serial(
  'pods reach each other over IPv6: neighbours resolved to their own MACs, ping and TCP',
  async (t) => {
    t.true(await eventually(() => ping6('a', v6.b)), 'a pings b');
    t.true(await ping6('b', v6.a), 'b pings a');
    t.is(await neighbor('a', v6.b), pods.b.mac);
    t.is(await neighbor('b', v6.a), pods.a.mac);
    t.deepEqual(await agents.a.probe([{ ip: v6.b, port: Port, proto: 'tcp' }], 2000), [true]);
    t.true(
      await eventually(async () => (await agents.b.seen()).includes(`${v6.a}:tcp:${Port}`)),
      'b saw the connection from a’s IPv6 address',
    );
  },
);

test.serial('IPv6 connections are tracked by conntrack in the pipeline’s zone', async (t) => {
  t.deepEqual(await agents.a.probe([{ ip: v6.b, port: Port, proto: 'tcp' }], 2000), [true]);
  const entries = await run('ovs-appctl', [
    '-t',
    vswitchdCtlPath(node.ovsDir),
    'dpctl/dump-conntrack',
  ]);
  t.regex(
    entries,
    new RegExp(`tcp,orig=\\(src=${v6.a},dst=${v6.b},.*dport=${Port}\\).*zone=65520`),
  );
});

test.serial('an IPv6 source that is not the pod’s is dropped', async (t) => {
  const spoofed = 'fd00:133::1:99';
  await inPod('a', 'ip', ['-6', 'addr', 'add', `${spoofed}/64`, 'dev', 'eth0', 'nodad']);
  try {
    const before = await snmp6('b', 'Icmp6InEchos');
    t.false(await ping6('a', v6.b, spoofed), 'the spoofed ping got an answer');
    t.is(await snmp6('b', 'Icmp6InEchos'), before, 'b received the spoofed echo');
    // Explicit source: with two addresses in one prefix the kernel may pick either.
    t.true(await ping6('a', v6.b, v6.a), 'a’s own address still works');
    t.is(await snmp6('b', 'Icmp6InEchos'), before + 1);
  } finally {
    await inPod('a', 'ip', ['-6', 'addr', 'del', `${spoofed}/64`, 'dev', 'eth0']);
  }
});

test.serial(
  'a pod advertises only its own addresses: forged advertisements never arrive',
  async (t) => {
    // b knows the gateway and a by their true MACs; a knows b's, so what it sends below is unicast to b.
    await ping6('b', Gateway6);
    t.is(await neighbor('b', Gateway6), GatewayMac);
    t.true(await ping6('a', v6.b));
    const before = await snmp6('b', 'Icmp6InNeighborAdvertisements');
    await sendIcmp6('a', v6.b, advertisement(Gateway6, pods.a.mac));
    await sendIcmp6('a', v6.b, advertisement(v6.b, pods.a.mac));
    // The control: the same message for a's own address gets through.
    await sendIcmp6('a', v6.b, advertisement(v6.a, pods.a.mac));
    t.true(
      await eventually(async () => (await snmp6('b', 'Icmp6InNeighborAdvertisements')) > before),
      'the advertisement of a’s own address arrived',
    );
    t.is(await snmp6('b', 'Icmp6InNeighborAdvertisements'), before + 1);
    t.is(await neighbor('b', Gateway6), GatewayMac, 'b took a forged advertisement of the gateway');
  },
);

/** Packets counted by the flows of `table` that match `filter` (ovs-ofctl dump-flows on the node's bridge). */
async function flowPackets(table: TableName, filter: string): Promise<number> {
  const mgmt = `unix:${path.join(node.ovsDir, `${node.opts.bridge}.mgmt`)}`;
  const text = await run('ovs-ofctl', [
    '-O',
    'OpenFlow15',
    'dump-flows',
    mgmt,
    `table=${tableId(table)},${filter}`,
  ]);
  return [...text.matchAll(/n_packets=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

test.serial('router advertisements from a pod are dropped by the spoof guard', async (t) => {
  const before = await snmp6('b', 'Icmp6InRouterAdvertisements');
  const dropped = await flowPackets('SpoofGuard', 'icmp6,icmp_type=134');
  // From a's own address to b's: the generic IPv6 flow of the spoof guard would pass it on.
  await sendIcmp6('a', v6.b, routerAdvertisement(pods.a.mac));
  const echoes = await snmp6('b', 'Icmp6InEchos');
  t.true(await ping6('a', v6.b, v6.a), 'a still reaches b');
  // The echo was sent after the advertisement on the same path: once it arrived, the advertisement had its chance.
  t.is(await snmp6('b', 'Icmp6InEchos'), echoes + 1);
  t.is(await snmp6('b', 'Icmp6InRouterAdvertisements'), before);
  // Userspace conntrack would drop it too (an RA starts no connection); the spoof guard must not rely on that.
  t.is(await flowPackets('SpoofGuard', 'icmp6,icmp_type=134'), dropped + 1);
});

test.serial(
  'an IPv6 ClusterIP load-balances over the IPv6 backends, DNAT and reply un-DNAT by conntrack',
  async (t) => {
    const ClusterIP6 = 'fd00:96::10';
    await node.writeService({
      uuid: 'web6',
      namespace: 'default',
      name: 'web6',
      frontends: [
        { ip: '10.96.33.10', kind: 'ClusterIP' },
        { ip: ClusterIP6, kind: 'ClusterIP' },
      ],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: Port }],
      backends: [v4.b, v4.c, v6.b, v6.c],
      sessionAffinity: 'None',
      affinityTimeoutSeconds: 10800,
    });
    await node.agent.settled();
    await Promise.all([agents.b.resetSeen(), agents.c.resetSeen()]);
    const results = await agents.a.probe(
      Array.from({ length: 16 }, () => ({ ip: ClusterIP6, port: 80, proto: 'tcp' as const })),
      2000,
    );
    t.deepEqual(results, Array<boolean>(16).fill(true), 'every connection to the IPv6 ClusterIP');
    const entry = `${v6.a}:tcp:${Port}`;
    t.true(
      await eventually(
        async () =>
          (await agents.b.seen()).includes(entry) && (await agents.c.seen()).includes(entry),
      ),
      'both IPv6 backends saw a’s IPv6 address',
    );
    const entries = await run('ovs-appctl', [
      '-t',
      vswitchdCtlPath(node.ovsDir),
      'dpctl/dump-conntrack',
    ]);
    t.regex(
      entries,
      new RegExp(
        `orig=\\(src=${v6.a},dst=${ClusterIP6},[^)]*dport=80\\),reply=\\(src=(${v6.b}|${v6.c}),`,
      ),
    );
    // The IPv4 ClusterIP of the same service keeps its IPv4 group.
    t.deepEqual(await agents.a.probe([{ ip: '10.96.33.10', port: 80, proto: 'tcp' }], 2000), [
      true,
    ]);
  },
);

test.serial(
  'NetworkPolicy: an IPv6 ipBlock with an except admits its own family only',
  async (t) => {
    // b accepts TCP from fd00:133::1:0/112 except c's address: a over IPv6 only.
    const compiled = compileNetworkPolicies({
      namespaces: [{ metadata: { name: 'default' } }],
      pods: names.map((name) => ({
        metadata: { namespace: 'default', name, labels: { app: name } },
        spec: { containers: [{ name, ports: [{ name: 'http', containerPort: Port }] }] },
        status: { podIP: v4[name], podIPs: [{ ip: v4[name] }, { ip: v6[name] }] },
      })),
      policies: [
        {
          metadata: { namespace: 'default', name: 'b-from-block' },
          spec: {
            podSelector: { matchLabels: { app: 'b' } },
            policyTypes: ['Ingress'],
            ingress: [
              {
                from: [{ ipBlock: { cidr: 'fd00:133::1:0/112', except: [`${v6.c}/128`] } }],
                ports: [{ protocol: 'TCP', port: Port }],
              },
            ],
          },
        },
      ],
    });
    for (const g of compiled.groups) await node.writeSecurityGroup(g);
    pods.b.securityGroups = compiled.podGroups.get('default/b') ?? [];
    t.true(pods.b.securityGroups.length > 0, 'the policy selects b');
    await node.writeEndpoint(pods.b);
    await node.agent.settled();
    await node.flushConntrack();
    const to = (ip: string) => [{ ip, port: Port, proto: 'tcp' as const }];
    t.deepEqual(await agents.a.probe(to(v6.b), 2000), [true], 'a → b over IPv6 (in the block)');
    t.deepEqual(await agents.c.probe(to(v6.b), 1000), [false], 'c → b over IPv6 (excepted)');
    t.deepEqual(
      await agents.a.probe(to(v4.b), 1000),
      [false],
      'a → b over IPv4 (not in the IPv6 block)',
    );
    t.deepEqual(await agents.c.probe(to(v4.b), 1000), [false], 'c → b over IPv4');
    t.deepEqual(await agents.b.probe(to(v6.c), 2000), [true], 'b → c: egress of b is not isolated');
  },
);
