/**
 * The opflex agent: contract files + OVSDB ports -> model -> flows and
 * groups -> one bundle per change (see sync-loop.ts for the loop).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { OfTarget } from '../openvswitch/ofctl.ts';
import { setFlowTableNames } from '../openvswitch/vswitch.ts';
import {
  EndpointFile,
  EndpointFileSuffix,
  SecurityGroupFile,
  SecurityGroupFileSuffix,
  ServiceFile,
  ServiceFileSuffix,
} from './files.ts';
import type { InstallResult } from './install.ts';
import { type DataplaneConfig, type Model, buildModel } from './model.ts';
import { Tables, isServiceGroup } from './pipeline.ts';
import { canaryFlow, renderPipeline } from './render.ts';
import { PortMonitor, SyncLoop } from './sync-loop.ts';
import { FolderWatcher } from './watcher.ts';

export interface AgentOptions {
  config: DataplaneConfig;
  /** Holds endpoints/, services/, security-groups/. */
  stateDir: string;
  ovsRundir: string;
  bridge: string;
  log: Logger;
  rescanIntervalMs?: number;
  /** How often the canary flow is checked to detect an ovs-vswitchd restart. */
  probeIntervalMs?: number;
}

export const folders = (
  stateDir: string,
): { endpoints: string; services: string; securityGroups: string } => ({
  endpoints: path.join(stateDir, 'endpoints'),
  services: path.join(stateDir, 'services'),
  securityGroups: path.join(stateDir, 'security-groups'),
});

export class OpflexAgent {
  readonly target: OfTarget;
  private readonly log: Logger;
  private readonly watchers;
  private readonly ports: PortMonitor;
  private readonly loop: SyncLoop;
  lastModel?: Model;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log.child({ component: 'opflex-agent' });
    this.target = { rundir: opts.ovsRundir, bridge: opts.bridge };
    const f = folders(opts.stateDir);
    const changed = (): void => this.loop.requestSync('files');
    const every = opts.rescanIntervalMs ?? 5000;
    this.watchers = {
      endpoints: new FolderWatcher(
        f.endpoints,
        EndpointFileSuffix,
        EndpointFile,
        this.log,
        changed,
        every,
      ),
      services: new FolderWatcher(
        f.services,
        ServiceFileSuffix,
        ServiceFile,
        this.log,
        changed,
        every,
      ),
      securityGroups: new FolderWatcher(
        f.securityGroups,
        SecurityGroupFileSuffix,
        SecurityGroupFile,
        this.log,
        changed,
        every,
      ),
    };
    // Named tables make `ovs-ofctl --names dump-flows` readable; they live in OVSDB and survive ovs-vswitchd restarts.
    const nameTables = (db: Parameters<typeof setFlowTableNames>[0]): Promise<void> =>
      setFlowTableNames(db, opts.bridge, new Map(Tables.map((t) => [t.id, t.name])));
    this.ports = new PortMonitor(
      opts.ovsRundir,
      'opflex',
      () => this.loop.requestSync('ports'),
      this.log,
      nameTables,
    );
    this.loop = new SyncLoop({
      target: this.target,
      owner: 'opflex',
      ownsGroup: isServiceGroup,
      render: () => this.render(),
      canary: canaryFlow(),
      log: this.log,
      probeIntervalMs: opts.probeIntervalMs,
    });
  }

  get lastResult(): InstallResult | undefined {
    return this.loop.lastResult;
  }

  async start(): Promise<void> {
    await Promise.all(Object.values(this.watchers).map((w) => w.start()));
    await this.ports.start();
    this.loop.start();
    this.log.info(
      { bridge: this.opts.bridge, stateDir: this.opts.stateDir },
      'Started opflex agent',
    );
  }

  async stop(): Promise<void> {
    for (const w of Object.values(this.watchers)) w.stop();
    this.ports.stop();
    await this.loop.stop();
  }

  /** Rescans the folders now and resolves after the resulting sync (tests, the demo). */
  async settled(): Promise<void> {
    await Promise.all(Object.values(this.watchers).map((w) => w.scan()));
    await this.loop.settled();
  }

  private render(): ReturnType<typeof renderPipeline> {
    const model = buildModel(
      this.opts.config,
      {
        endpoints: this.watchers.endpoints.values(),
        securityGroups: this.watchers.securityGroups.values(),
        services: this.watchers.services.values(),
      },
      this.ports.ofports,
    );
    const rendered = renderPipeline(model);
    for (const f of rendered.conflicts)
      this.log.warn({ table: f.table, match: f.match }, 'Dropped conflicting flow');
    this.lastModel = model;
    return rendered;
  }
}
