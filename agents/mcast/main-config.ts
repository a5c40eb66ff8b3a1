/** The mcast daemon's config file (mcast.json), which the host agent writes per node. */
import { z } from 'zod';

export const McastFileConfig = z.object({
  nodeName: z.string().min(1),
  stateDir: z.string().default('/var/lib/aci-containers'),
  ovsRundir: z.string().default('/var/run/aci-containers-ovs'),
  bridge: z.string().default('br-int'),
  fabricDir: z.string(),
  fabricLinks: z.array(z.object({ node: z.string(), port: z.string() })).default([]),
  bridgeDomainVlans: z.record(z.string(), z.number().int().min(1).max(4094)).default({}),
});
export type McastFileConfig = z.infer<typeof McastFileConfig>;
