/**
 * aci-containers-host entry point:
 *   aci-containers host-agent [--config FILE] [--health-port N] [--host-cni-socket PATH]
 *
 * Reads the HostAgentConfig the operator renders (default
 * /usr/local/etc/aci-containers/host-agent.conf), the node name from
 * KUBERNETES_NODE_NAME, the Kubernetes credentials as kubectl does
 * (in-cluster service account in the DaemonSet), and runs until SIGTERM.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { KubeClient } from '../../lib/kube/client.ts';
import { startHostAgent } from './agent.ts';
import { DefaultConfigFile, readHostAgentConfig } from './cni-install.ts';
import { LinuxDataplane } from './netconf/index.ts';
import { paths } from '../../lib/config/components.ts';
import { NodeAgentConfigDir } from './node-agents.ts';
import { run } from './netconf/exec.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: DefaultConfigFile },
    'health-port': { type: 'string' },
    'host-cni-socket': { type: 'string' },
    ovsdb: { type: 'string', default: `unix:${paths.ovsRunDir}/db.sock` },
    'node-agent-config-dir': { type: 'string', default: NodeAgentConfigDir },
  },
});
const config = await readHostAgentConfig(values.config);
const log = pino({ level: config.logLevel, base: { component: 'host-agent' } });
const nodeName = process.env.KUBERNETES_NODE_NAME;
if (!nodeName) {
  log.fatal({}, 'Failed to start: KUBERNETES_NODE_NAME is not set');
  process.exit(2);
}
const client = KubeClient.fromDefault();
const agent = await startHostAgent({
  config,
  nodeName,
  client,
  dataplane: new LinuxDataplane({
    bridge: config.accessBridge,
    ovsdb: values.ovsdb,
    encapType: config.encapType,
  }),
  log,
  nodeAgents: {
    dir: values['node-agent-config-dir'],
    // HOST_IPS comes from the downward API (status.hostIPs): the NodePort addresses.
    nodeIPs: (process.env.HOST_IPS ?? process.env.HOST_IP ?? '').split(/[ ,]+/).filter(Boolean),
    ovsRunDir: paths.ovsRunDir,
    ports: {
      vsctl: (args) => run('ovs-vsctl', [`--db=${values.ovsdb}`, '--timeout=10', ...args]),
      ip: (args) => run('ip', args),
      ethtool: (args) => run('ethtool', args),
      ofctl: (bridge, [command = 'show', ...rest]) =>
        run('ovs-ofctl', [command, `unix:${paths.ovsRunDir}/${bridge}.mgmt`, ...rest]),
    },
  },
  ...(values['health-port'] !== undefined ? { healthPort: Number(values['health-port']) } : {}),
  ...(values['host-cni-socket'] !== undefined
    ? { cniInstall: { hostCniSocket: values['host-cni-socket'] } }
    : {}),
});

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'Received signal, stopping');
  void agent
    .stop()
    .then(() => {
      client.close();
      process.exit(0);
    })
    .catch((err: unknown) => {
      log.error({ err }, 'Failed to stop cleanly');
      process.exit(1);
    });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
