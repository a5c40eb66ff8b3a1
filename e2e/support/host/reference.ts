/**
 * Test helper: Debian's reference CNI plugins (`bridge` + `host-local` from
 * containernetworking-plugins) on the same machine, with the same subnet,
 * MTU and pod namespaces as our plugin, for shape comparison and the
 * benchmark. Traffic stays between namespaces: the Linux bridge gets no
 * address (isGateway false); a gateway namespace on the bridge holds the
 * gateway addresses instead.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../agents/host/netconf/exec.ts';
import { reservedAddresses } from '../../../agents/host/ipam/index.ts';
import type { PodSubnet } from '../../../agents/host/ipam/index.ts';
import { formatIp, prefixLast, requireCidr } from '../../../lib/net/cidr.ts';
import type { NetnsSet } from './netns.ts';
import type { PluginRun } from './harness.ts';

export const ReferencePluginDir = '/usr/lib/cni';

export interface ReferenceNetwork {
  readonly bridge: string;
  readonly config: Record<string, unknown>;
  readonly gatewayNetns: string;
  invoke(command: string, containerId: string, netns: string, ifName?: string): Promise<PluginRun>;
  close(): Promise<void>;
}

/** `chunks[i]` is the host-local range inside `subnets[i]` (the same pool our IPAM gets). */
export async function startReferenceNetwork(
  netns: NetnsSet,
  /** The node namespace (name) the reference plugins run in, like the agent's. */
  node: string,
  subnets: readonly PodSubnet[],
  chunks: readonly string[],
  mtu: number,
): Promise<ReferenceNetwork> {
  const bridge = `brr${netns.tag}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'cni-hostlocal-'));
  const gwLink = `gr${netns.tag}`;
  const config = {
    cniVersion: '1.0.0',
    name: `ref-${netns.tag}`,
    type: 'bridge',
    bridge,
    isGateway: false,
    ipMasq: false,
    mtu,
    ipam: {
      type: 'host-local',
      dataDir,
      ranges: subnets.map((s, i) => [
        { subnet: s.cidr, gateway: s.gateway, ...rangeOf(chunks[i] ?? s.cidr, s) },
      ]),
      routes: subnets.map((s) => ({ dst: s.cidr.includes(':') ? '::/0' : '0.0.0.0/0' })),
    },
  };
  await run('ip', ['-n', node, 'link', 'add', bridge, 'mtu', String(mtu), 'type', 'bridge']);
  await run('ip', ['-n', node, 'link', 'set', bridge, 'up']);
  const gw = await netns.create('rgw');
  await run('ip', [
    '-n',
    node,
    'link',
    'add',
    gwLink,
    'mtu',
    String(mtu),
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'mtu',
    String(mtu),
    'netns',
    gw.path,
  ]);
  await run('ip', ['-n', node, 'link', 'set', gwLink, 'master', bridge, 'up']);
  const script = [
    'link set lo up',
    ...subnets.map(
      (s) =>
        `addr add ${s.gateway}/${s.cidr.split('/')[1]} dev eth0${s.gateway.includes(':') ? ' nodad' : ''}`,
    ),
    'link set eth0 up',
    '',
  ].join('\n');
  await run('ip', ['-n', gw.name, '-batch', '-'], { input: script });
  return {
    bridge,
    config,
    gatewayNetns: gw.name,
    invoke: (command, containerId, nsPath, ifName = 'eth0') =>
      runReference(
        node,
        command,
        { CNI_CONTAINERID: containerId, CNI_NETNS: nsPath, CNI_IFNAME: ifName },
        config,
      ),
    async close() {
      await run('ip', ['-n', node, 'link', 'del', gwLink]).catch(() => undefined);
      await run('ip', ['-n', node, 'link', 'del', bridge]).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** host-local range bounds for a chunk: its addresses without the subnet's reserved ones (as our IPAM). */
function rangeOf(chunk: string, subnet: PodSubnet): { rangeStart: string; rangeEnd: string } {
  const r = requireCidr(chunk);
  const reserved = new Set(reservedAddresses([subnet]));
  let first = r.network;
  let last = prefixLast(r);
  while (reserved.has(formatIp(r.family, first))) first++;
  while (reserved.has(formatIp(r.family, last))) last--;
  return { rangeStart: formatIp(r.family, first), rangeEnd: formatIp(r.family, last) };
}

function runReference(
  node: string,
  command: string,
  env: Record<string, string>,
  config: unknown,
): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    // In the node namespace, as the runtime would run it in the host namespace.
    const child = spawn('ip', ['netns', 'exec', node, join(ReferencePluginDir, 'bridge')], {
      env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_PATH: ReferencePluginDir, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    child.stdin.end(JSON.stringify(config));
  });
}
