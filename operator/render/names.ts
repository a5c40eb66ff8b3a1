/** Names shared by render, reconcile and tests (tigera's `common.NodeDaemonSetName` idea). */
export const FieldManager = 'aci-operator';
export const Finalizer = 'aci.cni.dev/cleanup';

export const ConfigMapName = 'aci-containers-config';
export const ControllerName = 'aci-containers-controller';
export const HostAgentName = 'aci-containers-host';
/** The host agent's ServiceAccount / ClusterRole, named as in the original manifest. */
export const HostAgentAccount = 'aci-containers-host-agent';
export const OpenvswitchName = 'aci-containers-openvswitch';
export const LeaderElectionLease = 'aci-containers-controller';

export const ConfigKeys = {
  controller: 'controller-config',
  hostAgent: 'host-agent-config',
} as const;

export const Containers = {
  controller: 'aci-containers-controller',
  hostAgent: 'aci-containers-host',
  opflexAgent: 'opflex-agent',
  mcastDaemon: 'mcast-daemon',
  cniInstall: 'cnideploy',
  openvswitch: 'aci-containers-openvswitch',
} as const;

export const Labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  component: 'app.kubernetes.io/component',
  name: 'app.kubernetes.io/name',
  fabric: 'aci.cni.dev/fabric',
} as const;

export const Annotations = {
  configHash: 'aci.cni.dev/config-hash',
  /** Kept on objects the operator must never delete (the namespace holding user Secrets). */
  retain: 'aci.cni.dev/retain-on-delete',
} as const;

export const ImageName = 'aci-containers';
