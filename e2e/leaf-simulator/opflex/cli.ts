// The leaf's OpFlex server on its own (no root needed):
//   npx tsx e2e/leaf-simulator/opflex/cli.ts --config opflex-leaf.json
// (the file's fields: config.ts). It reads the APIC (simulator) named there
// and serves its policy to opflex agents until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startOpflexLeafFromFile } from './config.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: cli.ts --config opflex-leaf.json\n');
  process.exit(2);
}
const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const leaf = await startOpflexLeafFromFile(values.config, log);
process.stdout.write(`OpFlex server on ${leaf.server.address}\n`);
const shutdown = (): void => void leaf.stop().then(() => process.exit(0));
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
