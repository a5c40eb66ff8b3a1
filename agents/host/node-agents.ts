/**
 * The node-specific configuration of the opflex agent and the mcast daemon.
 * As in the original, the host agent writes it into the volume the three
 * containers of aci-containers-host share (opflex-hostconfig), because only
 * the host agent learns the node's facts: its pod gateway from its
 * PodIPPool, its addresses from the downward API.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { subnetsFromGateways } from './ipam/index.ts';

/** ACI's pervasive gateway MAC: every leaf answers for the BD gateway with it. */
export const AciRouterMac = '00:22:bd:f8:19:ff';
export const NodeAgentConfigDir = '/usr/local/etc/opflex-agent-ovs/base-conf.d';

export interface NodeFacts {
  nodeName: string;
  /** PodIPPool spec.gateways, gateway/prefix form. */
  gateways: readonly string[];
  nodeIPs: readonly string[];
  stateDir: string;
  ovsRunDir: string;
  bridge: string;
}

export interface NodeAgentFiles {
  'agent.json': Record<string, unknown>;
  'mcast.json': Record<string, unknown>;
}

/** Pure: the two files, shaped as agents/opflex/main.ts and agents/mcast/main.ts parse them. */
export function nodeAgentFiles(facts: NodeFacts): NodeAgentFiles {
  const ipv4Gateway = subnetsFromGateways([...facts.gateways]).find(
    (s) => !s.gateway.includes(':'),
  )?.gateway;
  if (!ipv4Gateway)
    throw new Error('the PodIPPool has no IPv4 gateway; the data plane is IPv4 only');
  const common = {
    nodeName: facts.nodeName,
    stateDir: facts.stateDir,
    ovsRundir: facts.ovsRunDir,
    bridge: facts.bridge,
  };
  return {
    'agent.json': {
      ...common,
      gateway: { ip: ipv4Gateway, mac: AciRouterMac },
      nodeIPs: facts.nodeIPs.filter((ip) => !ip.includes(':')),
    },
    'mcast.json': { ...common, fabricDir: path.join(facts.stateDir, 'fabric') },
  };
}

/** Writes each file atomically, so the agents never read half a config. */
export async function writeNodeAgentFiles(dir: string, files: NodeAgentFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(dir, name);
    await writeFile(`${target}.tmp`, `${JSON.stringify(content, null, 2)}\n`);
    await rename(`${target}.tmp`, target);
  }
}
