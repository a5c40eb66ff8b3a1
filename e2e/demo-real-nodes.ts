/**
 * The demo on real nodes: two kubelet + containerd nodes, the images built
 * from the Dockerfile, the operator installed as the README says and
 * installing the CNI, pods started by the kubelets with addresses from their
 * node's PodIPPool, a connectivity matrix across the nodes, a
 * NetworkPolicy, and the matrix again. Everything keeps running afterwards;
 * `npm run cluster:down` stops it.
 */
import { startRealEnvironment } from './support/real-nodes.ts';
import { agnhostDeployment, podsOf, probe, type PodInfo } from './support/workloads.ts';
import { eventually } from './support/cluster.ts';
import { defaultClusterDir } from './support/paths.ts';

const step = (text: string) => console.log(`\n==> ${text}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;

step(
  'Building the images (cached) and starting a control plane with 2 real kubelet + containerd nodes, the APIC and leaf simulators',
);
const env = await startRealEnvironment({
  dir: defaultClusterDir,
  log: (line) => console.log(`    [${elapsed()}] ${line}`),
});
const kubectl = async (...args: string[]) => console.log(await env.kubectl(args));

step('kubectl get nodes -o wide');
await kubectl('get', 'nodes', '-o', 'wide');
step(
  `kubectl get acifabric; kubectl get pods -n ${env.fabric.spec.namespace} -o wide (the operator installed these)`,
);
await kubectl('get', 'acifabric', '-o', 'wide');
await kubectl('get', 'pods', '-n', env.fabric.spec.namespace, '-o', 'wide');

const namespace = 'demo';
step(`Two agnhost Deployments in namespace ${namespace}, spread over both nodes: web and db`);
await env.kubectl(['create', 'namespace', namespace]);
for (const name of ['web', 'db']) {
  await env.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify(agnhostDeployment(namespace, name, 2, env.images.agnhost.ref)),
  );
}
for (const name of ['web', 'db']) {
  await env.kubectl(['-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=300s']);
}
await kubectl('get', 'pods', '-n', namespace, '-o', 'wide');
step('kubectl get podippools (chunks from the controller, addresses in use from each host agent)');
await kubectl('get', 'podippools', '-o', 'wide');

const pods = [
  ...(await podsOf(env.client, namespace, 'app=web')).map((p) => ({ ...p, role: 'web' })),
  ...(await podsOf(env.client, namespace, 'app=db')).map((p) => ({ ...p, role: 'db' })),
];

async function matrix(title: string): Promise<void> {
  step(title);
  const label = (p: PodInfo & { role: string }) => `${p.role}@${p.node.replace('aci-node-', 'n')}`;
  const width = Math.max('from \\ to'.length, ...pods.map((p) => label(p).length)) + 2;
  console.log(
    `    ${'from \\ to'.padEnd(width)}${pods.map((p) => label(p).padEnd(width)).join('')}`,
  );
  for (const from of pods) {
    const cells: string[] = [];
    for (const to of pods) {
      const ok = from.name === to.name || (await probe(env, namespace, from.name, `${to.ip}:8080`));
      cells.push((from.name === to.name ? '-' : ok ? 'ok' : 'X').padEnd(width));
    }
    console.log(`    ${label(from).padEnd(width)}${cells.join('')}`);
  }
}

await matrix(
  'Connectivity matrix (TCP 8080, agnhost connect): same node and across nodes through the leaf',
);

step('A NetworkPolicy: db accepts TCP 8080 only from web');
await env.kubectl(
  ['apply', '-f', '-'],
  JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'db-from-web', namespace },
    spec: {
      podSelector: { matchLabels: { app: 'db' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: 'web' } } }],
          ports: [{ port: 8080, protocol: 'TCP' }],
        },
      ],
    },
  }),
);
// The host agents turn the policy into security groups, the opflex agents into flows: wait for it.
const [db0, db1] = pods.filter((p) => p.role === 'db');
if (db0 && db1) {
  await eventually(
    async () => !(await probe(env, namespace, db0.name, `${db1.ip}:8080`)),
    'the policy to be enforced',
    60_000,
  );
}
await matrix('The matrix again: db no longer reachable from db');

console.log(`\nDone in ${elapsed()}. The cluster, the CNI, the APIC and leaf simulators keep running. Try:
  export KUBECONFIG=${env.cluster.kubeconfig}
  ${env.cluster.binary('kubectl')} get acifabric,pip -o wide
  ${env.cluster.binary('kubectl')} get pods -A -o wide
Logs: ${env.cluster.logDir} (nodes: logs/<node>/kubelet.log, containerd.log). Stop everything with: npm run cluster:down`);
env.client.close();
