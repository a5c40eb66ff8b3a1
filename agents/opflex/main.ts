/**
 * opflex-agent entry point: `tsx agents/opflex/main.ts --config agent.json`
 *
 * agent.json (validated by AgentFileConfig, written by the host agent,
 * agents/host/node-agents.ts):
 *   { "stateDir": "/var/lib/aci-containers", "ovsRundir": "/var/run/aci-containers-ovs",
 *     "bridge": "br-int", "nodeName": "node-1",
 *     "gateway": { "ip": "10.2.0.1", "mac": "00:22:bd:f8:19:ff", "port": "aci-gw" },
 *     "podSubnets": [{ "cidr": "10.2.0.0/16", "gateway": "10.2.0.1" }],
 *     "uplink": { "port": "eth1", "encap": "vlan" },
 *     "bridgeDomainVlans": { "aci-containers-kube-pod-bd": 3021 }, "nodeIPs": ["192.168.1.11"] }
 *
 * Until the file exists (and is valid) the agent waits; a rewrite restarts
 * the agent in process (it re-renders identical flows as unchanged).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { OpflexAgent } from './agent.ts';
import { ConfigFileWatcher } from './config-file.ts';
import { AgentFileConfig } from './main-config.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: main.ts --config agent.json\n');
  process.exit(2);
}
const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
let agent: OpflexAgent | undefined;
const watcher = new ConfigFileWatcher({
  file: values.config,
  schema: AgentFileConfig,
  log,
  apply: async ({ stateDir, ovsRundir, bridge, ...config }) => {
    await agent?.stop();
    agent = new OpflexAgent({ config, stateDir, ovsRundir, bridge, log });
    await agent.start();
  },
});
await watcher.start();
const shutdown = (): void => {
  watcher.stop();
  void (agent?.stop() ?? Promise.resolve()).then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
