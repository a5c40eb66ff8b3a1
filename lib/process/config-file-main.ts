/**
 * The main of a node agent that the host agent configures through a file
 * (the opflex agent, the mcast daemon): `--config <file> [--health-port N]`,
 * a JSON log at LOG_LEVEL, and a clean stop on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';

export interface ConfigFileAgentOptions {
  file: string;
  log: Logger;
  healthPort?: number;
}

export async function runConfigFileAgent(
  exampleFile: string,
  start: (options: ConfigFileAgentOptions) => Promise<{ stop(): Promise<void> }>,
): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, 'health-port': { type: 'string' } },
  });
  if (!values.config) {
    process.stderr.write(`usage: main.ts --config ${exampleFile} [--health-port N]\n`);
    process.exit(2);
  }
  const running = await start({
    file: values.config,
    log: pino({ level: process.env.LOG_LEVEL ?? 'info' }),
    ...(values['health-port'] !== undefined ? { healthPort: Number(values['health-port']) } : {}),
  });
  const shutdown = (): void => {
    void running.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
