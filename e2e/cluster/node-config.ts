/**
 * What a real test node is made of, as data: its addresses, the host paths
 * it keeps private, and the configuration files of its containerd, kubelet
 * and kube-proxy. Pure, so the rules that took a trial run to find (cgroup
 * v1, no CAP_SYS_RESOURCE, no loopback node IP) are written down once and
 * unit-tested; `nodes.ts` is the shell that applies them.
 *
 * A node is what kind makes of a container, made here of namespaces: a
 * network namespace on a host bridge, a mount namespace of its own in which
 * the directories a kubelet node owns are bind-mounted from the node's
 * folder, and a cgroup root of its own under every v1 controller.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/** The node network of one cluster: a /24 on a host bridge whose .1 is the API server's address. */
export interface NodeNetwork {
  /** Short id of the cluster (from its folder), in every host-side name, so two clusters never collide. */
  id: string;
  bridge: string;
  subnet: string;
  prefixLength: number;
  gateway: string;
  /**
   * The pod network of the cluster's fabric: per cluster, because this
   * machine's own namespace routes it (toward the leaf's L3Out), so two
   * clusters on one machine must not share it.
   */
  podSubnet: string;
  /** The leaf's L3Out address on the node network: this machine's route to the pod subnets. */
  leafAddress: string;
}

export interface NodeIdentity {
  name: string;
  index: number;
  ip: string;
  netns: string;
  /** Host side of the node's eth0 veth, on the bridge. */
  hostVeth: string;
  dir: string;
  cgroupRoot: string;
}

export function nodeNetwork(clusterDir: string): NodeNetwork {
  const digest = createHash('sha1').update(path.resolve(clusterDir)).digest();
  const id = digest.subarray(0, 2).toString('hex');
  // 10.100.16.0 to 10.100.239.0: away from the test fabrics' own subnets (10.1-10.5.x).
  const third = 16 + ((digest[2] ?? 0) % 224);
  return {
    id,
    bridge: `acibr-${id}`,
    subnet: `10.100.${third}.0`,
    prefixLength: 24,
    gateway: `10.100.${third}.1`,
    podSubnet: `10.${128 + (third % 64)}.0.0/16`,
    leafAddress: `10.100.${third}.254`,
  };
}

export function nodeIdentity(
  network: NodeNetwork,
  clusterDir: string,
  name: string,
  index: number,
): NodeIdentity {
  if (index < 0 || index > 200) throw new Error(`node index ${index} out of range 0..200`);
  const base = network.subnet.split('.').slice(0, 3).join('.');
  return {
    name,
    index,
    ip: `${base}.${10 + index}`,
    netns: `aci-${network.id}-n${index}`,
    hostVeth: `v${network.id}n${index}`,
    dir: path.join(path.resolve(clusterDir), 'nodes', name),
    cgroupRoot: `/aci-${network.id}-${name}`,
  };
}

/**
 * Host paths a kubelet node owns, each replaced in the node's mount
 * namespace by a folder of its own. `/run` is whole: containerd's socket,
 * the pod network namespaces, Open vSwitch and every agent socket live
 * there, and the host's own `/run` is none of a node's business.
 */
export const privateNodePaths = [
  '/run',
  '/var/lib/kubelet',
  '/var/lib/containerd',
  '/var/lib/cni',
  '/var/lib/aci-containers',
  '/var/log',
  '/etc/cni',
  '/opt/cni',
] as const;

export function nodeMounts(node: NodeIdentity): { source: string; target: string }[] {
  return privateNodePaths.map((target) => ({
    source: path.join(node.dir, 'fs', target.slice(1).replaceAll('/', '_')),
    target,
  }));
}

/** Where a path inside the node is on the host (only the node's private paths differ). */
export function hostPathOf(node: NodeIdentity, inNode: string): string {
  const mount = nodeMounts(node).find(
    ({ target }) => inNode === target || inNode.startsWith(`${target}/`),
  );
  return mount ? path.join(mount.source, inNode.slice(mount.target.length)) : inNode;
}

