/**
 * The aci-containers-config ConfigMap: one file per component, each a
 * document of the schema the component parses (lib/config/components.ts),
 * derived from the AciFabric spec. Credentials are not here: the controller
 * gets the Secret mounted.
 */
import { ControllerConfig, HostAgentConfig, paths, ports } from '../../lib/config/components.ts';
import { aciNames, type AciNames } from '../../lib/config/naming.ts';
import {
  type OpflexSessionConfig,
  type OpflexTlsConfig,
  opflexCaFile,
  opflexDomain,
} from '../../lib/config/opflex-session.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { contentHash, ownedMeta, type RenderInput } from './common.ts';
import { ConfigKeys, ConfigMapName, LeaderElectionLease } from './names.ts';

/**
 * One bridge: services must be load-balanced before egress security groups
 * see the backend address, which two bridges would need a second pass for
 * (docs/dataplane.md). Pods attach to it directly.
 */
export const integrationBridge = 'br-int';
export const accessBridge = integrationBridge;

export interface RenderedConfig {
  files: Record<(typeof ConfigKeys)[keyof typeof ConfigKeys], string>;
  controllerHash: string;
  hostHash: string;
}

/** EPGs of the cluster's own application profile, by name. */
const endpointGroupIn = (names: AciNames) => (name: string) => ({
  tenant: names.tenant,
  applicationProfile: names.applicationProfile,
  name,
});

function systemNamespaces(input: RenderInput): string[] {
  return [...new Set(['kube-system', input.spec.namespace])];
}

export function controllerConfig(input: RenderInput): ControllerConfig {
  const { spec } = input;
  const names = aciNames(spec);
  const epg = endpointGroupIn(names);
  return ControllerConfig.parse({
    logLevel: spec.logging.controller,
    fabricName: input.fabric.name,
    systemId: spec.systemId,
    namespace: spec.namespace,
    apic: {
      hosts: spec.apic.hosts,
      method: spec.apic.credentials.method,
      ...(spec.apic.credentials.certificateName
        ? { certificateName: spec.apic.credentials.certificateName }
        : {}),
      ...(spec.apic.credentials.username ? { username: spec.apic.credentials.username } : {}),
      credentialsDir: paths.apicCredentialsDir,
      ...(spec.apic.caBundleSecretRef ? { caBundleFile: `${paths.apicCaDir}/ca.crt` } : {}),
      insecureSkipTLSVerify: spec.apic.insecureSkipTLSVerify,
    },
    aci: {
      tenant: names.tenant,
      tenantPreexisting: spec.aci.tenant.preexisting,
      vrf: spec.aci.vrf,
      l3out: spec.aci.l3out,
      aep: spec.aci.aep,
      vmmDomain: {
        name: names.vmmDomain,
        controller: names.vmmController,
        encapType: spec.aci.vmmDomain.encapType,
        multicastRange: spec.aci.vmmDomain.multicastRange,
        ...(spec.aci.vmmDomain.multicastFabricAddress
          ? { multicastFabricAddress: spec.aci.vmmDomain.multicastFabricAddress }
          : {}),
        ...(spec.aci.vmmDomain.vlanPool ? { vlanPool: spec.aci.vmmDomain.vlanPool } : {}),
        ...(spec.aci.vmmDomain.controllerAddress
          ? { controllerAddress: spec.aci.vmmDomain.controllerAddress }
          : {}),
        ...(spec.aci.vmmDomain.nestedInside
          ? { nestedInside: spec.aci.vmmDomain.nestedInside }
          : {}),
      },
      provision: spec.aci.provision,
      adoptExisting: spec.aci.adoptExisting,
      customEndpointGroups: spec.aci.customEndpointGroups ?? [],
      serviceMonitorInterval: spec.aci.serviceMonitorInterval,
      legacyNaming: spec.aci.legacyNaming,
      applicationProfile: names.applicationProfile,
      defaultEndpointGroup: epg(names.defaultEndpointGroup),
      systemEndpointGroup: epg(names.systemEndpointGroup),
      nodesEndpointGroup: epg(names.nodesEndpointGroup),
      systemNamespaces: systemNamespaces(input),
      podBridgeDomain: names.podBridgeDomain,
      nodeBridgeDomain: names.nodeBridgeDomain,
      serviceBridgeDomain: names.serviceBridgeDomain,
      deviceCluster: names.deviceCluster,
      serviceGraphTemplate: names.serviceGraphTemplate,
      objectPrefix: names.objectPrefix,
    },
    network: {
      nodeSubnet: spec.network.nodeSubnet,
      podSubnets: spec.network.podSubnets,
      podSubnetChunkSize: spec.network.podSubnetChunkSize,
      nodeServiceSubnet: spec.network.nodeServiceSubnet,
      externDynamic: spec.network.externDynamic ?? [],
      externStatic: spec.network.externStatic ?? [],
      kubeapiVlan: spec.network.kubeapiVlan,
      serviceVlan: spec.network.serviceVlan,
      infraVlan: spec.network.infraVlan,
      mtu: spec.network.mtu,
    },
    loadBalancing: { maxNodesServiceGraph: 32 },
    healthPort: ports.controllerHealth,
    leaderElection: { namespace: spec.namespace, leaseName: LeaderElectionLease },
  });
}

