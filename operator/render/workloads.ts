/**
 * The three workloads. Container lists and capabilities follow the original
 * acc-provision manifest; host paths are narrowed to the folder each
 * container needs, read-only where it only reads (docs/operator.md says per
 * container why). Every pod template carries a hash of the configuration it
 * consumes, so only a real change rolls the pods.
 */
import { nodeDirs, paths, ports } from '../../lib/config/components.ts';
import { opflexCaDir } from '../../lib/config/opflex-session.ts';
import type { KubeObject } from '../../lib/kube/types.ts';
import { image, ownedMeta, pullSecrets, selectorLabels, type RenderInput } from './common.ts';
import { integrationBridge, type RenderedConfig } from './config.ts';
import {
  Annotations,
  ConfigKeys,
  ConfigMapName,
  Containers,
  ControllerName,
  HostAgentAccount,
  HostAgentName,
  OpenvswitchName,
} from './names.ts';

type Json = Record<string, unknown>;

const entrypoint = '/usr/local/bin/aci-containers';

const nodeNameEnv = {
  name: 'KUBERNETES_NODE_NAME',
  valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
};
const hostIpEnv = [
  { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
  { name: 'HOST_IPS', valueFrom: { fieldRef: { fieldPath: 'status.hostIPs' } } },
];
const logLevelEnv = (level: string) => ({ name: 'LOG_LEVEL', value: level });
/** Written by the host agent for the opflex agent and mcast daemon (agents/host/node-agents.ts). */
const nodeAgentConfigDir = '/usr/local/etc/opflex-agent-ovs/base-conf.d';
const ovsArgs = [`--dir=${paths.ovsRunDir}`, `--bridge=${integrationBridge}`];
const podEnv = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];
/** With hostNetwork, the node's primary address: where the kubelet probes and Prometheus scrapes. */
export const podIpEnv = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };

function hostPath(name: string, path: string, type = 'DirectoryOrCreate'): Json {
  return { name, hostPath: { path, type } };
}

/**
 * Host-network components serve their probes on the node's loopback only;
 * a component that is also scraped (the controller) listens on its pod IP
 * instead and is probed there (no host: the kubelet uses the pod IP).
 */
function httpProbe(
  port: number,
  path: string,
  initialDelaySeconds: number,
  host: 'loopback' | 'podIP' = 'loopback',
): Json {
  return {
    httpGet: { ...(host === 'loopback' ? { host: '127.0.0.1' } : {}), port, path },
    initialDelaySeconds,
    periodSeconds: 10,
    timeoutSeconds: 5,
    failureThreshold: 3,
  };
}

function configVolume(name: string, key: string, file: string): Json {
  return { name, configMap: { name: ConfigMapName, items: [{ key, path: file }] } };
}

function placement(
  input: RenderInput,
  component: 'controller' | 'hostAgent' | 'openvswitch',
): Json {
  const { nodeSelector } = input.spec.components[component];
  return nodeSelector ? { nodeSelector } : {};
}

function resources(
  input: RenderInput,
  component: 'controller' | 'hostAgent' | 'openvswitch',
): Json {
  return input.spec.components[component].resources ?? {};
}

const tolerateEverything = [{ operator: 'Exists' }];
/** The image's `nonroot` user (Dockerfile). */
const controllerUid = 65532;