/** The shell the node's first process runs in its fresh mount namespace before it waits forever. */
export function nodeInitScript(node: NodeIdentity): string {
  const lines = [
    'set -eu',
    // Shared inside the node (slave to the host), so pods' mountPropagation works as on a real node.
    'mount --make-rshared /',
    ...nodeMounts(node).flatMap(({ source, target }) => [
      `mkdir -p '${source}' '${target}'`,
      `mount --bind '${source}' '${target}'`,
    ]),
    'mkdir -p /run/netns /var/log/pods /var/log/containers /opt/cni/bin /etc/cni/net.d',
    // Every distribution's node has /lib/modules (the openvswitch DaemonSet mounts it to load
    // the kernel datapath); this machine's kernel has its drivers built in and ships none.
    'mkdir -p /lib/modules',
    'ip link set lo up',
    `touch '${path.join(node.dir, 'init.ready')}'`,
    'exec sleep infinity',
  ];
  return lines.join('\n');
}

/**
 * What systemd's `Restart=always` does for a node's services, as a shell
 * loop (`sh -c restartAlways <name> <binary> <args...>`): a kubelet that
 * exits because containerd is still starting comes back a second later.
 * Stopping the component kills the loop's process group, child included.
 */
export const restartAlways =
  'while :; do "$@"; echo "$0 exited with status $?; restarting in 1s" >&2; sleep 1; done';

export const containerdSocket = '/run/containerd/containerd.sock';
export const pauseImage = 'registry.k8s.io/pause:3.10';

/** containerd 1.6 (Debian) as a kubelet needs it on this machine. */
export function containerdConfig(): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${containerdSocket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  # The machine lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc
  # ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
`;
}

export interface KubeletFiles {
  caCert: string;
  servingCert: string;
  servingKey: string;
  resolvConf: string;
}

export const clusterDnsIP = '10.96.0.10';
export const clusterDomain = 'cluster.local';

export function kubeletConfig(node: NodeIdentity, files: KubeletFiles): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // Kubernetes 1.35 refuses cgroup v1 unless told otherwise; this machine has only v1.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: node.cgroupRoot,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    containerRuntimeEndpoint: `unix://${containerdSocket}`,
    address: node.ip,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: files.servingCert,
    tlsPrivateKeyFile: files.servingKey,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: files.caCert },
    },
    authorization: { mode: 'Webhook' },
    clusterDNS: [clusterDnsIP],
    clusterDomain,
    resolvConf: files.resolvConf,
    failSwapOn: false,
    // Images are imported, never pulled: garbage collection must not take them away.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    serializeImagePulls: false,
    maxPods: 110,
    podPidsLimit: -1,
    // Report fast so tests and users see node changes within seconds.
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    shutdownGracePeriod: '0s',
    localStorageCapacityIsolation: false,
    logging: { format: 'text' },
  };
}

export function kubeletArgs(node: NodeIdentity, configFile: string, kubeconfig: string): string[] {
  return [
    `--config=${configFile}`,
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${node.name}`,
    `--node-ip=${node.ip}`,
    '--node-labels=aci.cni.dev/test-node=real',
    '--v=1',
  ];
}

export function kubeProxyConfig(
  node: NodeIdentity,
  kubeconfig: string,
  clusterCIDR: string,
): Record<string, unknown> {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    hostnameOverride: node.name,
    bindAddress: node.ip,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    clusterCIDR,
    // The node's network namespace is not the machine: leave the conntrack sysctls alone.
    conntrack: { maxPerCore: 0, min: 0 },
    nodePortAddresses: [`${node.ip}/32`],
  };
}

/**
 * The reference CNI a benchmark compares against: Debian's `bridge` +
 * `host-local` plugins, a /24 per node, routed between nodes over the node
 * network as kubenet does (routes from `referenceRoutes`).
 */
export function referencePodSubnet(node: Pick<NodeIdentity, 'index'>): string {
  return `10.244.${node.index}.0/24`;
}

export function referenceCniConfig(node: NodeIdentity): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'reference',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: referencePodSubnet(node) }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  };
}

/** `ip route` arguments, on `node`, toward every other node's reference pod subnet. */
export function referenceRoutes(node: NodeIdentity, all: readonly NodeIdentity[]): string[][] {
  return all
    .filter((other) => other.name !== node.name)
    .map((other) => ['route', 'replace', referencePodSubnet(other), 'via', other.ip]);
}

export const referencePlugins = ['bridge', 'host-local'] as const;
