/**
 * The opflex agent as its entry point runs it: from agent.json, waiting
 * for the file and restarting the agent in process on each rewrite. Shared
 * by main.ts and the data-plane tests, so the tests run what a node runs.
 */
import type { Logger } from 'pino';
import { type AgentOptions, OpflexAgent } from './agent.ts';
import { ConfigFileWatcher } from './config-file.ts';
import { AgentFileConfig } from './main-config.ts';

export interface AgentFromFile {
  /** The running agent; undefined until the file first exists and is valid. */
  readonly agent: OpflexAgent | undefined;
  readonly watcher: ConfigFileWatcher<typeof AgentFileConfig>;
  stop(): Promise<void>;
}

export async function startAgentFromFile(opts: {
  file: string;
  log: Logger;
  tuning?: Pick<AgentOptions, 'probeIntervalMs' | 'rescanIntervalMs'>;
  pollIntervalMs?: number;
}): Promise<AgentFromFile> {
  let agent: OpflexAgent | undefined;
  const watcher = new ConfigFileWatcher({
    file: opts.file,
    schema: AgentFileConfig,
    log: opts.log,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
    // A restart re-renders the same flows for what did not change: they keep their cookies and are not touched.
    apply: async ({ stateDir, ovsRundir, bridge, ...config }) => {
      await agent?.stop();
      agent = undefined;
      const next = new OpflexAgent({
        config,
        stateDir,
        ovsRundir,
        bridge,
        log: opts.log,
        ...opts.tuning,
      });
      await next.start();
      agent = next;
    },
  });
  await watcher.start();
  return {
    get agent() {
      return agent;
    },
    watcher,
    async stop() {
      watcher.stop();
      await agent?.stop();
    },
  };
}
