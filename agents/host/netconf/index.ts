/** Pod interface setup (veth, addresses, routes, OVS port). */
export { LinuxDataplane } from './linux.ts';
export type { LinuxDataplaneOptions } from './linux.ts';
export type {
  PodDataplane,
  PodInterfaceSpec,
  ObservedPodInterface,
  PortIdentity,
  Route,
} from './types.ts';
export { interfaceProblems } from './check.ts';
export {
  hostVethName,
  podMac,
  hostMac,
  isValidIfName,
  HostVethPrefix,
  MaxIfNameLength,
} from './names.ts';
