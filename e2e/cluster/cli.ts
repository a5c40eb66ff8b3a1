/** `npm run cluster:up [-- --nodes N]` / `npm run cluster:down`. */
import { defaultClusterDir } from '../support/paths.ts';
import { Cluster, stopByState } from './cluster.ts';

const [command, ...rest] = process.argv.slice(2);
const nodesFlag = rest.indexOf('--nodes');
const nodes = nodesFlag >= 0 ? Number(rest[nodesFlag + 1]) : 3;

if (command === 'up') {
  const cluster = await Cluster.start({
    dir: defaultClusterDir,
    nodes,
    log: (line) => console.log(line),
  });
  console.log(`export KUBECONFIG=${cluster.kubeconfig}`);
  console.log(`Logs: ${cluster.logDir}`);
} else if (command === 'down') {
  await stopByState(defaultClusterDir);
  console.log(`Stopped the cluster in ${defaultClusterDir}`);
} else {
  console.error('usage: cli.ts up [--nodes N] | down');
  process.exit(2);
}
