/** The mcast daemon's config file (mcast.json), which the host agent writes per node. */
import { z } from 'zod';
import { UplinkConfig, Vni } from '../opflex/model.ts';

export const McastFileConfig = z.object({
  nodeName: z.string().min(1),
  stateDir: z.string().default('/var/lib/aci-containers'),
  ovsRundir: z.string().default('/var/run/aci-containers-ovs'),
  bridge: z.string().default('br-int'),
  /** The uplink toward the leaf; without it floods stay on the node. */
  uplink: UplinkConfig.optional(),
  bridgeDomainVlans: z.record(z.string(), z.number().int().min(1).max(4094)).default({}),
  /** vxlan uplink: each bridge domain's VNI (the flood bucket toward the leaf carries it). */
  bridgeDomainVnis: z.record(z.string(), Vni).default({}),
  /** vxlan uplink: each bridge domain's multicast group (GIPo); joined while the node has pods in it. */
  bridgeDomainGroups: z.record(z.string(), z.ipv4()).default({}),
  /** The interface holding the node's VTEP address, on which groups are joined (IGMP). */
  groupInterface: z.string().min(1).optional(),
});
export type McastFileConfig = z.infer<typeof McastFileConfig>;
