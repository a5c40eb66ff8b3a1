/**
 * The I/O shell around ovs-ofctl. Flows and groups are generated as text by
 * pure code elsewhere; this module only runs the binary. Everything goes
 * through one `bundle` call per change set because each ovs-ofctl process
 * costs ~16 ms while a bundle of 10,000 flows costs ~150 ms.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const OpenFlowVersion = 'OpenFlow15';

export interface OfTarget {
  /** OVS_RUNDIR of the ovs-vswitchd instance (holds `<bridge>.mgmt`). */
  rundir: string;
  bridge: string;
}

export const mgmtSocket = (t: OfTarget): string =>
  `unix:${path.join(t.rundir, `${t.bridge}.mgmt`)}`;

/** `ovs-ofctl [flags] <cmd> <bridge socket> [args]`; flags such as `--bundle` go before the command. */
export async function ofctl(
  t: OfTarget,
  args: string[],
  opts: { flags?: string[]; timeoutMs?: number } = {},
): Promise<string> {
  const [cmd, ...rest] = args;
  if (!cmd) throw new Error('ofctl: missing command');
  const { stdout } = await execFileP(
    'ovs-ofctl',
    ['-O', OpenFlowVersion, ...(opts.flags ?? []), cmd, mgmtSocket(t), ...rest],
    {
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 512 * 1024 * 1024,
      env: { ...process.env, OVS_RUNDIR: t.rundir },
    },
  );
  return stdout;
}

/**
 * Executes `flow add|delete ...` and `group add_or_mod|delete ...` lines as
 * one atomic OpenFlow bundle: either all of them apply or none do.
 */
export async function bundle(t: OfTarget, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ofbundle-'));
  const file = path.join(dir, 'bundle.txt');
  try {
    await writeFile(file, lines.join('\n') + '\n');
    await ofctl(t, ['bundle', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cookies of the installed flows whose cookie matches `value/mask`. */
export async function dumpCookies(t: OfTarget, value: bigint, mask: bigint): Promise<bigint[]> {
  const out = await ofctl(t, [
    'dump-flows',
    `cookie=0x${value.toString(16)}/0x${mask.toString(16)}`,
    '--no-stats',
  ]);
  const cookies: bigint[] = [];
  for (const m of out.matchAll(/cookie=0x([0-9a-f]+)/g)) cookies.push(BigInt(`0x${m[1]}`));
  return cookies;
}

export async function dumpGroupIds(t: OfTarget): Promise<number[]> {
  const out = await ofctl(t, ['dump-groups']);
  return [...out.matchAll(/group_id=(\d+)/g)].map((m) => Number(m[1]));
}

export async function dumpFlows(t: OfTarget, filter?: string, names = true): Promise<string> {
  const args = ['dump-flows'];
  if (filter) args.push(filter);
  args.push('--no-stats');
  if (names) args.push('--names');
  return ofctl(t, args);
}

/**
 * Waits until ovs-vswitchd has revalidated its datapath flow cache against
 * the current tables. A bundle changes the OpenFlow tables at once, but
 * cached datapath flows (e.g. a drop from the previous policy) are updated
 * asynchronously; callers that promise "applied" wait for this.
 */
export async function waitRevalidated(t: OfTarget, timeoutMs = 5000): Promise<void> {
  await execFileP(
    'ovs-appctl',
    ['-t', path.join(t.rundir, 'ovs-vswitchd.ctl'), 'revalidator/wait'],
    { timeout: timeoutMs },
  );
}
