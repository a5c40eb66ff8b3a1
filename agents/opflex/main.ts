/**
 * opflex-agent entry point: `tsx agents/opflex/main.ts --config agent.json`
 *
 * agent.json (validated by AgentFileConfig):
 *   { "stateDir": "/var/lib/aci-containers", "ovsRundir": "/var/run/aci-containers-ovs",
 *     "bridge": "br-int", "nodeName": "node-1",
 *     "gateway": { "ip": "10.2.0.1", "mac": "0a:58:0a:02:00:01", "port": "gw0" },
 *     "nodeIPs": ["192.168.1.11"], "fabricLinks": [{ "node": "node-2", "port": "fab0", "subnets": ["10.2.1.0/24"] }] }
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { OpflexAgent } from './agent.ts';
import { AgentFileConfig } from './main-config.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: main.ts --config agent.json\n');
  process.exit(2);
}
const { stateDir, ovsRundir, bridge, ...config } = AgentFileConfig.parse(
  JSON.parse(await readFile(values.config, 'utf8')),
);
const agent = new OpflexAgent({
  config,
  stateDir,
  ovsRundir,
  bridge,
  log: pino({ level: process.env.LOG_LEVEL ?? 'info' }),
});
await agent.start();
const shutdown = (): void => {
  void agent.stop().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
