/** What a pod interface should look like, what was seen, and the operations the CNI server needs. */

export interface Route {
  /** Destination CIDR; `0.0.0.0/0` / `::/0` for the default route. */
  readonly dst: string;
  readonly gw?: string;
}

export interface PodInterfaceSpec {
  /** Network namespace path (CNI_NETNS), e.g. /var/run/netns/x or /proc/123/ns/net. */
  readonly netns: string;
  /** Name inside the pod (CNI_IFNAME). */
  readonly ifName: string;
  /** Host side of the veth, the OVS port. */
  readonly hostIfName: string;
  /** MAC of the host side; fixed too, so a result or CHECK needs no read-back. */
  readonly hostMac: string;
  readonly mac: string;
  readonly mtu: number;
  /** Addresses with the prefix length of their subnet, e.g. 10.2.0.5/16. */
  readonly addresses: readonly string[];
  readonly routes: readonly Route[];
}

export interface ObservedPodInterface {
  readonly exists: boolean;
  readonly mac?: string;
  readonly mtu?: number;
  readonly up?: boolean;
  /** Global-scope addresses with prefix length (link-local IPv6 left out). */
  readonly addresses: readonly string[];
  /** Routes through this interface, in the same form as Route. */
  readonly routes: readonly Route[];
}

/** OVS port identity, stored in the Interface's external_ids so other agents can tell whose port it is. */
export interface PortIdentity {
  readonly containerId: string;
  readonly endpointUuid: string;
  readonly mac: string;
}

/**
 * The data-plane operations of the CNI server. The Linux implementation runs
 * `ip` and `ovs-vsctl`; server unit tests inject a fake. Every delete is
 * idempotent (a missing object is success).
 */
export interface PodDataplane {
  netnsExists(netns: string): Promise<boolean>;
  createInterface(spec: PodInterfaceSpec): Promise<void>;
  deleteInterface(hostIfName: string): Promise<void>;
  hostInterfaceExists(hostIfName: string): Promise<boolean>;
  inspectInterface(netns: string, ifName: string): Promise<ObservedPodInterface>;
  attachPort(hostIfName: string, identity: PortIdentity): Promise<void>;
  detachPort(hostIfName: string): Promise<void>;
  /** Names of the ports on the access bridge. */
  listPorts(): Promise<readonly string[]>;
}
