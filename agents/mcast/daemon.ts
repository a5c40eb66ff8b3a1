/**
 * The mcast daemon: keeps the flood groups of every bridge domain that has
 * local endpoints pointed at the local ports and at the uplink. With VLAN
 * encap the leaf floods per VLAN to every other node's port, so the node
 * needs no membership of its own. With VXLAN encap the leaf sends a
 * domain's BUM to the domain's multicast group (GIPo), so, as the
 * original's mcast daemon does, the node joins the group of every domain it
 * has endpoints in, on the interface holding its VTEP address: a real IGMP
 * membership by the kernel (`ip addr add <group>/32 dev <if> autojoin`),
 * which the leaf's IGMP snooping sees. It reads the same endpoint files as
 * the opflex agent and owns only the Flood table and the flood group id range.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { EndpointFile, EndpointFileSuffix } from '../opflex/files.ts';
import { folders } from '../opflex/agent.ts';
import { type UplinkConfig, bridgeDomainVlan } from '../opflex/model.ts';
import { isFloodGroup } from '../opflex/pipeline.ts';
import { PortMonitor, SyncLoop } from '../opflex/sync-loop.ts';
import { FolderWatcher } from '../opflex/watcher.ts';
import { type BridgeDomainState, mcastCanaryFlow, renderFlood } from './render.ts';

const execFileP = promisify(execFile);
const isMulticast = (ip: string): boolean => {
  const first = Number(ip.split('.')[0]);
  return first >= 224 && first <= 239;
};

export interface McastOptions {
  nodeName: string;
  stateDir: string;
  ovsRundir: string;
  bridge: string;
  /** The uplink toward the leaf (the same one the opflex agent gets). */
  uplink?: UplinkConfig;
  bridgeDomainVlans?: Record<string, number>;
  /** vxlan uplink: VNI and multicast group per bridge domain, and the VTEP's interface. */
  bridgeDomainVnis?: Record<string, number>;
  bridgeDomainGroups?: Record<string, string>;
  groupInterface?: string;
  /**
   * The node's network namespace when this process is not in it (tests run
   * every node's daemon in one process); production runs in it (hostNetwork).
   */
  hostNetns?: string;
  log: Logger;
  rescanIntervalMs?: number;
  probeIntervalMs?: number;
}

export class McastDaemon {
  private readonly log: Logger;
  private readonly endpoints: FolderWatcher<typeof EndpointFile>;
  private readonly ports: PortMonitor;
  private readonly loop: SyncLoop;
  private membership?: Promise<void>;
  private membershipAgain = false;
  private membershipTimer?: NodeJS.Timeout;
  private membershipRetryMs = 200;
  private stopped = false;

  constructor(private readonly opts: McastOptions) {
    this.log = opts.log.child({ component: 'mcast-daemon' });
    this.endpoints = new FolderWatcher(
      folders(opts.stateDir).endpoints,
      EndpointFileSuffix,
      EndpointFile,
      this.log,
      () => {
        this.loop.requestSync('files');
        this.requestMembership();
      },
      opts.rescanIntervalMs ?? 2000,
    );
    this.ports = new PortMonitor(
      opts.ovsRundir,
      'mcast',
      () => this.loop.requestSync('ports'),
      this.log,
    );
    this.loop = new SyncLoop({
      target: { rundir: opts.ovsRundir, bridge: opts.bridge },
      owner: 'mcast',
      ownsGroup: isFloodGroup,
      render: () => renderFlood(this.domains()),
      canary: mcastCanaryFlow(),
      log: this.log,
      probeIntervalMs: opts.probeIntervalMs,
    });
  }

  async start(): Promise<void> {
    await this.endpoints.start();
    await this.ports.start();
    this.loop.start();
    this.requestMembership();
    this.log.info(
      { node: this.opts.nodeName, bridge: this.opts.bridge, uplink: this.opts.uplink },
      'Started mcast daemon',
    );
  }

  /**
   * Memberships are left in place: a restart (every config rewrite) must
   * not cut a domain's BUM, and the next daemon reconciles them.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.membershipTimer);
    await this.membership;
    this.endpoints.stop();
    this.ports.stop();
    await this.loop.stop();
  }

  /**
   * Resolves once the work already queued (a folder scan, then the sync it
   * asked for) is done. It starts none: a test that waits on it sees only
   * what production does, so it cannot hide a change the daemon missed.
   */
  async settled(): Promise<void> {
    await this.endpoints.idle();
    await this.loop.idle();
    while (this.membership) await this.membership;
  }

