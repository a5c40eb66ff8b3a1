/**
 * The supervisor against the real daemons: start, health, bridge repair
 * after deletion and after a settings change, daemon restart after a kill.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { OvsdbClient } from './ovsdb.ts';
import { OvsSupervisor, checkHealth } from './supervisor.ts';
import { OvsDb, deleteBridge, listBridges } from './vswitch.ts';

const execFileP = promisify(execFile);
const Tag = `sp${process.pid % 1000}`;
const Bridge = `br${Tag}`;
const Netns = `${Tag}-node`;
let sup: OvsSupervisor;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dp-supervisor-'));
  await execFileP('ip', ['netns', 'add', Netns]);
  sup = new OvsSupervisor({
    dir,
    bridges: [Bridge],
    log: pino({ level: 'warn' }),
    netns: Netns,
    repairIntervalMs: 500,
    backoffInitialMs: 100,
  });
  await sup.start();
});

test.after.always(async () => {
  await sup?.stop();
  await execFileP('ip', ['netns', 'del', Netns]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function eventually(check: () => Promise<boolean>, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check().catch(() => false);
}

const healthy = async (): Promise<boolean> => (await sup.health()).ok;

test.serial('starts healthy with a secure netdev bridge and TSO enabled', async (t) => {
  t.deepEqual(await checkHealth(dir, [Bridge]), {
    ok: true,
    ovsdb: true,
    vswitchd: true,
    bridges: { [Bridge]: true },
  });
  const db = await OvsdbClient.connect(sup.dbSocket);
  const [br] = (await listBridges(db)).filter((b) => b.name === Bridge);
  t.is(br?.failMode, 'secure');
  t.is(br?.datapathType, sup.datapathType);
  const [root] = await db.transact(OvsDb, [
    { op: 'select', table: 'Open_vSwitch', where: [], columns: ['other_config'] },
  ]);
  t.regex(JSON.stringify(root?.rows), /userspace-tso-enable","true/);
  db.close();
});

test.serial('a deleted bridge is recreated', async (t) => {
  const db = await OvsdbClient.connect(sup.dbSocket);
  await deleteBridge(db, Bridge);
  t.true(
    await eventually(async () => (await listBridges(db)).some((b) => b.name === Bridge), 5000),
  );
  t.true(await eventually(healthy, 5000));
  db.close();
});

test.serial('a bridge switched to standalone is set back to secure', async (t) => {
  const db = await OvsdbClient.connect(sup.dbSocket);
  await db.transact(OvsDb, [
    {
      op: 'update',
      table: 'Bridge',
      where: [['name', '==', Bridge]],
      row: { fail_mode: 'standalone' },
    },
  ]);
  t.true(
    await eventually(
      async () => (await listBridges(db)).find((b) => b.name === Bridge)?.failMode === 'secure',
      5000,
    ),
  );
  db.close();
});

test.serial('killed daemons are restarted and health recovers', async (t) => {
  for (const name of ['ovs-vswitchd', 'ovsdb-server'] as const) {
    const pid = sup.pid(name);
    process.kill(pid ?? 0, 'SIGKILL');
    t.true(
      await eventually(async () => sup.pid(name) !== pid && (await healthy()), 10_000),
      `${name} back`,
    );
  }
});

test.serial('health reports a dead daemon', async (t) => {
  const report = await checkHealth(path.join(dir, 'nonexistent'), [Bridge]);
  t.false(report.ok);
  t.false(report.ovsdb);
});
