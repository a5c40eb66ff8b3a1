/**
 * The mcast daemon as its entry point runs it: from mcast.json, waiting for
 * the file and restarting the daemon in process on each rewrite. Shared by
 * main.ts and the data-plane tests.
 */
import type { Logger } from 'pino';
import { type HealthServer, startHealthServer } from '../../lib/health/probes.ts';
import type { OfTarget } from '../openvswitch/ofctl.ts';
import { ConfigFileWatcher } from '../opflex/config-file.ts';
import { flowCookie } from '../opflex/diff.ts';
import { nodeAgentProbes } from '../opflex/probes.ts';
import { type McastOptions, McastDaemon } from './daemon.ts';
import { McastFileConfig } from './main-config.ts';
import { mcastCanaryFlow } from './render.ts';

export interface DaemonFromFile {
  readonly daemon: McastDaemon | undefined;
  readonly watcher: ConfigFileWatcher<typeof McastFileConfig>;
  /** The probes' server, when a health port was given (agents/opflex/probes.ts). */
  readonly health: HealthServer | undefined;
  stop(): Promise<void>;
}

export async function startDaemonFromFile(opts: {
  file: string;
  log: Logger;
  tuning?: Pick<McastOptions, 'probeIntervalMs' | 'rescanIntervalMs' | 'hostNetns'>;
  pollIntervalMs?: number;
  /** /healthz and /readyz on the node's loopback (0: any free port). */
  healthPort?: number;
}): Promise<DaemonFromFile> {
  let daemon: McastDaemon | undefined;
  let target: OfTarget | undefined;
  const watcher = new ConfigFileWatcher({
    file: opts.file,
    schema: McastFileConfig,
    log: opts.log,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
    apply: async (cfg) => {
      await daemon?.stop();
      daemon = undefined;
      target = undefined;
      const next = new McastDaemon({ ...cfg, log: opts.log, ...opts.tuning });
      await next.start();
      daemon = next;
      target = { rundir: cfg.ovsRundir, bridge: cfg.bridge };
    },
  });
  const health =
    opts.healthPort === undefined
      ? undefined
      : await startHealthServer(
          opts.healthPort,
          nodeAgentProbes({
            file: opts.file,
            running: () => target,
            canaryCookie: flowCookie('mcast', mcastCanaryFlow()),
          }),
        );
  await watcher.start();
  return {
    get daemon() {
      return daemon;
    },
    watcher,
    health,
    async stop() {
      watcher.stop();
      await daemon?.stop();
      await health?.close();
    },
  };
}
