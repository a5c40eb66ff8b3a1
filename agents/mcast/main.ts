/**
 * mcast-daemon entry point: `tsx agents/mcast/main.ts --config mcast.json [--health-port N]`
 * (/healthz and /readyz on 127.0.0.1, see agents/opflex/probes.ts)
 *
 * mcast.json (McastFileConfig, written by the host agent): { "nodeName": "node-1",
 *   "stateDir": "/var/lib/aci-containers", "ovsRundir": "/var/run/aci-containers-ovs",
 *   "bridge": "br-int", "uplink": { "port": "eth1", "encap": "vlan" },
 *   "bridgeDomainVlans": { "aci-containers-kube-pod-bd": 3021 } }
 * With vxlan: "uplink": { "port": "vxlan0", "encap": "vxlan" }, "bridgeDomainVnis": { bd: vni },
 *   "bridgeDomainGroups": { bd: "225.20.x.y" }, "groupInterface": "br-infra" (the groups are joined there).
 *
 * Waits for the file and applies rewrites in process (run.ts), as the opflex agent does.
 */
import { runConfigFileAgent } from '../../lib/process/config-file-main.ts';
import { startDaemonFromFile } from './run.ts';

await runConfigFileAgent('mcast.json', startDaemonFromFile);
