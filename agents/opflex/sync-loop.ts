/**
 * The reconcile loop shared by the opflex agent and the mcast daemon.
 *
 * Level-based: every trigger (a file changed, a port got its ofport,
 * ovs-vswitchd restarted, a retry) only asks for a sync; a sync renders the
 * current state (the opflex agent's renderer redoes only what changed) and
 * lets the installer apply the diff. Syncs are
 * serialized and coalesced, so a burst of writes costs one render; a failed
 * sync retries with backoff. A canary flow detects an ovs-vswitchd restart
 * (flows and groups gone): then the cache is dropped and everything is
 * re-rendered.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { type OfTarget, dumpCookies } from '../openvswitch/ofctl.ts';
import { OvsdbClient, type TableUpdates } from '../openvswitch/ovsdb.ts';
import { interfaceFromRow } from '../openvswitch/vswitch.ts';
import { CookieMemo, type VersionedDesired, flowCookie } from './diff.ts';
import { type InstallResult, Installer } from './install.ts';
import type { CookieOwner, Flow, Group } from './pipeline.ts';

export interface SyncLoopOptions {
  target: OfTarget;
  owner: CookieOwner;
  ownsGroup: (id: number) => boolean;
  /**
   * Must include `canary`. Either the whole flow set (cookies are memoized
   * here) or a renderer's versioned desired state, whose delta lets the
   * installer plan from the change alone (render-incremental.ts).
   */
  render: () => { flows: Flow[]; groups: Group[] } | VersionedDesired;
  canary: Flow;
  log: Logger;
  probeIntervalMs?: number;
}

const execFileP = promisify(execFile);

/**
 * Drops every cached datapath flow (megaflow) of this ovs-vswitchd, so the
 * next packet of each flow is translated against the tables just installed.
 *
 * Why not rely on revalidation: ovs-vswitchd (seen on 3.1, userspace
 * datapath, several instances on a loaded host) can keep a megaflow that was
 * translated under the previous tables. The conformance test caught a
 * `ct_state=+new ... actions:drop` megaflow from the previous case (its mask
 * still had the nw_src the old ingress clauses needed) serving every new
 * connection of an allowed pair for 10+ s, through several
 * `revalidator/wait` rounds, while `ofproto/trace` of the same packet on the
 * installed tables said allow; only a purge removed it. A stale megaflow is a
 * wrong verdict in both directions (a denied pair stays denied, and after a
 * policy tightens a stale allow would keep admitting new connections), so
 * each installed change is followed by a purge. Cheap: established flows
 * take one upcall each to come back.
 */
export async function purgeDatapathFlows(t: OfTarget, timeoutMs = 5000): Promise<void> {
  await execFileP(
    'ovs-appctl',
    ['-t', path.join(t.rundir, 'ovs-vswitchd.ctl'), 'revalidator/purge'],
    { timeout: timeoutMs },
  );
}

export class SyncLoop extends EventEmitter {
  private readonly installer: Installer;
  private readonly cookies: CookieMemo;
  private stopped = false;
  private syncing?: Promise<void>;
  private syncAgain = false;
  private retryTimer?: NodeJS.Timeout;
  private retryDelay = 100;
  private probeTimer?: NodeJS.Timeout;
  lastResult?: InstallResult;

  constructor(private readonly opts: SyncLoopOptions) {
    super();
    this.installer = new Installer(opts.target, opts.owner, opts.ownsGroup, opts.log);
    this.cookies = new CookieMemo(opts.owner);
  }

  start(): void {
    this.probeTimer = setInterval(() => void this.probe(), this.opts.probeIntervalMs ?? 1000);
    this.requestSync('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.probeTimer);
    clearTimeout(this.retryTimer);
    await this.syncing;
  }

  requestSync(reason: string): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = this.runSyncs(reason).finally(() => {
      this.syncing = undefined;
    });
  }

