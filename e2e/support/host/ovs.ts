/**
 * Test helper: a private Open vSwitch (ovsdb-server + userspace
 * ovs-vswitchd) in a temporary directory, with one netdev bridge doing plain
 * L2 forwarding. The real supervisor is agents/openvswitch; this is the
 * minimum the CNI data-plane tests need, so they do not depend on it.
 *
 * ovs-vswitchd runs inside the given "node" network namespace: the
 * userspace datapath creates a tap device named `ovs-netdev`, so two
 * instances in one namespace fail ("Device or resource busy"), and test
 * files (ours and other engineers') run in parallel.
 */
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../agents/host/netconf/exec.ts';

export interface TestOvs {
  readonly dir: string;
  /** `unix:<dir>/db.sock`, for ovs-vsctl --db and LinuxDataplane.ovsdb. */
  readonly db: string;
  readonly bridge: string;
  readonly env: NodeJS.ProcessEnv;
  vsctl(...args: string[]): Promise<string>;
  ofctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestOvs(bridge: string, nodeNetns: string): Promise<TestOvs> {
  const dir = await mkdtemp(join(tmpdir(), 'cni-ovs-'));
  const env = {
    ...process.env,
    OVS_RUNDIR: dir,
    OVS_DBDIR: dir,
    OVS_LOGDIR: dir,
    OVS_PKGDATADIR: '/usr/share/openvswitch',
  };
  const db = `unix:${join(dir, 'db.sock')}`;
  const exec = (cmd: string, args: string[]): Promise<string> => runIn(env, cmd, args);
  const stop = async (): Promise<void> => {
    for (const daemon of ['ovs-vswitchd', 'ovsdb-server']) {
      try {
        const pid = Number((await readFile(join(dir, `${daemon}.pid`), 'utf8')).trim());
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // Not started, or already gone.
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await exec('ovsdb-tool', [
      'create',
      join(dir, 'conf.db'),
      '/usr/share/openvswitch/vswitch.ovsschema',
    ]);
    await exec('ovsdb-server', [
      `--remote=punix:${join(dir, 'db.sock')}`,
      `--pidfile=${join(dir, 'ovsdb-server.pid')}`,
      `--log-file=${join(dir, 'ovsdb-server.log')}`,
      '--detach',
      join(dir, 'conf.db'),
    ]);
    // TSO must be enabled before ovs-vswitchd starts, or veth traffic through the userspace datapath breaks.
    await exec('ovs-vsctl', [
      `--db=${db}`,
      '--no-wait',
      'init',
      '--',
      'set',
      'Open_vSwitch',
      '.',
      'other_config:userspace-tso-enable=true',
    ]);
    await exec('nsenter', [
      `--net=${nodeNetns}`,
      '--',
      'ovs-vswitchd',
      db,
      `--pidfile=${join(dir, 'ovs-vswitchd.pid')}`,
      `--log-file=${join(dir, 'ovs-vswitchd.log')}`,
      '--detach',
    ]);
    await exec('ovs-vsctl', [
      `--db=${db}`,
      '--timeout=20',
      'add-br',
      bridge,
      '--',
      'set',
      'Bridge',
      bridge,
      'datapath_type=netdev',
    ]);
    // ovs-vswitchd may report the bridge configured before its OpenFlow socket exists.
    await waitForFile(join(dir, `${bridge}.mgmt`));
    // Plain L2 learning switch; the real pipeline belongs to the opflex agent.
    await exec('ovs-ofctl', ['del-flows', bridge]);
    await exec('ovs-ofctl', ['add-flow', bridge, 'priority=0,actions=NORMAL']);
  } catch (err) {
    // The daemon logs say why (the test output is all a CI run leaves behind).
    const logs = await Promise.all(
      ['ovsdb-server', 'ovs-vswitchd'].map((d) =>
        readFile(join(dir, `${d}.log`), 'utf8').catch(() => ''),
      ),
    );
    await stop();
    throw new Error(
      `${(err as Error).message}\n--- OVS logs ---\n${logs.join('\n').split('\n').slice(-30).join('\n')}`,
      { cause: err },
    );
  }
  return {
    dir,
    db,
    bridge,
    env,
    vsctl: (...args) => exec('ovs-vsctl', [`--db=${db}`, '--no-wait', '--timeout=10', ...args]),
    ofctl: (...args) => exec('ovs-ofctl', args),
    stop,
  };
}

async function waitForFile(path: string, attempts = 600): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    try {
      await access(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${path} did not appear`);
}

function runIn(env: NodeJS.ProcessEnv, cmd: string, args: string[]): Promise<string> {
  return run(cmd, args, { env });
}
