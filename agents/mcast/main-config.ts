/** The mcast daemon's config file (mcast.json), which the host agent writes per node. */
import { z } from 'zod';
import { UplinkConfig } from '../opflex/model.ts';

export const McastFileConfig = z.object({
  nodeName: z.string().min(1),
  stateDir: z.string().default('/var/lib/aci-containers'),
  ovsRundir: z.string().default('/var/run/aci-containers-ovs'),
  bridge: z.string().default('br-int'),
  /** The uplink toward the leaf; without it floods stay on the node. */
  uplink: UplinkConfig.optional(),
  bridgeDomainVlans: z.record(z.string(), z.number().int().min(1).max(4094)).default({}),
});
export type McastFileConfig = z.infer<typeof McastFileConfig>;
