/**
 * mcast-daemon entry point: `tsx agents/mcast/main.ts --config mcast.json`
 *
 * mcast.json: { "nodeName": "node-1", "stateDir": "/var/lib/aci-containers",
 *   "ovsRundir": "/var/run/aci-containers-ovs", "bridge": "br-int",
 *   "fabricDir": "/var/lib/aci-containers/fabric",
 *   "fabricLinks": [{ "node": "node-2", "port": "fab0" }], "bridgeDomainVlans": {} }
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { McastFileConfig } from './main-config.ts';
import { McastDaemon } from './daemon.ts';
import { DirectoryFabric } from './fabric.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: main.ts --config mcast.json\n');
  process.exit(2);
}
const { fabricDir, ...cfg } = McastFileConfig.parse(
  JSON.parse(await readFile(values.config, 'utf8')),
);
const daemon = new McastDaemon({
  ...cfg,
  fabric: new DirectoryFabric(fabricDir),
  log: pino({ level: process.env.LOG_LEVEL ?? 'info' }),
});
await daemon.start();
const shutdown = (): void => {
  void daemon.stop().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