type FabricOpflex = NonNullable<RenderInput['spec']['aci']['opflex']>;

function opflexTls(tls: FabricOpflex['tls']): OpflexTlsConfig {
  switch (tls.mode) {
    case 'Verify':
      // The CA is mounted at one path whichever object holds it (workloads.ts).
      return {
        mode: 'verify',
        caFile: opflexCaFile,
        ...(tls.serverName ? { serverName: tls.serverName } : {}),
      };
    case 'InsecureEncryptedUnverified':
      return { mode: 'insecure-encrypted-unverified' };
    case 'InsecurePlaintext':
      return { mode: 'insecure-plaintext' };
  }
}

/** spec.aci.opflex as every node's opflex agent opens it; the agent name is the node's. */
export function opflexSession(input: RenderInput): Omit<OpflexSessionConfig, 'name'> | undefined {
  const opflex = input.spec.aci.opflex;
  if (!opflex) return undefined;
  const names = aciNames(input.spec);
  return {
    peers: [{ host: opflex.peer.host, port: opflex.peer.port }],
    domain: opflex.domain ?? opflexDomain(names.vmmDomain, names.vmmController),
    tls: opflexTls(opflex.tls),
    prrSeconds: 7200,
  };
}

export function hostAgentConfig(input: RenderInput): HostAgentConfig {
  const { spec } = input;
  const names = aciNames(spec);
  const epg = endpointGroupIn(names);
  return HostAgentConfig.parse({
    logLevel: spec.logging.hostAgent,
    systemId: spec.systemId,
    stateDir: paths.stateDir,
    cniSocket: paths.cniSocket,
    cniBinDir: paths.cniBinDir,
    cniConfDir: paths.cniConfDir,
    mtu: spec.network.mtu,
    accessBridge,
    integrationBridge,
    encapType: spec.aci.vmmDomain.encapType,
    serviceVlan: spec.network.serviceVlan,
    infraVlan: spec.network.infraVlan,
    uplinkInterface: spec.network.uplinkInterface,
    ...(spec.aci.vmmDomain.vlanPool ? { vlanPool: spec.aci.vmmDomain.vlanPool } : {}),
    multicastRange: spec.aci.vmmDomain.multicastRange,
    aci: {
      tenant: names.tenant,
      defaultEndpointGroup: epg(names.defaultEndpointGroup),
      systemEndpointGroup: epg(names.systemEndpointGroup),
      systemNamespaces: systemNamespaces(input),
      podBridgeDomain: names.podBridgeDomain,
    },
    ...(input.spec.aci.opflex ? { opflex: opflexSession(input) } : {}),
    healthPort: ports.hostAgentHealth,
  });
}

const pretty = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export function renderConfig(input: RenderInput): RenderedConfig {
  const files = {
    [ConfigKeys.controller]: pretty(controllerConfig(input)),
    [ConfigKeys.hostAgent]: pretty(hostAgentConfig(input)),
  } as RenderedConfig['files'];
  return {
    files,
    controllerHash: contentHash(files[ConfigKeys.controller]),
    hostHash: contentHash(files[ConfigKeys.hostAgent]),
  };
}

export function configMap(input: RenderInput, config: RenderedConfig): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(input, ConfigMapName, 'config'),
    data: config.files,
  };
}
