/**
 * The mcast daemon: keeps the flood groups of every bridge domain that has
 * local endpoints pointed at the local ports and at the uplink. With VLAN
 * encap the leaf floods per VLAN to every other node's port, so the node
 * needs no membership of its own (the original's mcast daemon only matters
 * for VXLAN, where the node joins the domain's multicast group). It reads
 * the same endpoint files as the opflex agent and owns only the Flood table
 * and the flood group id range.
 */
import type { Logger } from 'pino';
import { EndpointFile, EndpointFileSuffix } from '../opflex/files.ts';
import { folders } from '../opflex/agent.ts';
import { type UplinkConfig, bridgeDomainVlan } from '../opflex/model.ts';
import { isFloodGroup } from '../opflex/pipeline.ts';
import { PortMonitor, SyncLoop } from '../opflex/sync-loop.ts';
import { FolderWatcher } from '../opflex/watcher.ts';
import { type BridgeDomainState, mcastCanaryFlow, renderFlood } from './render.ts';

export interface McastOptions {
  nodeName: string;
  stateDir: string;
  ovsRundir: string;
  bridge: string;
  /** The uplink toward the leaf (the same one the opflex agent gets). */
  uplink?: UplinkConfig;
  bridgeDomainVlans?: Record<string, number>;
  log: Logger;
  rescanIntervalMs?: number;
  probeIntervalMs?: number;
}

export class McastDaemon {
  private readonly log: Logger;
  private readonly endpoints: FolderWatcher<typeof EndpointFile>;
  private readonly ports: PortMonitor;
  private readonly loop: SyncLoop;

  constructor(private readonly opts: McastOptions) {
    this.log = opts.log.child({ component: 'mcast-daemon' });
    this.endpoints = new FolderWatcher(
      folders(opts.stateDir).endpoints,
      EndpointFileSuffix,
      EndpointFile,
      this.log,
      () => this.loop.requestSync('files'),
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
    this.log.info(
      { node: this.opts.nodeName, bridge: this.opts.bridge, uplink: this.opts.uplink },
      'Started mcast daemon',
    );
  }

  async stop(): Promise<void> {
    this.endpoints.stop();
    this.ports.stop();
    await this.loop.stop();
  }

  /** Rescans endpoints, then waits for the resulting sync. */
  async settled(): Promise<void> {
    await this.endpoints.scan();
    await this.loop.settled();
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
      const bd = byVlan.get(vlan) ?? {
        name: ep.bridgeDomain,
        vlan,
        localPorts: [],
        ...(uplinkOfport !== undefined ? { uplinkOfport } : {}),
      };
      bd.localPorts.push(ofport);
      byVlan.set(vlan, bd);
    }
    for (const bd of byVlan.values()) bd.localPorts.sort((a, b) => a - b);
    return [...byVlan.values()];
  }
}
