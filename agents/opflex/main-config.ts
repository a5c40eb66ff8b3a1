/** The opflex agent's config file (agent.json), which the host agent writes per node. */
import { z } from 'zod';
import { DataplaneConfig } from './model.ts';
import { OpflexSessionConfig } from './opflex/config.ts';

export const AgentFileConfig = DataplaneConfig.extend({
  stateDir: z.string().default('/var/lib/aci-containers'),
  ovsRundir: z.string().default('/var/run/aci-containers-ovs'),
  bridge: z.string().default('br-int'),
  /** The OpFlex session with the leaf; without it no contracts are enforced. */
  opflex: OpflexSessionConfig.optional(),
});
export type AgentFileConfig = z.infer<typeof AgentFileConfig>;
