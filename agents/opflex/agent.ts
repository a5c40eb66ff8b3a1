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
import { canaryFlow } from './render.ts';
import { type IncrementalRender, IncrementalRenderer } from './render-incremental.ts';
import { PortMonitor, SyncLoop } from './sync-loop.ts';
import { FolderWatcher } from './watcher.ts';
import { epgUri } from './policy/contract-model.ts';
import type { ContractModel } from './policy/contract-model.ts';
import { resolveContracts } from './policy/resolve.ts';
import type { PolicySource } from './policy/source.ts';

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
  /** The OpFlex client's store of resolved policy; without it contracts are not enforced. */
  policy?: PolicySource;
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
  private unsubscribePolicy?: () => void;
  private declaredEndpoints = '';
  private reportedProblems = '';
  private reportedClasses = '';
  private policyVersion = 0;
  private resolved?: { key: string; model: ContractModel };
  private readonly renderer = new IncrementalRenderer('opflex');

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
    this.unsubscribePolicy = this.opts.policy?.onChange(() => {
      this.policyVersion++;
      this.loop.requestSync('policy');
    });
    this.loop.start();
    this.log.info(
      { bridge: this.opts.bridge, stateDir: this.opts.stateDir },
      'Started opflex agent',
    );
  }

  async stop(): Promise<void> {
    for (const w of Object.values(this.watchers)) w.stop();
    this.unsubscribePolicy?.();
    this.ports.stop();
    await this.loop.stop();
  }

  /** Rescans the folders now and resolves after the resulting sync (tests, the demo). */
  async settled(): Promise<void> {
    await Promise.all(Object.values(this.watchers).map((w) => w.scan()));
    await this.loop.settled();
  }

  /** The contract model of the current policy for the current endpoints (undefined without a policy source). */
  private contracts(endpoints: EndpointFile[]): ContractModel | undefined {
    const source = this.opts.policy;
    if (!source) return undefined;
    const key = JSON.stringify(endpoints);
    if (key !== this.declaredEndpoints) {
      this.declaredEndpoints = key;
      source.localEndpoints?.(endpoints);
    }
    const groups = new Set(endpoints.map((ep) => epgUri(ep.endpointGroup)));
    // Resolving is the costly part (~1 s at 40,000 objects): only when the policy or the local EPGs changed.
    const resolvedKey = `${this.policyVersion}\n${[...groups].sort().join('\n')}`;
    if (this.resolved?.key === resolvedKey) return this.resolved.model;
    const model = resolveContracts(source.objects(), { localEpgs: groups });
    this.resolved = { key: resolvedKey, model };
    // Class ids are what flows and traces show: say once per change which EPG each one is.
    const classes = Object.fromEntries(
      [...model.epgs.values()]
        .filter((e) => groups.has(e.uri))
        .map((e) => [e.uri, `0x${e.classId.toString(16)}`]),
    );
    const classKey = JSON.stringify(classes);
    if (classKey !== this.reportedClasses) {
      this.reportedClasses = classKey;
      this.log.info({ classes, rules: model.rules.length }, 'Resolved endpoint groups');
    }
    const problems = model.problems.join('\n');
    if (problems !== this.reportedProblems) {
      this.reportedProblems = problems;
      if (model.problems.length > 0)
        this.log.warn({ problems: model.problems }, 'Resolved contract policy with problems');
    }
    return model;
  }

  private render(): IncrementalRender {
    const endpoints = this.watchers.endpoints.values();
    const model = buildModel(
      this.opts.config,
      {
        endpoints,
        securityGroups: this.watchers.securityGroups.values(),
        services: this.watchers.services.values(),
      },
      this.ports.ofports,
      this.contracts(endpoints),
    );
    const rendered = this.renderer.render(model);
    for (const f of rendered.newConflicts)
      this.log.warn({ table: f.table, match: f.match }, 'Dropped conflicting flow');
    this.lastModel = model;
    return rendered;
  }
}
