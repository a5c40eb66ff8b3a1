/**
 * The aci-containers-openvswitch container's job: run ovsdb-server and
 * ovs-vswitchd, restart them with backoff when they die, create the bridges
 * and repair them when someone deletes or changes them.
 *
 * Both daemons run in the foreground as children (no --detach), so an exit
 * is an event, not something found by polling a pidfile. All state (db,
 * sockets, logs) lives under one directory, so several instances (nodes in a
 * test) run side by side.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { backoffDelay } from '../../lib/kube/backoff.ts';
import { OvsdbClient, ovsScalar } from './ovsdb.ts';
import {
  type BridgeSpec,
  DefaultProtocols,
  ensureBridge,
  ensureRoot,
  listBridges,
} from './vswitch.ts';
import type { OfTarget } from './ofctl.ts';

const execFileP = promisify(execFile);

export const DefaultSchema = '/usr/share/openvswitch/vswitch.ovsschema';

export interface SupervisorOptions {
  /** Private OVS_RUNDIR = OVS_DBDIR = OVS_LOGDIR. */
  dir: string;
  bridges: string[];
  log: Logger;
  /** Default: netdev when the openvswitch kernel module is not loaded. */
  datapathType?: 'netdev' | 'system';
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How often bridges are re-checked besides the OVSDB monitor. */
  repairIntervalMs?: number;
  /**
   * Network namespace to run ovs-vswitchd in (default: the caller's). The
   * userspace datapath creates a tap named `ovs-netdev`, so two instances
   * (two simulated nodes) need separate namespaces.
   */
  netns?: string;
}

export interface HealthReport {
  ok: boolean;
  ovsdb: boolean;
  vswitchd: boolean;
  bridges: Record<string, boolean>;
}

/** The kernel datapath needs the module; without it, OVS's userspace datapath does the same job. */
export function detectDatapathType(): 'netdev' | 'system' {
  return existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
}

export const dbSocketPath = (dir: string): string => path.join(dir, 'db.sock');
export const vswitchdCtlPath = (dir: string): string => path.join(dir, 'ovs-vswitchd.ctl');

type DaemonName = 'ovsdb-server' | 'ovs-vswitchd';

interface Daemon {
  name: DaemonName;
  child?: ChildProcess;
  failures: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

export class OvsSupervisor {
  readonly dir: string;
  readonly datapathType: 'netdev' | 'system';
  private readonly log: Logger;
  private readonly daemons: Record<DaemonName, Daemon> = {
    'ovsdb-server': { name: 'ovsdb-server', failures: 0, startedAt: 0 },
    'ovs-vswitchd': { name: 'ovs-vswitchd', failures: 0, startedAt: 0 },
  };
  private db?: OvsdbClient;
  private stopping = false;
  private repairTimer?: NodeJS.Timeout;
  private repairing?: Promise<void>;

  constructor(private readonly opts: SupervisorOptions) {
    this.dir = opts.dir;
    this.log = opts.log;
    this.datapathType = opts.datapathType ?? detectDatapathType();
  }

  get dbSocket(): string {
    return dbSocketPath(this.dir);
  }

  target(bridge: string): OfTarget {
    return { rundir: this.dir, bridge };
  }

  bridgeSpec(name: string): BridgeSpec {
    return {
      name,
      datapathType: this.datapathType,
      failMode: 'secure',
      protocols: DefaultProtocols,
    };
  }

