/**
 * `npm run cluster:up [-- --nodes N] [-- --real-nodes N]`, `npm run cluster:node -- stop|start|restart <node>`,
 * `npm run cluster:down`. Each takes `--dir DIR` for a cluster elsewhere than `.cluster` (the
 * test run's `.cluster-test`, the real-node files' `.cluster-real*`, left running by a killed run).
 * Real nodes (root) get the locally built images; nothing is installed on them.
 */
import path from 'node:path';
import { ensureImages } from '../images/images.ts';
import { nodeImageNames } from '../support/real-nodes.ts';
import { defaultClusterDir } from '../support/paths.ts';
import { Cluster, stopByState } from './cluster.ts';

const [command, ...rest] = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : fallback;
};
const dirAt = rest.indexOf('--dir');
const clusterDir =
  dirAt >= 0 && rest[dirAt + 1] ? path.resolve(rest[dirAt + 1]!) : defaultClusterDir;
/** The arguments without `--dir DIR`. */
const positional = dirAt < 0 ? rest : rest.filter((_, i) => i !== dirAt && i !== dirAt + 1);
const nodes = flag('--nodes', 3);
const realNodes = flag('--real-nodes', 0);

if (command === 'up') {
  const log = (line: string) => console.log(line);
  const images = realNodes > 0 ? await ensureImages(log) : undefined;
  const cluster = await Cluster.start({
    dir: clusterDir,
    nodes,
    realNodes,
    nodeImages: images ? nodeImageNames.map((name) => images[name].archive) : [],
    log,
  });
  console.log(`export KUBECONFIG=${cluster.kubeconfig}`);
  console.log(`Logs: ${cluster.logDir}`);
} else if (command === 'node') {
  // npm run cluster:node -- stop|start|restart <node>: a real node as a machine is powered off and on.
  const [action, name = ''] = positional;
  const cluster = await Cluster.attach(clusterDir);
  if (action === 'stop' || action === 'restart') await cluster.stopRealNode(name);
  if (action === 'start' || action === 'restart') await cluster.startRealNode(name);
  if (!['stop', 'start', 'restart'].includes(action ?? '')) {
    console.error('usage: cli.ts node stop|start|restart <node>');
    process.exit(2);
  }
  console.log(`${action} ${name}: done`);
} else if (command === 'down') {
  await stopByState(clusterDir);
  console.log(`Stopped the cluster in ${clusterDir}`);
} else {
  console.error(
    'usage: cli.ts up [--nodes N] [--real-nodes N] | node stop|start|restart <node> | down  (each: [--dir DIR])',
  );
  process.exit(2);
}
