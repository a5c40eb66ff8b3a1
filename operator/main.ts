/**
 * aci-containers-operator: `aci-containers operator [--kubeconfig F] [--namespace N]
 * [--health-port P] [--health-address IP] [--fabric-namespace N] [--no-leader-elect]`. Runs in-cluster with its service
 * account, or anywhere with a kubeconfig (the demo runs it as a local process).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { KubeClient } from '../lib/kube/client.ts';
import { startOperator } from './manager.ts';
import { DefaultFabricNamespace } from './render/install.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: process.env.POD_NAMESPACE ?? 'aci-containers-operator' },
    'health-port': { type: 'string', default: '8081' },
    // The pod's IP (downward API) in the cluster: the kubelet probes and Prometheus scrapes it there.
    'health-address': { type: 'string', default: '127.0.0.1' },
    'fabric-namespace': { type: 'string', default: DefaultFabricNamespace },
    'no-leader-elect': { type: 'boolean', default: false },
    'cleanup-timeout': { type: 'string', default: '120' },
    'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
  },
});

const log = pino({ level: values['log-level'], base: { component: 'aci-operator' } });
const client = values.kubeconfig
  ? KubeClient.fromFile(values.kubeconfig)
  : KubeClient.fromDefault();
const operator = await startOperator({
  client,
  log,
  namespace: values.namespace,
  leaderElection: !values['no-leader-elect'],
  healthPort: Number(values['health-port']),
  healthHost: values['health-address'],
  fabricNamespace: values['fabric-namespace'],
  cleanupTimeoutMs: Number(values['cleanup-timeout']) * 1000,
});
log.info({ identity: operator.identity, healthPort: operator.health.port }, 'Started operator');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'Shutting down');
    void operator.stop().then(() => {
      client.close();
      process.exit(0);
    });
  });
}
