/**
 * Configuration files the operator renders into the `aci-containers-config`
 * ConfigMap (keys controller-config, host-agent-config, opflex-agent-config,
 * as in the original) and the components parse at start. One zod schema per
 * file is the contract: render produces it, the component validates it.
 */
import { z } from 'zod';
import { OpflexSessionConfig } from './opflex-session.ts';

const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
const epgRef = z.object({ tenant: z.string(), applicationProfile: z.string(), name: z.string() });

/** Where things are inside the containers (and on the node); shared by render and components. */
export const paths = {
  configDir: '/usr/local/etc/aci-containers',
  apicCredentialsDir: '/usr/local/etc/aci-cert',
  apicCaDir: '/usr/local/etc/aci-ca',
  stateDir: '/usr/local/var/lib/aci-containers',
  cniSocket: '/usr/local/var/run/aci-containers/cni.sock',
  cniBinDir: '/mnt/cni-bin',
  cniConfDir: '/mnt/cni-conf',
  ovsRunDir: '/usr/local/var/run/openvswitch',
} as const;

/**
 * The node directories the node's containers mount (host path -> container
 * path). Each is the one folder a component needs, never the node's whole
 * /var or /run: /run holds the container runtime's socket, and write access
 * to it is root on the node. The host paths are where the original keeps
 * them (/var/run is /run on every distribution).
 */
export const nodeDirs = {
  state: { host: '/var/lib/aci-containers', container: paths.stateDir },
  cniSocket: {
    host: '/var/run/aci-containers',
    container: paths.cniSocket.slice(0, paths.cniSocket.lastIndexOf('/')),
  },
  ovsRun: { host: '/var/run/openvswitch', container: paths.ovsRunDir },
  netns: { host: '/run/netns', container: '/run/netns' },
} as const;

export const ports = {
  controllerHealth: 8091,
  hostAgentHealth: 8090,
  opflexAgentHealth: 8092,
  openvswitchHealth: 8093,
  mcastDaemonHealth: 8094,
  operatorHealth: 8081,
  operatorMetrics: 8080,
} as const;

export const ControllerConfig = z.object({
  logLevel,
  fabricName: z
    .string()
    .meta({ description: 'AciFabric whose status the controller reports into.' }),
  systemId: z.string(),
  namespace: z.string(),
  apic: z.object({
    hosts: z.array(z.string()).min(1),
    method: z.enum(['Password', 'Certificate']),
    certificateName: z.string().optional(),
    /** User name when the Secret has no `username` file (acc-provision's Secret). */
    username: z.string().optional(),
    /** Mounted Secret: files `username` and `password` or `privateKey` (or acc-provision's `user.key`). */
    credentialsDir: z.string(),
    /** Mounted CA bundle file, when the AciFabric names one. */
    caBundleFile: z.string().optional(),
    insecureSkipTLSVerify: z.boolean(),
  }),
  aci: z.object({
    tenant: z.string(),
    tenantPreexisting: z.boolean(),
    vrf: z.object({ name: z.string(), tenant: z.string() }),
    l3out: z.object({ name: z.string(), externalNetworks: z.array(z.string()) }),
    aep: z.string(),
    vmmDomain: z.object({
      name: z.string(),
      controller: z.string(),
      encapType: z.enum(['vxlan', 'vlan']),
      multicastRange: z.object({ start: z.string(), end: z.string() }),
      multicastFabricAddress: z.string().optional(),
      vlanPool: z.object({ start: z.number(), end: z.number() }).optional(),
      controllerAddress: z.string().optional(),
      nestedInside: z
        .object({ type: z.enum(['vmware', 'openstack']), name: z.string() })
        .optional(),
    }),
    /** What the controller provisions beyond its dynamic objects (AciFabric spec.aci.provision). */
    provision: z.enum(['Fabric', 'Tenant', 'None']).default('None'),
    /** Take over objects annotated by acc-provision / the original controller. */
    adoptExisting: z.boolean().default(false),
    customEndpointGroups: z.array(z.string()).default([]),
    /** IP SLA probe interval of the service endpoints in seconds; 0: no tracking. */
    serviceMonitorInterval: z.number().int().min(0).default(0),
    legacyNaming: z.boolean().default(false),
    applicationProfile: z.string(),
    defaultEndpointGroup: epgRef,
    systemEndpointGroup: epgRef,
    nodesEndpointGroup: epgRef,
    systemNamespaces: z.array(z.string()),
    podBridgeDomain: z.string(),
    nodeBridgeDomain: z.string(),
    serviceBridgeDomain: z.string(),
    deviceCluster: z.string(),
    serviceGraphTemplate: z.string(),
    objectPrefix: z.string(),
  }),
  network: z.object({
    nodeSubnet: z.string(),
    podSubnets: z.array(z.string()),
    podSubnetChunkSize: z.number().int(),
    nodeServiceSubnet: z.string(),
    externDynamic: z.array(z.string()),
    externStatic: z.array(z.string()),
    kubeapiVlan: z.number().int(),
    serviceVlan: z.number().int(),
    infraVlan: z.number().int(),
    mtu: z.number().int(),
  }),
  loadBalancing: z.object({ maxNodesServiceGraph: z.number().int().min(1) }),
  healthPort: z.number().int(),
  leaderElection: z
    .object({
      namespace: z.string(),
      leaseName: z.string(),
      // client-go's timings (15 s, 10 s, 2 s) when absent; shorter ones trade API load for faster failover.
      leaseDurationSeconds: z.number().int().min(1).optional(),
      renewDeadlineMs: z.number().int().min(1).optional(),
      retryPeriodMs: z.number().int().min(1).optional(),
    })
    .refine(
      (l) =>
        (l.leaseDurationSeconds ?? 15) * 1000 > (l.renewDeadlineMs ?? 10_000) &&
        (l.renewDeadlineMs ?? 10_000) > (l.retryPeriodMs ?? 2000),
      'leaderElection: leaseDurationSeconds must exceed renewDeadlineMs, which must exceed retryPeriodMs',
    ),
});
export type ControllerConfig = z.infer<typeof ControllerConfig>;

export const HostAgentConfig = z.object({
  logLevel,
  systemId: z.string(),
  stateDir: z.string(),
  cniSocket: z.string(),
  cniBinDir: z.string(),
  cniConfDir: z.string(),
  mtu: z.number().int(),
  accessBridge: z.string(),
  integrationBridge: z.string(),
  encapType: z.enum(['vxlan', 'vlan']),
  serviceVlan: z.number().int(),
  infraVlan: z.number().int(),
  /** The node's interface toward the leaf; the host agent adds it to the integration bridge. Absent: no uplink (pods reach only their node). */
  uplinkInterface: z.string().min(1).max(15).optional(),
  /** VMM domain VLAN pool: the bridge domains' encap VLANs with vlan encap. */
  vlanPool: z.object({ start: z.number().int(), end: z.number().int() }).optional(),
  /** VMM domain multicast range: the bridge domains' groups (GIPo) with vxlan encap. */
  multicastRange: z.object({ start: z.string(), end: z.string() }).optional(),
  aci: z.object({
    tenant: z.string(),
    defaultEndpointGroup: epgRef,
    systemEndpointGroup: epgRef,
    systemNamespaces: z.array(z.string()),
    podBridgeDomain: z.string(),
  }),
  /** AciFabric spec.aci.opflex as the opflex agent takes it (less the agent name: the node's); absent, no OpFlex session. */
  opflex: OpflexSessionConfig.omit({ name: true }).optional(),
  healthPort: z.number().int(),
});
export type HostAgentConfig = z.infer<typeof HostAgentConfig>;