  /**
   * Resolves once a sync requested now has finished and no datapath flow
   * translated under older tables is left: every installed change already
   * purged the datapath cache (see purgeDatapathFlows); one more purge here
   * also drops a megaflow an upcall translated with the old tables while
   * that bundle was being committed.
   */
  async settled(): Promise<void> {
    this.requestSync('settle');
    while (this.syncing) await this.syncing;
    await purgeDatapathFlows(this.opts.target).catch(() => undefined);
  }

  /** Resolves once no sync is running or queued; requests none (work production would not do). */
  async idle(): Promise<void> {
    while (this.syncing) await this.syncing;
  }

  private async runSyncs(reason: string): Promise<void> {
    do {
      this.syncAgain = false;
      await this.syncOnce(reason);
      reason = 'coalesced';
    } while (this.syncAgain && !this.stopped);
  }

  private async syncOnce(reason: string): Promise<void> {
    const rendered = this.opts.render();
    try {
      this.lastResult = await this.installer.apply(
        'state' in rendered ? rendered : this.cookies.desired(rendered.flows, rendered.groups),
      );
      const r = this.lastResult;
      if (r.flowAdds + r.flowDeletes + r.groupWrites + r.groupDeletes > 0)
        await purgeDatapathFlows(this.opts.target).catch((err: unknown) =>
          this.opts.log.warn(
            { err: String(err).slice(0, 300) },
            'Failed to purge datapath flows after install',
          ),
        );
      this.retryDelay = 100;
      this.emit('synced', this.lastResult, reason);
    } catch (err) {
      this.opts.log.warn(
        { err: String(err).slice(0, 500), retryInMs: this.retryDelay },
        'Failed to install flows, retrying',
      );
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.requestSync('retry'), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 5000);
    }
  }

  private async probe(): Promise<void> {
    if (this.stopped || this.syncing) return;
    try {
      const present = await dumpCookies(
        this.opts.target,
        flowCookie(this.opts.owner, this.opts.canary),
        (1n << 64n) - 1n,
      );
      if (present.length === 0) {
        this.opts.log.warn(
          { bridge: this.opts.target.bridge },
          'Detected missing flows, re-rendering everything',
        );
        this.installer.invalidate();
        this.requestSync('flows-lost');
      }
    } catch {
      // ovs-vswitchd is down; the first probe after it is back finds the canary gone.
      this.installer.invalidate();
    }
  }
}

/**
 * Interface name -> ofport, from an OVSDB monitor; reconnects when
 * ovsdb-server restarts. Calls `onChange` when a mapping changed.
 */
export class PortMonitor {
  readonly ofports = new Map<string, number>();
  private db?: OvsdbClient;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;

  constructor(
    private readonly ovsRundir: string,
    private readonly monitorId: string,
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly onConnect?: (db: OvsdbClient) => Promise<void>,
  ) {}

  async start(): Promise<void> {
    await this.connect().catch((err) => {
      this.log.warn({ err: String(err) }, 'Failed to connect to OVSDB, retrying');
      this.scheduleReconnect();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.db?.close();
  }

  private async connect(): Promise<void> {
    const db = await OvsdbClient.connect(path.join(this.ovsRundir, 'db.sock'));
    this.db = db;
    db.on('close', () => {
      if (!this.stopped) this.scheduleReconnect();
    });
    db.on('update', (_id: unknown, updates: TableUpdates) => this.apply(updates));
    const initial = await db.monitor('Open_vSwitch', this.monitorId, {
      Interface: { columns: ['name', 'ofport'] },
    });
    this.ofports.clear();
    this.apply(initial);
    this.onChange();
    await this.onConnect?.(db).catch(() => undefined);
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch(() => this.scheduleReconnect());
    }, 500);
  }

  private apply(updates: TableUpdates): void {
    let changed = false;
    for (const u of Object.values(updates.Interface ?? {})) {
      const name = interfaceFromRow(u.new?.name !== undefined ? u.new : (u.old ?? {})).name;
      const of = u.new ? interfaceFromRow(u.new).ofport : undefined;
      if (of === undefined) changed = this.ofports.delete(name) || changed;
      else if (this.ofports.get(name) !== of) {
        this.ofports.set(name, of);
        changed = true;
      }
    }
    if (changed) this.onChange();
  }
}
