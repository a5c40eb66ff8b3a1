/**
 * `npm run demo`: the whole CNI on real kubelet + containerd nodes
 * (demo-real-nodes.ts). Real nodes need root (network and mount
 * namespaces, cgroups, containerd); without it, or with `--kwok`, the demo
 * says so and runs on kwok nodes instead (demo-kwok.ts), where the operator
 * and controller run as local processes and no pod runs.
 */
import { ensurePrerequisites, MissingPrerequisite } from './support/prerequisites.ts';

const kwok = process.argv.includes('--kwok');
const root = process.getuid?.() === 0;
if (!kwok && root) {
  try {
    await ensurePrerequisites((line) => console.log(line));
  } catch (error) {
    if (!(error instanceof MissingPrerequisite)) throw error;
    console.error(`npm run demo: ${error.message}`);
    process.exit(1);
  }
  await import('./demo-real-nodes.ts');
} else {
  console.log(
    kwok
      ? 'Running the kwok demo (--kwok): no real nodes, no pods run.'
      : 'Real nodes need root (network and mount namespaces, cgroups, containerd); this is not root, so the demo runs on kwok nodes, where no pod runs.',
  );
  await import('./demo-kwok.ts');
}
