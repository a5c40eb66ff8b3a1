/**
 * The `opflex` section of the opflex agent's agent.json: which leaf to
 * speak OpFlex with and how (lib/config/opflex-session.ts, the schema every
 * hop from the AciFabric to here shares). Without it the agent renders no
 * contracts (there is no policy to render them from).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { OpflexSessionConfig } from '../../../lib/config/opflex-session.ts';
import { OpflexClient } from './client.ts';

export { OpflexSessionConfig };

/**
 * Keeps one client across agent.json rewrites: a rewrite that leaves the
 * `opflex` section as it was keeps the session and the policy it resolved
 * (so contracts never lapse while the agent restarts its pipeline); a
 * changed section starts a new client.
 */
export class OpflexSessionHolder {
  private current?: { config: OpflexSessionConfig; nodeName: string; client: OpflexClient };

  constructor(private readonly log: Logger) {}

  async update(
    config: OpflexSessionConfig | undefined,
    nodeName: string,
  ): Promise<OpflexClient | undefined> {
    const cur = this.current;
    if (cur && config && cur.nodeName === nodeName && isDeepStrictEqual(cur.config, config))
      return cur.client;
    await this.stop();
    if (config === undefined) return undefined;
    const client = new OpflexClient({
      name: config.name ?? nodeName,
      domain: config.domain,
      peers: config.peers,
      tls: config.tls,
      prrSeconds: config.prrSeconds,
      log: this.log,
    });
    client.start();
    this.current = { config, nodeName, client };
    return client;
  }

  async stop(): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    await cur?.client.stop();
  }
}