export function controllerDeployment(input: RenderInput, config: RenderedConfig): KubeObject {
  const { spec } = input;
  const component = spec.components.controller;
  const labels = selectorLabels(ControllerName);
  // Group-readable and owned by the pod's fsGroup: the kubelet makes Secret
  // files root-owned, and the controller runs as uid 65532, not root.
  const secretVolume: Json = {
    name: 'apic-credentials',
    secret: { secretName: spec.apic.credentials.secretRef.name, defaultMode: 0o440 },
  };
  const volumes: Json[] = [
    configVolume('controller-config', ConfigKeys.controller, 'controller.conf'),
    secretVolume,
  ];
  const mounts: Json[] = [
    { name: 'controller-config', mountPath: paths.configDir, readOnly: true },
    { name: 'apic-credentials', mountPath: paths.apicCredentialsDir, readOnly: true },
  ];
  if (spec.apic.caBundleSecretRef) {
    volumes.push({
      name: 'apic-ca',
      secret: {
        secretName: spec.apic.caBundleSecretRef.name,
        items: [{ key: 'ca.crt', path: 'ca.crt' }],
      },
    });
    mounts.push({ name: 'apic-ca', mountPath: paths.apicCaDir, readOnly: true });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMeta(input, ControllerName, 'controller'),
    spec: {
      replicas: component.replicas,
      selector: { matchLabels: labels },
      // One leader at a time holds the Lease; surge so the standby is up before the old pod goes.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: { ...labels, ...ownedMeta(input, ControllerName, 'controller').labels },
          annotations: { [Annotations.configHash]: config.controllerHash },
        },
        spec: {
          serviceAccountName: ControllerName,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          securityContext: { fsGroup: controllerUid, fsGroupChangePolicy: 'OnRootMismatch' },
          priorityClassName: component.priorityClassName ?? 'system-cluster-critical',
          ...placement(input, 'controller'),
          tolerations: [
            {
              key: 'node.kubernetes.io/not-ready',
              operator: 'Exists',
              effect: 'NoExecute',
              tolerationSeconds: 60,
            },
            {
              key: 'node.kubernetes.io/unreachable',
              operator: 'Exists',
              effect: 'NoExecute',
              tolerationSeconds: 60,
            },
            {
              key: 'node-role.kubernetes.io/control-plane',
              operator: 'Exists',
              effect: 'NoSchedule',
            },
            ...(component.tolerations ?? []),
          ],
          ...(pullSecrets(spec) ? { imagePullSecrets: pullSecrets(spec) } : {}),
          containers: [
            {
              name: Containers.controller,
              image: image(spec, 'controller'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [
                entrypoint,
                'controller',
                `--config=${paths.configDir}/controller.conf`,
                '--health-address=$(POD_IP)',
              ],
              env: [...podEnv, podIpEnv],
              ports: [{ name: 'health', containerPort: ports.controllerHealth, protocol: 'TCP' }],
              livenessProbe: httpProbe(ports.controllerHealth, '/healthz', 10, 'podIP'),
              readinessProbe: httpProbe(ports.controllerHealth, '/readyz', 5, 'podIP'),
              resources: resources(input, 'controller'),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                runAsUser: controllerUid,
                runAsGroup: controllerUid,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

function daemonSetStrategy(input: RenderInput): Json {
  return {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: input.spec.components.maxUnavailable },
  };
}

/** Root for the owner bits of OVS's sockets, and nothing else. */
const unprivilegedNodeContainer: Json = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

/** A node directory (lib/config/components.ts nodeDirs) as a volume and as a mount. */
function nodeDirVolume(name: string, dir: keyof typeof nodeDirs): Json {
  return hostPath(name, nodeDirs[dir].host);
}
function nodeDirMount(name: string, dir: keyof typeof nodeDirs, readOnly: boolean): Json {
  return { name, mountPath: nodeDirs[dir].container, ...(readOnly ? { readOnly: true } : {}) };
}

/**
 * The leaf's CA bundle (AciFabric spec.aci.opflex.tls) as a volume of the
 * opflex agent only, from the Secret or ConfigMap the fabric names, at the
 * one path its config names (config.ts).
 */
function opflexCaVolume(input: RenderInput): Json | undefined {
  const tls = input.spec.aci.opflex?.tls;
  if (tls?.mode !== 'Verify') return undefined;
  const ref = tls.caSecretRef ?? tls.caConfigMapRef;
  if (!ref) return undefined;
  const items = [{ key: ref.key, path: 'ca.crt' }];
  return tls.caSecretRef
    ? { name: 'opflex-leaf-ca', secret: { secretName: ref.name, items } }
    : { name: 'opflex-leaf-ca', configMap: { name: ref.name, items } };
}

export function hostDaemonSet(input: RenderInput, config: RenderedConfig): KubeObject {
  const leafCa = opflexCaVolume(input);
  const { spec } = input;
  const component = spec.components.hostAgent;
  const labels = selectorLabels(HostAgentName);
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: ownedMeta(input, HostAgentName, 'host-agent'),
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: daemonSetStrategy(input),
      template: {
        metadata: {
          labels: { ...labels, ...ownedMeta(input, HostAgentName, 'host-agent').labels },
          annotations: { [Annotations.configHash]: config.hostHash },
        },
        spec: {
          serviceAccountName: HostAgentAccount,
          hostNetwork: true,
          // A runtime may name a pod's network namespace as /proc/<pid>/ns/net
          // (CNI_NETNS), which only resolves in the node's PID namespace.
          hostPID: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: component.priorityClassName ?? 'system-node-critical',
          ...placement(input, 'hostAgent'),
          tolerations: [...tolerateEverything, ...(component.tolerations ?? [])],
          ...(pullSecrets(spec) ? { imagePullSecrets: pullSecrets(spec) } : {}),
          initContainers: [
            {
              name: Containers.cniInstall,
              image: image(spec, 'hostAgent'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [entrypoint, 'cni-install', `--config=${paths.configDir}/host-agent.conf`],
              volumeMounts: [
                { name: 'cni-bin', mountPath: paths.cniBinDir },
                { name: 'cni-conf', mountPath: paths.cniConfDir },
                { name: 'host-agent-config', mountPath: paths.configDir, readOnly: true },
              ],
            },
          ],
          containers: [
            {
              name: Containers.hostAgent,
              image: image(spec, 'hostAgent'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [entrypoint, 'host-agent', `--config=${paths.configDir}/host-agent.conf`],
              env: [nodeNameEnv, ...hostIpEnv, ...podEnv],
              // NET_ADMIN: veths, addresses, routes; SYS_ADMIN: setns into a pod's netns;
              // SYS_PTRACE: open /proc/<pid>/ns/net of another process.
              securityContext: { capabilities: { add: ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE'] } },
              livenessProbe: httpProbe(ports.hostAgentHealth, '/healthz', 15),
              readinessProbe: httpProbe(ports.hostAgentHealth, '/readyz', 5),
              resources: resources(input, 'hostAgent'),
              volumeMounts: [
                // The plugin and conflist are re-installed at every start.
                { name: 'cni-bin', mountPath: paths.cniBinDir },
                { name: 'cni-conf', mountPath: paths.cniConfDir },
                nodeDirMount('state', 'state', false),
                nodeDirMount('cni-socket', 'cniSocket', false),
                // ovs-vsctl only connects to db.sock.
                nodeDirMount('openvswitch-run', 'ovsRun', true),
                { name: 'host-agent-config', mountPath: paths.configDir, readOnly: true },
                { name: 'opflex-hostconfig', mountPath: nodeAgentConfigDir },
                // The runtime creates pods' namespaces after this container started.
                { ...nodeDirMount('netns', 'netns', true), mountPropagation: 'HostToContainer' },
              ],
            },
            {
              name: Containers.opflexAgent,
              image: image(spec, 'opflexAgent'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [
                entrypoint,
                'opflex-agent',
                `--config=${nodeAgentConfigDir}/agent.json`,
                `--health-port=${ports.opflexAgentHealth}`,
              ],
              env: [nodeNameEnv, logLevelEnv(spec.logging.opflexAgent)],
              // It only talks to OVS over its unix sockets (and to the leaf over TCP).
              securityContext: unprivilegedNodeContainer,
              livenessProbe: httpProbe(ports.opflexAgentHealth, '/healthz', 15),
              readinessProbe: httpProbe(ports.opflexAgentHealth, '/readyz', 5),
              resources: resources(input, 'hostAgent'),
              volumeMounts: [
                // Reads the endpoint, service and security-group files the host agent writes.
                nodeDirMount('state', 'state', true),
                // ovs-ofctl, ovs-appctl and OVSDB: connects to sockets only.
                nodeDirMount('openvswitch-run', 'ovsRun', true),
                { name: 'opflex-hostconfig', mountPath: nodeAgentConfigDir, readOnly: true },
                ...(leafCa
                  ? [{ name: 'opflex-leaf-ca', mountPath: opflexCaDir, readOnly: true }]
                  : []),
              ],
            },
            {
              name: Containers.mcastDaemon,
              image: image(spec, 'mcastDaemon'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [
                entrypoint,
                'mcast-daemon',
                `--config=${nodeAgentConfigDir}/mcast.json`,
                `--health-port=${ports.mcastDaemonHealth}`,
              ],
              env: [nodeNameEnv, logLevelEnv(spec.logging.opflexAgent)],
              // VXLAN: it joins the bridge domains' groups on the VTEP interface with the
              // kernel's autojoin address (`ip addr add <group>/32 autojoin`), which needs
              // NET_ADMIN; the original joins with sockets. VLAN encap joins nothing.
              securityContext:
                spec.aci.vmmDomain.encapType === 'vxlan'
                  ? {
                      ...unprivilegedNodeContainer,
                      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
                    }
                  : unprivilegedNodeContainer,
              livenessProbe: httpProbe(ports.mcastDaemonHealth, '/healthz', 15),
              readinessProbe: httpProbe(ports.mcastDaemonHealth, '/readyz', 5),
              resources: resources(input, 'hostAgent'),
              volumeMounts: [
                nodeDirMount('state', 'state', true),
                nodeDirMount('openvswitch-run', 'ovsRun', true),
                { name: 'opflex-hostconfig', mountPath: nodeAgentConfigDir, readOnly: true },
              ],
            },
          ],
          volumes: [
            hostPath('cni-bin', '/opt/cni/bin'),
            hostPath('cni-conf', '/etc/cni/net.d'),
            nodeDirVolume('state', 'state'),
            nodeDirVolume('cni-socket', 'cniSocket'),
            nodeDirVolume('openvswitch-run', 'ovsRun'),
            nodeDirVolume('netns', 'netns'),
            configVolume('host-agent-config', ConfigKeys.hostAgent, 'host-agent.conf'),
            // Generated agent configuration shared between the host agent and the opflex agent.
            { name: 'opflex-hostconfig', emptyDir: { medium: 'Memory' } },
            ...(leafCa ? [leafCa] : []),
          ],
        },
      },
    },
  };
}

export function openvswitchDaemonSet(input: RenderInput, config: RenderedConfig): KubeObject {
  const { spec } = input;
  const component = spec.components.openvswitch;
  const labels = selectorLabels(OpenvswitchName);
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: ownedMeta(input, OpenvswitchName, 'openvswitch'),
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: daemonSetStrategy(input),
      template: {
        metadata: {
          labels: { ...labels, ...ownedMeta(input, OpenvswitchName, 'openvswitch').labels },
          annotations: { [Annotations.configHash]: config.hostHash },
        },
        spec: {
          serviceAccountName: OpenvswitchName,
          automountServiceAccountToken: false,
          hostNetwork: true,
          priorityClassName: component.priorityClassName ?? 'system-node-critical',
          ...placement(input, 'openvswitch'),
          tolerations: [...tolerateEverything, ...(component.tolerations ?? [])],
          ...(pullSecrets(spec) ? { imagePullSecrets: pullSecrets(spec) } : {}),
          containers: [
            {
              name: Containers.openvswitch,
              image: image(spec, 'openvswitch'),
              imagePullPolicy: spec.images.pullPolicy,
              command: [entrypoint, 'openvswitch', 'run', ...ovsArgs],
              env: [nodeNameEnv, logLevelEnv(spec.logging.openvswitch)],
              securityContext: {
                capabilities: { add: ['NET_ADMIN', 'SYS_MODULE', 'SYS_NICE', 'IPC_LOCK'] },
              },
              livenessProbe: {
                exec: { command: [entrypoint, 'openvswitch', 'health', ...ovsArgs] },
                initialDelaySeconds: 15,
                periodSeconds: 15,
                timeoutSeconds: 10,
              },
              resources: {
                limits: { memory: '1Gi' },
                requests: { cpu: '100m', memory: '128Mi' },
                ...resources(input, 'openvswitch'),
              },
              volumeMounts: [
                // conf.db, the daemons' sockets, pid files and logs.
                nodeDirMount('openvswitch-run', 'ovsRun', false),
                // modprobe openvswitch, when the kernel has the module.
                { name: 'hostmodules', mountPath: '/lib/modules', readOnly: true },
                // The userspace datapath (nodes without the openvswitch kernel module) makes
                // its internal ports and ovs-netdev as taps: /dev/net/tun, which the
                // runtime's default device rules allow but do not create in the container.
                { name: 'dev-net', mountPath: '/dev/net' },
              ],
            },
          ],
          volumes: [
            nodeDirVolume('openvswitch-run', 'ovsRun'),
            hostPath('hostmodules', '/lib/modules', 'Directory'),
            hostPath('dev-net', '/dev/net'),
          ],
        },
      },
    },
  };
}
