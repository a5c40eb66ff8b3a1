/**
 * The opflex agent as its entry point runs it: from agent.json, waiting
 * for the file and restarting the agent in process on each rewrite. Shared
 * by main.ts and the data-plane tests, so the tests run what a node runs.
 */
import type { Logger } from 'pino';
import { type HealthServer, startHealthServer } from '../../lib/health/probes.ts';
import { type AgentOptions, OpflexAgent } from './agent.ts';
import { ConfigFileWatcher } from './config-file.ts';
import { flowCookie } from './diff.ts';
import { AgentFileConfig } from './main-config.ts';
import { OpflexSessionHolder } from './opflex/config.ts';
import { opflexPolicySource } from './policy/opflex-source.ts';
import { nodeAgentProbes } from './probes.ts';
import { canaryFlow } from './render.ts';

export interface AgentFromFile {
  /** The running agent; undefined until the file first exists and is valid. */
  readonly agent: OpflexAgent | undefined;
  readonly watcher: ConfigFileWatcher<typeof AgentFileConfig>;
  /** The probes' server, when a health port was given (probes.ts). */
  readonly health: HealthServer | undefined;
  stop(): Promise<void>;
}

export async function startAgentFromFile(opts: {
  file: string;
  log: Logger;
  tuning?: Pick<AgentOptions, 'probeIntervalMs' | 'rescanIntervalMs'>;
  pollIntervalMs?: number;
  /** /healthz and /readyz on the node's loopback (0: any free port). */
  healthPort?: number;
}): Promise<AgentFromFile> {
  let agent: OpflexAgent | undefined;
  // The OpFlex session outlives pipeline restarts: its policy keeps the contracts in force.
  const session = new OpflexSessionHolder(opts.log);
  const watcher = new ConfigFileWatcher({
    file: opts.file,
    schema: AgentFileConfig,
    log: opts.log,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
    // A restart re-renders the same flows for what did not change: they keep their cookies and are not touched.
    apply: async ({ stateDir, ovsRundir, bridge, opflex, ...config }) => {
      await agent?.stop();
      agent = undefined;
      const client = await session.update(opflex, config.nodeName);
      const next = new OpflexAgent({
        config,
        stateDir,
        ovsRundir,
        bridge,
        log: opts.log,
        ...opts.tuning,
        ...(client ? { policy: opflexPolicySource(client) } : {}),
      });
      await next.start();
      agent = next;
    },
  });
  // Up before the config exists: "waiting for agent.json" is what the probe should say meanwhile.
  const health =
    opts.healthPort === undefined
      ? undefined
      : await startHealthServer(
          opts.healthPort,
          nodeAgentProbes({
            file: opts.file,
            running: () => agent?.target,
            canaryCookie: flowCookie('opflex', canaryFlow()),
          }),
        );
  await watcher.start();
  return {
    get agent() {
      return agent;
    },
    watcher,
    health,
    async stop() {
      watcher.stop();
      await agent?.stop();
      await session.stop();
      await health?.close();
    },
  };
}
