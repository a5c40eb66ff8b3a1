// Runs Ansible playbooks against a fresh APIC simulator: the venv and Cisco's
// integration targets come from setup-ansible.sh; each run gets its own
// simulator on port 443 of its own loopback address (Cisco's targets name
// the APIC by `aci_hostname` and its httpapi tests use port 443), and the
// results come from the ansible.posix.json callback.
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ApicSimulator, type StartedSimulator } from '../simulator.ts';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

// Not `admin`: aci_aaa_user_certificate expects the user's own certificate,
// named after the user, to differ from the one named `admin`.
export const ANSIBLE_USER = 'ansible';
export const ANSIBLE_PASSWORD = 'sim-ansible-pw';

const Setup = z.object({ bin: z.string(), targets: z.string() });
export type AnsibleSetup = z.infer<typeof Setup>;

/** Installs (once) the venv and the targets; takes minutes the first time. */
export async function setupAnsible(): Promise<AnsibleSetup> {
  const { stdout } = await run('bash', [join(here, 'setup-ansible.sh')], {
    timeout: 1_200_000,
    maxBuffer: 16 << 20,
  });
  return Setup.parse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
}

const TaskResult = z
  .object({
    failed: z.boolean().optional(),
    skipped: z.boolean().optional(),
    changed: z.boolean().optional(),
    msg: z.unknown().optional(),
    assertion: z.string().optional(),
    results: z
      .array(
        z.object({ failed: z.boolean().optional(), msg: z.unknown().optional() }).passthrough(),
      )
      .optional(),
  })
  .passthrough();
const JsonReport = z.object({
  plays: z.array(
    z.object({
      tasks: z.array(
        z.object({
          task: z.object({ name: z.string() }).passthrough(),
          hosts: z.record(z.string(), TaskResult),
        }),
      ),
    }),
  ),
  stats: z.record(
    z.string(),
    z.object({
      ok: z.number(),
      changed: z.number(),
      failures: z.number(),
      ignored: z.number(),
      skipped: z.number(),
      unreachable: z.number(),
    }),
  ),
});

export interface PlaybookResult {
  /** Tasks that ran and passed (including expected failures the playbook checks itself). */
  readonly ok: number;
  readonly changed: number;
  readonly skipped: number;
  readonly ignored: number;
  readonly failures: number;
  readonly unreachable: number;
  /** The task that stopped the play, with the reason. */
  readonly failedTask?: { name: string; reason: string };
  /** Per task name: whether it reported changed (last occurrence). */
  readonly changedByTask: ReadonlyMap<string, boolean>;
  readonly stderr: string;
}

function reasonOf(r: z.infer<typeof TaskResult>): string {
  const parts: string[] = [];
  if (r.assertion !== undefined) parts.push(`assertion: ${r.assertion}`);
  if (r.msg !== undefined)
    parts.push(String(typeof r.msg === 'string' ? r.msg : JSON.stringify(r.msg)));
  for (const it of r.results ?? [])
    if (it.failed === true)
      parts.push(`item: ${String(typeof it.msg === 'string' ? it.msg : JSON.stringify(it.msg))}`);
  return parts.join(' | ').slice(0, 1500);
}

