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
import { z } from 'zod';
import { McastDaemon } from './daemon.ts';
import { DirectoryFabric } from './fabric.ts';

const McastFileConfig = z.object({
  nodeName: z.string().min(1),
  stateDir: z.string().default('/var/lib/aci-containers'),
  ovsRundir: z.string().default('/var/run/aci-containers-ovs'),
  bridge: z.string().default('br-int'),
  fabricDir: z.string(),
  fabricLinks: z.array(z.object({ node: z.string(), port: z.string() })).default([]),
  bridgeDomainVlans: z.record(z.string(), z.number().int().min(1).max(4094)).default({}),
});

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: main.ts --config mcast.json\n');
  process.exit(2);
}
const { fabricDir, ...cfg } = McastFileConfig.parse(JSON.parse(await readFile(values.config, 'utf8')));
const daemon = new McastDaemon({ ...cfg, fabric: new DirectoryFabric(fabricDir), log: pino({ level: process.env.LOG_LEVEL ?? 'info' }) });
await daemon.start();
const shutdown = (): void => {
  void daemon.stop().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
