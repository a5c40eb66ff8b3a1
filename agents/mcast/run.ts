/**
 * The mcast daemon as its entry point runs it: from mcast.json, waiting for
 * the file and restarting the daemon in process on each rewrite. Shared by
 * main.ts and the data-plane tests.
 */
import type { Logger } from 'pino';
import { ConfigFileWatcher } from '../opflex/config-file.ts';
import { type McastOptions, McastDaemon } from './daemon.ts';
import { McastFileConfig } from './main-config.ts';

export interface DaemonFromFile {
  readonly daemon: McastDaemon | undefined;
  readonly watcher: ConfigFileWatcher<typeof McastFileConfig>;
  stop(): Promise<void>;
}

export async function startDaemonFromFile(opts: {
  file: string;
  log: Logger;
  tuning?: Pick<McastOptions, 'probeIntervalMs' | 'rescanIntervalMs'>;
  pollIntervalMs?: number;
}): Promise<DaemonFromFile> {
  let daemon: McastDaemon | undefined;
  const watcher = new ConfigFileWatcher({
    file: opts.file,
    schema: McastFileConfig,
    log: opts.log,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
    apply: async (cfg) => {
      await daemon?.stop();
      daemon = undefined;
      const next = new McastDaemon({ ...cfg, log: opts.log, ...opts.tuning });
      await next.start();
      daemon = next;
    },
  });
  await watcher.start();
  return {
    get daemon() {
      return daemon;
    },
    watcher,
    async stop() {
      watcher.stop();
      await daemon?.stop();
    },
  };
}