  /** The groups to be joined: those of the bridge domains with local endpoints. */
  wantedGroups(): string[] {
    const groups = this.opts.bridgeDomainGroups ?? {};
    const wanted = new Set<string>();
    for (const ep of this.endpoints.values()) {
      const g = groups[ep.bridgeDomain];
      if (g !== undefined) wanted.add(g);
    }
    return [...wanted].sort();
  }

  private requestMembership(): void {
    if (this.stopped || this.opts.groupInterface === undefined) return;
    if (this.membership) {
      this.membershipAgain = true;
      return;
    }
    this.membership = (async () => {
      do {
        this.membershipAgain = false;
        await this.syncMembership();
      } while (this.membershipAgain && !this.stopped);
    })().finally(() => {
      this.membership = undefined;
    });
  }

  /** Joins the wanted groups and leaves the others; a failure (no interface yet) retries with backoff. */
  private async syncMembership(): Promise<void> {
    const dev = this.opts.groupInterface;
    if (dev === undefined) return;
    try {
      const joined = await this.joinedGroups(dev);
      const wanted = new Set(this.wantedGroups());
      for (const g of wanted) {
        if (joined.has(g)) continue;
        await this.ip(['addr', 'add', `${g}/32`, 'dev', dev, 'autojoin']);
        this.log.info({ group: g, interface: dev }, 'Joined bridge domain group');
      }
      for (const g of joined) {
        if (wanted.has(g)) continue;
        await this.ip(['addr', 'del', `${g}/32`, 'dev', dev]);
        this.log.info({ group: g, interface: dev }, 'Left bridge domain group');
      }
      this.membershipRetryMs = 200;
    } catch (err) {
      this.log.warn(
        { err: String(err).slice(0, 300), interface: dev, retryInMs: this.membershipRetryMs },
        'Failed to join bridge domain groups, retrying',
      );
      clearTimeout(this.membershipTimer);
      this.membershipTimer = setTimeout(() => this.requestMembership(), this.membershipRetryMs);
      this.membershipRetryMs = Math.min(this.membershipRetryMs * 2, 5000);
    }
  }

  /** Multicast addresses on the interface: the groups this daemon joined. */
  private async joinedGroups(dev: string): Promise<Set<string>> {
    const out = JSON.parse(await this.ip(['-j', 'addr', 'show', 'dev', dev])) as {
      addr_info?: { family?: string; local?: string }[];
    }[];
    const groups = new Set<string>();
    for (const link of out)
      for (const a of link.addr_info ?? [])
        if (a.family === 'inet' && a.local && isMulticast(a.local)) groups.add(a.local);
    return groups;
  }

  private async ip(args: string[]): Promise<string> {
    const ns = this.opts.hostNetns;
    const { stdout } = await execFileP('ip', ns ? ['-n', ns, ...args] : args, { timeout: 10_000 });
    return stdout;
  }

  private vlanOf(bd: string): number {
    return bridgeDomainVlan(bd, this.opts.bridgeDomainVlans ?? {});
  }

  private domains(): BridgeDomainState[] {
    const uplinkOfport = this.opts.uplink
      ? this.ports.ofports.get(this.opts.uplink.port)
      : undefined;
    const byVlan = new Map<number, BridgeDomainState>();
    for (const ep of this.endpoints.values()) {
      const ofport = this.ports.ofports.get(ep.interfaceName);
      if (ofport === undefined) continue;
      const vlan = this.vlanOf(ep.bridgeDomain);
      const vni = this.opts.bridgeDomainVnis?.[ep.bridgeDomain];
      const bd = byVlan.get(vlan) ?? {
        name: ep.bridgeDomain,
        vlan,
        localPorts: [],
        ...(uplinkOfport !== undefined ? { uplinkOfport } : {}),
        ...(this.opts.uplink ? { encap: this.opts.uplink.encap } : {}),
        ...(vni !== undefined ? { vni } : {}),
      };
      bd.localPorts.push(ofport);
      byVlan.set(vlan, bd);
    }
    for (const bd of byVlan.values()) bd.localPorts.sort((a, b) => a - b);
    return [...byVlan.values()];
  }
}
