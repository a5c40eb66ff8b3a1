/**
 * Test helper: named network namespaces standing in for pods, a gateway
 * namespace on the test bridge, and ping. Every name carries a per-run tag
 * so parallel test files never collide, and cleanup() removes all of them.
 */
import { randomBytes } from 'node:crypto';
import { run } from '../../../agents/host/netconf/exec.ts';
import type { TestOvs } from './ovs.ts';

export class NetnsSet {
  readonly tag = randomBytes(3).toString('hex');
  private readonly names = new Set<string>();

  /** Creates a namespace and returns its path (what a runtime passes as CNI_NETNS). */
  async create(suffix: string): Promise<{ name: string; path: string }> {
    const name = `cnit-${this.tag}-${suffix}`;
    await run('ip', ['netns', 'add', name]);
    this.names.add(name);
    return { name, path: `/var/run/netns/${name}` };
  }

  async remove(name: string): Promise<void> {
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
    this.names.delete(name);
  }

  /**
   * A namespace standing in for a node's host namespace: it holds the OVS
   * bridge (ovs-vswitchd runs in it) and the host ends of the pod veths.
   */
  createNode(): Promise<{ name: string; path: string }> {
    return this.create('node');
  }

  /**
   * A namespace holding the pod subnet gateways (what the opflex virtual
   * router answers in production), attached to the test bridge.
   */
  async createGateway(
    ovs: TestOvs,
    nodeNetns: string,
    addresses: readonly string[],
  ): Promise<string> {
    const { name, path } = await this.create('gw');
    const hostIf = `gw${this.tag}`;
    await run('ip', [
      '-n',
      nodeNetns,
      'link',
      'add',
      hostIf,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      path,
    ]);
    await run('ip', ['-n', nodeNetns, 'link', 'set', hostIf, 'up']);
    const script = [
      'link set lo up',
      ...addresses.map((a) => `addr add ${a} dev eth0${a.includes(':') ? ' nodad' : ''}`),
      'link set eth0 up',
      '',
    ].join('\n');
    await run('ip', ['-n', name, '-batch', '-'], { input: script });
    await ovs.vsctl('add-port', ovs.bridge, hostIf);
    return name;
  }

  async cleanup(): Promise<void> {
    for (const n of [...this.names]) await this.remove(n);
  }
}

/** One ping that may take a few retries (ARP, port pick-up by ovs-vswitchd); resolves to whether a reply came. */
export async function ping(
  netnsName: string,
  address: string,
  deadlineSeconds = 10,
): Promise<boolean> {
  try {
    await run('ip', [
      'netns',
      'exec',
      netnsName,
      'ping',
      '-c',
      '1',
      '-w',
      String(deadlineSeconds),
      '-q',
      address,
    ]);
    return true;
  } catch {
    return false;
  }
}

/** Lists links in a namespace (by name) whose name starts with prefix. */
export async function linksIn(netnsName: string, prefix: string): Promise<string[]> {
  const out = await run('ip', ['-n', netnsName, '-o', 'link', 'show']);
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(prefix));
}
