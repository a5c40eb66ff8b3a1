/**
 * What `npm test` and `npm run demo` need from the machine beyond npm: root
 * (network namespaces, Open vSwitch, kubelets), Go (the control plane and
 * the node binaries are built from the official modules) and the Debian
 * packages in e2e/debian-packages.txt, which `.ci/run` reads too. Missing
 * packages are installed when this process can (root, apt-get); otherwise
 * it stops at once with one line saying what to install.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

const run = promisify(execFile);

export class MissingPrerequisite extends Error {}

export async function debianPackages(): Promise<string[]> {
  const text = await readFile(path.join(repoRoot, 'e2e', 'debian-packages.txt'), 'utf8');
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0);
}

async function installed(pkg: string): Promise<boolean> {
  try {
    const { stdout } = await run('dpkg-query', ['-W', '-f=${Status}', pkg]);
    return stdout.includes('install ok installed');
  } catch {
    return false;
  }
}

async function onPath(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

function aptGet(args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    log(`apt-get ${args.join(' ')}`);
    const child = spawn('apt-get', args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`apt-get ${args[0]} exited with ${code}`)),
    );
  });
}

/** Checks (and where it can, installs) what the tests need; throws MissingPrerequisite with one line. */
export async function ensurePrerequisites(log: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new MissingPrerequisite(
      'npm test needs root: it creates network namespaces, runs Open vSwitch and kubelets (run `sudo npm test`, or `npm run test:unit` for the unit tests alone)',
    );
  }
  if (!(await onPath('go'))) {
    throw new MissingPrerequisite(
      'npm test needs Go (1.24 or later) on PATH: the control plane and node binaries are built from the official Kubernetes modules',
    );
  }
  const packages = await debianPackages();
  const missing: string[] = [];
  for (const pkg of packages) if (!(await installed(pkg))) missing.push(pkg);
  if (missing.length === 0) return;
  if (!(await onPath('apt-get'))) {
    throw new MissingPrerequisite(
      `npm test needs these Debian packages, and this machine has no apt-get: ${missing.join(' ')}`,
    );
  }
  log(`Installing the Debian packages the tests need: ${missing.join(' ')}`);
  try {
    await aptGet(['update', '-qq'], log);
    await aptGet(['install', '-y', '-qq', '--no-install-recommends', ...missing], log);
  } catch (error) {
    throw new MissingPrerequisite(
      `could not install ${missing.join(' ')} (${(error as Error).message}); install them with apt-get and run npm test again`,
    );
  }
}