/** A proxy on loopback that closes every connection it accepts. */
async function deadEndProxy(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface SimulatorForAnsible {
  readonly sim: ApicSimulator;
  readonly started: StartedSimulator;
  readonly host: string;
}

/** A fresh simulator on port 443 of a loopback address of its own, with the admin certificate registered. */
export async function startSimulatorFor(
  adminCertPem: string | undefined,
): Promise<SimulatorForAnsible> {
  const sim = new ApicSimulator({ users: { [ANSIBLE_USER]: ANSIBLE_PASSWORD } });
  // 127.0.0.0/8 is all loopback on Linux: a random address keeps runs apart.
  for (let attempt = 0; ; attempt++) {
    const host = `127.${80 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
    try {
      const started = await sim.start({ host, port: 443 });
      if (adminCertPem !== undefined) sim.registerCertificate(ANSIBLE_USER, 'admin', adminCertPem);
      return { sim, started, host };
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
}

/**
 * Runs a playbook against `host`. `rolesDir` makes roles (Cisco's targets)
 * available by name; `extraVars` are passed as inventory variables.
 */
export async function runPlaybook(
  setup: AnsibleSetup,
  playbook: string,
  host: string,
  opts: {
    rolesDir?: string;
    workDir: string;
    extraVars?: Record<string, string>;
    env?: Record<string, string>;
  },
): Promise<PlaybookResult> {
  const vars = {
    aci_hostname: host,
    aci_username: ANSIBLE_USER,
    aci_password: ANSIBLE_PASSWORD,
    ansible_network_os: 'cisco.aci.aci',
    ansible_connection: 'local',
    ansible_python_interpreter: join(setup.bin, 'python'),
    ...opts.extraVars,
  };
  const inventory = join(opts.workDir, 'inventory.json');
  writeFileSync(
    inventory,
    JSON.stringify({
      all: { children: { aci: { hosts: { sim: { ansible_host: host, ...vars } } } } },
    }),
  );
  const deadEnd = await deadEndProxy();
  const env = {
    ...process.env,
    // Only the simulator is reachable. aci_tenant's httpapi tests put RFC 5737
    // documentation addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)
    // before the APIC and expect them to fail, as they do on any real
    // network; on this machine 192.0.2.0/24 is the local LAN and 198.51.100.x
    // answers HTTPS with 404, which the collection takes for a login. Every
    // request but the simulator's goes to a proxy that drops the connection.
    HTTPS_PROXY: deadEnd.url,
    https_proxy: deadEnd.url,
    HTTP_PROXY: deadEnd.url,
    http_proxy: deadEnd.url,
    NO_PROXY: host,
    no_proxy: host,
    ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.json',
    ANSIBLE_HOST_KEY_CHECKING: 'false',
    ANSIBLE_LOCALHOST_WARNING: 'false',
    ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
    ANSIBLE_DEPRECATION_WARNINGS: 'false',
    ANSIBLE_LOCAL_TEMP: join(opts.workDir, '.ansible-tmp'),
    ANSIBLE_HOME: join(opts.workDir, '.ansible'),
    PATH: `${setup.bin}:${process.env.PATH ?? ''}`,
    ...(opts.rolesDir !== undefined ? { ANSIBLE_ROLES_PATH: opts.rolesDir } : {}),
    ...opts.env,
  };
  const { stdout, stderr } = await run(
    join(setup.bin, 'ansible-playbook'),
    ['-i', inventory, playbook],
    { cwd: opts.workDir, env, timeout: 1_200_000, maxBuffer: 256 << 20 },
  )
    .finally(() => deadEnd.close())
    .catch((e: unknown) => {
      // Exit code 2 means failed tasks: the report is still on stdout.
      const err = e as { stdout?: string; stderr?: string };
      if ((err.stdout ?? '').trim() === '')
        throw new Error(`ansible-playbook produced no report: ${err.stderr ?? String(e)}`, {
          cause: e,
        });
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    });
  // For debugging a target: the whole report (every task's module result).
  const keep = process.env.ACI_ANSIBLE_REPORT_DIR;
  if (keep !== undefined && keep !== '') {
    mkdirSync(keep, { recursive: true });
    writeFileSync(join(keep, `${basename(playbook, '.yml')}.json`), stdout);
  }
  const report = JsonReport.parse(JSON.parse(stdout));
  const stats = Object.values(report.stats)[0] ?? {
    ok: 0,
    changed: 0,
    failures: 0,
    ignored: 0,
    skipped: 0,
    unreachable: 0,
  };
  let failedTask: PlaybookResult['failedTask'];
  const changedByTask = new Map<string, boolean>();
  for (const play of report.plays) {
    for (const task of play.tasks) {
      for (const r of Object.values(task.hosts)) {
        changedByTask.set(task.task.name, r.changed === true);
        if (r.failed === true) failedTask = { name: task.task.name, reason: reasonOf(r) };
      }
    }
  }
  return {
    ...stats,
    ...(stats.failures > 0 && failedTask !== undefined ? { failedTask } : {}),
    changedByTask,
    stderr,
  };
}

/**
 * A working directory laid out as ansible-test lays out a collection's
 * targets (and its working directory, the integration directory), so the
 * targets' relative paths and includes
 * (`../../../../../../integration/targets/<t>/tasks/main.yml`) resolve.
 */
export function targetsWorkDir(setup: AnsibleSetup): {
  workDir: string;
  rolesDir: string;
  cleanup: () => void;
} {
  const root = mkdtempSync(join(tmpdir(), 'aci-ansible-'));
  const rolesDir = join(root, 'a', 'b', 'integration', 'targets');
  mkdirSync(join(root, 'a', 'b', 'integration'), { recursive: true });
  cpSync(setup.targets, rolesDir, { recursive: true });
  symlinkSync(join('a', 'b', 'integration'), join(root, 'integration'));
  // ansible-test writes the playbook and inventory into the integration
  // directory and runs from there, so targets name files relative to it
  // (aci_tenant: `private_key: targets/aci_tenant/pki/admin.key`).
  const workDir = join(root, 'a', 'b', 'integration');
  return { workDir, rolesDir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function rolePlaybook(workDir: string, role: string): string {
  const path = join(workDir, `${role}.yml`);
  writeFileSync(path, `- hosts: aci\n  gather_facts: false\n  roles:\n    - role: ${role}\n`);
  return path;
}

export function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
