/**
 * The mcast daemon: keeps this node joined to the multicast group of every
 * bridge domain it has endpoints in, and keeps the flood groups pointed at
 * the other members. It reads the same endpoint files as the opflex agent
 * and owns only the Flood table and the flood group id range.
 */
import type { Logger } from 'pino';
import { EndpointFile, EndpointFileSuffix } from '../opflex/files.ts';
import { folders } from '../opflex/agent.ts';
import { bridgeDomainVlan } from '../opflex/model.ts';
import { isFloodGroup } from '../opflex/pipeline.ts';
import { PortMonitor, SyncLoop } from '../opflex/sync-loop.ts';
import { FolderWatcher } from '../opflex/watcher.ts';
import type { Fabric } from './fabric.ts';
import {
  type BridgeDomainState,
  bridgeDomainGroup,
  mcastCanaryFlow,
  renderFlood,
} from './render.ts';

export interface McastOptions {
  nodeName: string;
  stateDir: string;
  ovsRundir: string;
  bridge: string;
  fabric: Fabric;
  /** Fabric links toward other nodes (the same list the opflex agent gets). */
  fabricLinks: { node: string; port: string }[];
  bridgeDomainVlans?: Record<string, number>;
  log: Logger;
  /** Membership is re-read this often (other nodes join and leave). */
  refreshIntervalMs?: number;
  probeIntervalMs?: number;
}

export class McastDaemon {
  private readonly log: Logger;
  private readonly endpoints: FolderWatcher<typeof EndpointFile>;
  private readonly ports: PortMonitor;
  private readonly loop: SyncLoop;
  private joined = new Set<string>();
  private members = new Map<string, string[]>();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(private readonly opts: McastOptions) {
    this.log = opts.log.child({ component: 'mcast-daemon' });
    this.endpoints = new FolderWatcher(
      folders(opts.stateDir).endpoints,
      EndpointFileSuffix,
      EndpointFile,
      this.log,
      () => void this.refresh(),
      2000,
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
    await this.refresh();
    this.loop.start();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshIntervalMs ?? 1000);
    this.log.info({ node: this.opts.nodeName, bridge: this.opts.bridge }, 'Started mcast daemon');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.endpoints.stop();
    this.ports.stop();
    await this.loop.stop();
    for (const g of this.joined)
      await this.opts.fabric.leave(g, this.opts.nodeName).catch(() => undefined);
  }

  /** Rescans endpoints and membership, then waits for the resulting sync. */
  async settled(): Promise<void> {
    await this.endpoints.scan();
    await this.refresh();
    await this.loop.settled();
  }

  private vlanOf(bd: string): number {
    return bridgeDomainVlan(bd, this.opts.bridgeDomainVlans ?? {});
  }

  /** Joins the groups of local bridge domains, leaves the others, re-reads members. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const wanted = new Set(
        this.endpoints.values().map((ep) => bridgeDomainGroup(this.vlanOf(ep.bridgeDomain))),
      );
      for (const g of wanted) {
        if (this.joined.has(g)) continue;
        await this.opts.fabric.join(g, this.opts.nodeName);
        this.log.info({ group: g }, 'Joined bridge domain group');
      }
      for (const g of this.joined) {
        if (wanted.has(g)) continue;
        await this.opts.fabric.leave(g, this.opts.nodeName);
        this.log.info({ group: g }, 'Left bridge domain group');
      }
      this.joined = wanted;
      const members = new Map<string, string[]>();
      for (const g of wanted) members.set(g, await this.opts.fabric.members(g));
      const changed = JSON.stringify([...members]) !== JSON.stringify([...this.members]);
      this.members = members;
      if (changed) this.loop.requestSync('membership');
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private domains(): BridgeDomainState[] {
    const byVlan = new Map<number, BridgeDomainState>();
    for (const ep of this.endpoints.values()) {
      const ofport = this.ports.ofports.get(ep.interfaceName);
      if (ofport === undefined) continue;
      const vlan = this.vlanOf(ep.bridgeDomain);
      const group = bridgeDomainGroup(vlan);
      const bd = byVlan.get(vlan) ?? {
        name: ep.bridgeDomain,
        vlan,
        group,
        localPorts: [],
        remoteLinks: [],
      };
      bd.localPorts.push(ofport);
      byVlan.set(vlan, bd);
    }
    for (const bd of byVlan.values()) {
      bd.localPorts.sort((a, b) => a - b);
      for (const node of this.members.get(bd.group) ?? []) {
        if (node === this.opts.nodeName) continue;
        const link = this.opts.fabricLinks.find((l) => l.node === node);
        const ofport = link ? this.ports.ofports.get(link.port) : undefined;
        if (ofport !== undefined) bd.remoteLinks.push({ node, ofport });
      }
    }
    return [...byVlan.values()];
  }
}
