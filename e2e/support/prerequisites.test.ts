import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { debianPackages, ensurePrerequisites } from './prerequisites.ts';
import { repoRoot } from './paths.ts';

test('the package list is plain package names, comments stripped', async (t) => {
  const packages = await debianPackages();
  t.true(packages.length > 10);
  for (const pkg of packages) t.regex(pkg, /^[a-z0-9][a-z0-9+.-]+$/);
  t.true(packages.includes('openvswitch-switch'));
});

test('.ci/run installs from the same list that npm test checks', async (t) => {
  const ci = await readFile(path.join(repoRoot, '.ci', 'run'), 'utf8');
  t.regex(ci, /e2e\/debian-packages\.txt/);
  t.notRegex(ci, /packages=\(/, 'no second, inline package list');
});

test('this machine (root, Go, the packages) passes the check the README command runs', async (t) => {
  const lines: string[] = [];
  await ensurePrerequisites((line) => lines.push(line));
  t.deepEqual(lines, [], 'nothing was missing, so nothing was installed');
});
