/**
 * Deterministic names and MACs for pod interfaces. Deriving them from the
 * container id (and interface name) means DEL, CHECK and reconcile find the
 * host side without any stored state, and a repeated ADD produces the same
 * interface.
 */
import { createHash } from 'node:crypto';

/** Prefix of every host-side veth this agent creates; reconcile only touches these. */
export const HostVethPrefix = 'aci';

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const MaxIfNameLength = 15;

function digest(containerId: string, ifName: string): Buffer {
  return createHash('sha256').update(`${containerId}/${ifName}`).digest();
}

/** Host-side veth name, e.g. `aci3f9c0d1e22ab` (15 characters). */
export function hostVethName(containerId: string, ifName: string): string {
  return (
    HostVethPrefix +
    digest(containerId, ifName)
      .toString('hex')
      .slice(0, MaxIfNameLength - HostVethPrefix.length)
  );
}

/** A locally administered unicast MAC, stable per pod interface, in lower case. */
export function podMac(containerId: string, ifName: string): string {
  return macFrom(digest(containerId, ifName).subarray(16, 22));
}

/** MAC of the host side of the veth: different bytes of the same digest. */
export function hostMac(containerId: string, ifName: string): string {
  return macFrom(digest(containerId, ifName).subarray(24, 30));
}

function macFrom(bytes: Buffer): string {
  const b = Buffer.from(bytes);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Whether the kernel accepts this interface name (the rules of dev_valid_name). */
export function isValidIfName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= MaxIfNameLength &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name)
  );
}
