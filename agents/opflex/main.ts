/**
 * opflex-agent entry point: `tsx agents/opflex/main.ts --config agent.json [--health-port N]`
 * (/healthz and /readyz on 127.0.0.1, see probes.ts)
 *
 * agent.json (validated by AgentFileConfig, written by the host agent,
 * agents/host/node-agents.ts):
 *   { "stateDir": "/var/lib/aci-containers", "ovsRundir": "/var/run/aci-containers-ovs",
 *     "bridge": "br-int", "nodeName": "node-1",
 *     "gateway": { "ip": "10.2.0.1", "mac": "00:22:bd:f8:19:ff", "port": "aci-gw0" },
 *     "podSubnets": [{ "cidr": "10.2.0.0/16", "gateway": "10.2.0.1" }],
 *     "uplink": { "port": "eth1", "encap": "vlan" },
 *     "bridgeDomainVlans": { "aci-containers-kube-pod-bd": 3021 }, "nodeIPs": ["192.168.1.11"],
 *     "opflex": { "peers": [{ "host": "10.0.0.30", "port": 8009 }], "domain": "<VMM domain>",
 *                 "tls": { "mode": "verify", "caFile": "/usr/local/etc/opflex-agent-ovs/leaf-ca/ca.crt" } } }
 * (`opflex`: the OpFlex session with the leaf, agents/opflex/opflex/config.ts; without it no contracts.)
 *
 * Until the file exists (and is valid) the agent waits; a rewrite restarts
 * the agent in process (run.ts).
 */
import { runConfigFileAgent } from '../../lib/process/config-file-main.ts';
import { startAgentFromFile } from './run.ts';

await runConfigFileAgent('agent.json', startAgentFromFile);
