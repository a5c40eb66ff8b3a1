/**
 * The opflex agent's and the mcast daemon's probes against a real Open
 * vSwitch, started as their entry points start them (run.ts, from the config
 * file the host agent writes): not ready while the file is missing, ready
 * once their flows are on the bridge, not ready while ovs-vswitchd is gone,
 * ready again once the supervisor restarted it and they re-rendered. Alive
 * throughout: none of this is cured by restarting the container.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { run } from '../host/netconf/exec.ts';
import { OvsSupervisor } from '../openvswitch/supervisor.ts';
import { startDaemonFromFile, type DaemonFromFile } from '../mcast/run.ts';
import { startAgentFromFile, type AgentFromFile } from './run.ts';

const Tag = `pr${process.pid % 1000}`;
const Bridge = `br${Tag}`;
const Netns = `${Tag}-node`;
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let dir: string;
let sup: OvsSupervisor;
let opflex: AgentFromFile;
let mcast: DaemonFromFile;

async function probe(port: number, what: '/healthz' | '/readyz'): Promise<[number, string]> {
  const res = await fetch(`http://127.0.0.1:${port}${what}`);
  return [res.status, await res.text()];
}

async function until(port: number, status: number, deadlineMs = 30_000): Promise<[number, string]> {
  const end = Date.now() + deadlineMs;
  let last: [number, string] = [0, ''];
  while (Date.now() < end) {
    last = await probe(port, '/readyz');
    if (last[0] === status) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`readyz on ${port} still ${last[0]} (${last[1].trim()}) after ${deadlineMs} ms`);
}

/** As the host agent writes them: complete files, by rename. */
async function writeConfig(file: string, content: unknown): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(content));
  await rename(`${file}.tmp`, file);
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dp-probes-'));
  await run('ip', ['netns', 'add', Netns]);
  sup = new OvsSupervisor({
    dir: path.join(dir, 'ovs'),
    bridges: [Bridge],
    log,
    netns: Netns,
    backoffInitialMs: 100,
  });
  await sup.start();
  const tuning = { probeIntervalMs: 300, rescanIntervalMs: 1000 };
  opflex = await startAgentFromFile({
    file: path.join(dir, 'agent.json'),
    log,
    tuning,
    pollIntervalMs: 200,
    healthPort: 0,
  });
  mcast = await startDaemonFromFile({
    file: path.join(dir, 'mcast.json'),
    log,
    tuning,
    pollIntervalMs: 200,
    healthPort: 0,
  });
});

test.after.always(async () => {
  await opflex?.stop();
  await mcast?.stop();
  await sup?.stop();
  await run('ip', ['netns', 'del', Netns]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const ports = (): Record<string, number> => ({
  opflex: opflex.health?.port ?? 0,
  mcast: mcast.health?.port ?? 0,
});

test.serial('both wait for their config file: alive, not ready, and they say why', async (t) => {
  for (const [name, port] of Object.entries(ports())) {
    t.deepEqual(await probe(port, '/healthz'), [200, 'ok\n'], name);
    const [status, body] = await probe(port, '/readyz');
    t.is(status, 503, name);
    t.regex(body, /config: waiting for .*\.json/, name);
  }
});

test.serial(
  'ready once the host agent wrote the file and their flows are on the bridge',
  async (t) => {
    const common = {
      nodeName: 'n1',
      stateDir: path.join(dir, 'state'),
      ovsRundir: sup.dir,
      bridge: Bridge,
    };
    await writeConfig(path.join(dir, 'agent.json'), {
      ...common,
      gateway: { ip: '10.135.0.1', mac: '0a:58:0a:87:00:01' },
      podSubnets: [{ cidr: '10.135.0.0/16', gateway: '10.135.0.1' }],
    });
    await writeConfig(path.join(dir, 'mcast.json'), common);
    for (const [name, port] of Object.entries(ports()))
      t.deepEqual(await until(port, 200), [200, 'ok\n'], name);
  },
);

test.serial(
  'not ready while ovs-vswitchd is gone, ready again after the supervisor restarts it and they re-render',
  async (t) => {
    const pid = sup.pid('ovs-vswitchd');
    if (pid === undefined) throw new Error('ovs-vswitchd not running');
    // Stopped, not killed: the flows stay but nothing answers, as with a hung vswitchd.
    process.kill(pid, 'SIGSTOP');
    try {
      for (const [name, port] of Object.entries(ports())) {
        const [status, body] = await until(port, 503);
        t.is(status, 503, name);
        t.regex(body, /flows: ovs-vswitchd of .* unreachable/, name);
        t.is((await probe(port, '/healthz'))[0], 200, `${name} stays alive`);
      }
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    // The supervisor starts a new ovs-vswitchd with an empty flow table; the canary comes back
    // only when the agent has re-rendered everything.
    for (const [name, port] of Object.entries(ports()))
      t.deepEqual(await until(port, 200, 60_000), [200, 'ok\n'], name);
  },
);
