/**
 * One default model for render tests (tigera-style: each test changes one
 * thing). Two pods on ofports 1 and 2, a gateway port 10, the uplink 20 (VLAN encap);
 * the cluster's pod subnet is 10.1.0.0/16, so 10.2.0.0/16 is not behind the uplink.
 */
import type { SecurityGroupFile, ServiceFile } from '../../../agents/opflex/files.ts';
import { DataplaneConfig, type LocalEndpoint, type Model } from '../../../agents/opflex/model.ts';

export const PodA: LocalEndpoint = {
  uuid: 'a',
  ofport: 1,
  mac: '0a:58:0a:00:00:01',
  ipv4: ['10.1.0.11'],
  ipv6: [],
  vlan: 100,
  bridgeDomain: 'bd',
  securityGroups: [],
};
export const PodB: LocalEndpoint = {
  ...PodA,
  uuid: 'b',
  ofport: 2,
  mac: '0a:58:0a:00:00:02',
  ipv4: ['10.1.0.12'],
  ipv6: [],
};

export function defaultModel(change: Partial<Model> = {}): Model {
  return {
    config: DataplaneConfig.parse({
      nodeName: 'n1',
      gateway: { ip: '10.1.0.1', mac: '0a:58:0a:00:00:ff', port: 'gw0' },
      nodeIPs: ['192.168.0.10'],
      podSubnets: [{ cidr: '10.1.0.0/16', gateway: '10.1.0.1' }],
      uplink: { port: 'eth1', encap: 'vlan' },
    }),
    endpoints: [PodA, PodB],
    securityGroups: new Map(),
    services: [],
    gatewayOfport: 10,
    uplink: { port: 'eth1', ofport: 20, encap: 'vlan' },
    ...change,
  };
}

export function withGroups(
  m: Model,
  groups: SecurityGroupFile[],
  members: Record<string, string[]>,
): Model {
  return {
    ...m,
    securityGroups: new Map(groups.map((g) => [g.name, g])),
    endpoints: m.endpoints.map((ep) => ({ ...ep, securityGroups: members[ep.uuid] ?? [] })),
  };
}

export const WebService: ServiceFile = {
  uuid: 'web',
  namespace: 'default',
  name: 'web',
  frontends: [{ ip: '10.96.0.10', kind: 'ClusterIP' }],
  ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
  backends: ['10.1.0.11', { ip: '10.1.0.12', targetPorts: { http: 9090 } }],
  sessionAffinity: 'None',
  affinityTimeoutSeconds: 10800,
};
