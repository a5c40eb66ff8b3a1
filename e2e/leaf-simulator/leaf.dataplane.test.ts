/**
 * The leaf simulator's own life cycle on the host: a run killed without
 * stopping its leaf (a crashed test, a SIGKILLed cluster) leaves the leaf's
 * namespace and switch behind under the cluster's leaf name; the next start
 * of that name must clear them instead of failing on "File exists".
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { LeafSimulator } from './leaf.ts';

const run = promisify(execFile);

test('a leaf starts over the namespace and processes a killed run left under its name', async (t) => {
  const name = `aci-leaf-leftover-${process.pid}`;
  await run('ip', ['netns', 'add', name]);
  // What a killed run leaves: a process still running inside the namespace.
  const stray = spawn('ip', ['netns', 'exec', name, 'sleep', '300'], { stdio: 'ignore' });
  const strayExited = new Promise<void>((resolve) => stray.once('exit', () => resolve()));
  t.teardown(() => stray.kill('SIGKILL'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.not((await run('ip', ['netns', 'pids', name])).stdout.trim(), '', 'the stray runs in it');

  const leaf = await LeafSimulator.start({
    name,
    bridgeDomains: [{ name: 'kube-pod-bd', vlan: 4001, subnets: ['10.2.0.1/16'] }],
  });
  t.teardown(() => leaf.stop());
  await strayExited;
  const addresses = await leaf.inLeaf('ip', ['-o', 'addr', 'show']);
  t.regex(addresses, /10\.2\.0\.1\/16/, 'the new leaf has its SVI');
  const pids = (await run('ip', ['netns', 'pids', name])).stdout.split(/\s+/).filter(Boolean);
  t.false(pids.includes(String(stray.pid)), 'the stray is gone');
});