  pid(name: DaemonName): number | undefined {
    return this.daemons[name].child?.pid;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const dbFile = path.join(this.dir, 'conf.db');
    if (!existsSync(dbFile)) await execFileP('ovsdb-tool', ['create', dbFile, DefaultSchema]);
    this.spawnDaemon('ovsdb-server');
    await this.waitFor(() => existsSync(this.dbSocket), 'ovsdb-server socket');
    const db = await this.connectDbWhenListening();
    // TSO must be on before ovs-vswitchd starts, or TCP through veths on the
    // userspace datapath fails on bad checksums.
    await ensureRoot(db, { 'userspace-tso-enable': 'true' });
    this.spawnDaemon('ovs-vswitchd');
    await this.repair();
    // ovs-ofctl needs the bridge's management socket; it appears once ovs-vswitchd built the bridge.
    for (const b of this.opts.bridges) {
      await this.waitFor(
        () => existsSync(path.join(this.dir, `${b}.mgmt`)),
        `${b}.mgmt`,
        30_000,
      ).catch(async (err: Error) => {
        const tail = (
          await readFile(path.join(this.dir, 'ovs-vswitchd.log'), 'utf8').catch(() => '')
        )
          .split('\n')
          .slice(-15)
          .join('\n');
        throw new Error(`${err.message}; ovs-vswitchd.log:\n${tail}`);
      });
    }
    this.repairTimer = setInterval(() => void this.repair(), this.opts.repairIntervalMs ?? 2000);
    this.log.info(
      { dir: this.dir, datapathType: this.datapathType, bridges: this.opts.bridges },
      'Started Open vSwitch',
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.repairTimer);
    this.db?.close();
    await Promise.all(
      Object.values(this.daemons).map(async (d) => {
        clearTimeout(d.timer);
        const child = d.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.log.info({ dir: this.dir }, 'Stopped Open vSwitch');
  }

  /** Liveness: ovsdb answers echo, ovs-vswitchd answers on its control socket, bridges exist. */
  async health(): Promise<HealthReport> {
    return checkHealth(this.dir, this.opts.bridges);
  }

  /** Ensures every managed bridge exists with the right settings. Serialized. */
  repair(): Promise<void> {
    if (!this.repairing) {
      this.repairing = this.repairOnce().finally(() => {
        this.repairing = undefined;
      });
    }
    return this.repairing;
  }

  private async repairOnce(): Promise<void> {
    if (this.stopping) return;
    try {
      const db = await this.connectDb();
      for (const name of this.opts.bridges) {
        const result = await ensureBridge(db, this.bridgeSpec(name));
        if (result === 'created') this.log.info({ bridge: name }, 'Created bridge');
        if (result === 'repaired') this.log.warn({ bridge: name }, 'Repaired bridge settings');
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'Failed to repair bridges, will retry');
    }
  }

  /**
   * ovsdb-server binds its socket file before it listens on it, so a connect
   * right after the file appears can be refused: retry those for a while.
   */
  private async connectDbWhenListening(timeoutMs = 10_000): Promise<OvsdbClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.connectDb();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code !== 'ECONNREFUSED' && code !== 'ENOENT') || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async connectDb(): Promise<OvsdbClient> {
    if (this.db && !this.db.isClosed) return this.db;
    const db = await OvsdbClient.connect(this.dbSocket);
    this.db = db;
    // A deleted bridge is repaired right away; the interval catches the rest.
    db.on(
      'update',
      (_id: unknown, updates: Record<string, Record<string, { old?: unknown; new?: unknown }>>) => {
        const bridges = updates.Bridge ?? {};
        if (Object.values(bridges).some((u) => u.new === undefined)) void this.repair();
      },
    );
    await db.monitor('Open_vSwitch', 'supervisor', { Bridge: { columns: ['name'] } });
    return db;
  }

  private spawnDaemon(name: DaemonName): void {
    const d = this.daemons[name];
    const env = {
      ...process.env,
      OVS_RUNDIR: this.dir,
      OVS_DBDIR: this.dir,
      OVS_LOGDIR: this.dir,
      OVS_SYSCONFDIR: this.dir,
    };
    const common = [
      `--pidfile=${path.join(this.dir, `${name}.pid`)}`,
      `--unixctl=${path.join(this.dir, `${name}.ctl`)}`,
      `--log-file=${path.join(this.dir, `${name}.log`)}`,
      '-vconsole:off',
    ];
    const args =
      name === 'ovsdb-server'
        ? [path.join(this.dir, 'conf.db'), `--remote=punix:${this.dbSocket}`, ...common]
        : [`unix:${this.dbSocket}`, ...common];
    // `ip netns exec` execs in place: the child pid is the daemon's pid.
    const [cmd, argv] =
      name === 'ovs-vswitchd' && this.opts.netns
        ? ['ip', ['netns', 'exec', this.opts.netns, name, ...args]]
        : [name, args];
    const child = spawn(cmd, argv, { env, stdio: 'ignore' });
    d.child = child;
    d.startedAt = Date.now();
    this.log.info({ daemon: name, childPid: child.pid }, 'Started daemon');
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      // A daemon that ran for a while earns a fresh backoff.
      if (Date.now() - d.startedAt > 10_000) d.failures = 0;
      d.failures++;
      const delay = backoffDelay(d.failures - 1, {
        initialMs: this.opts.backoffInitialMs ?? 200,
        maxMs: this.opts.backoffMaxMs ?? 10_000,
      });
      this.log.warn(
        { daemon: name, code, signal, restartInMs: delay },
        'Daemon exited, restarting',
      );
      d.timer = setTimeout(() => {
        if (this.stopping) return;
        this.spawnDaemon(name);
        if (name === 'ovs-vswitchd') setTimeout(() => void this.repair(), 200);
      }, delay);
    });
  }

  private async waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Standalone health check (the `health` CLI command uses it without a running supervisor object). */
export async function checkHealth(dir: string, bridges: string[]): Promise<HealthReport> {
  const report: HealthReport = { ok: false, ovsdb: false, vswitchd: false, bridges: {} };
  let db: OvsdbClient | undefined;
  try {
    db = await OvsdbClient.connect(dbSocketPath(dir), 1000);
    await db.echo();
    report.ovsdb = true;
    const present = new Set((await listBridges(db)).map((b) => b.name));
    for (const b of bridges) report.bridges[b] = present.has(b);
  } catch {
    for (const b of bridges) report.bridges[b] = false;
  } finally {
    db?.close();
  }
  try {
    await execFileP('ovs-appctl', ['-t', vswitchdCtlPath(dir), 'version'], { timeout: 2000 });
    report.vswitchd = true;
  } catch {
    report.vswitchd = false;
  }
  report.ok = report.ovsdb && report.vswitchd && Object.values(report.bridges).every(Boolean);
  return report;
}

/** ofport of an interface, once ovs-vswitchd has attached it. */
export async function waitForOfport(
  db: OvsdbClient,
  name: string,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [res] = await db.transact('Open_vSwitch', [
      { op: 'select', table: 'Interface', where: [['name', '==', name]], columns: ['ofport'] },
    ]);
    const of = ovsScalar(res?.rows?.[0]?.ofport);
    if (typeof of === 'number' && of > 0) return of;
    if (Date.now() > deadline) throw new Error(`interface ${name} got no ofport`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
