/**
 * The address families the node's OVS pipeline carries end to end (spoof
 * guard, neighbour resolution, conntrack, services, security groups). The
 * host agent hands pods addresses of these families only: an address the
 * pipeline drops would give the pod a route (`::/0`) into a black hole.
 * docs/dataplane.md, "Dual stack", says what each family lacks.
 */
import { ipFamily } from '../net/cidr.ts';

export type AddressFamily = 'ipv4' | 'ipv6';

export const DataplaneFamilies: readonly AddressFamily[] = ['ipv4'];

/** The family of an address or CIDR (`10.2.0.1/16`, `fd00::1`); undefined for garbage. */
export function familyOf(text: string): AddressFamily | undefined {
  const family = ipFamily(text);
  return family === undefined ? undefined : family === 4 ? 'ipv4' : 'ipv6';
}

export const carriedByDataplane = (text: string): boolean => {
  const family = familyOf(text);
  return family !== undefined && DataplaneFamilies.includes(family);
};

/** Splits a list of addresses or CIDRs into what the data plane carries and what it refuses. */
export function splitByDataplane(list: readonly string[]): {
  carried: string[];
  refused: string[];
} {
  return {
    carried: list.filter(carriedByDataplane),
    refused: list.filter((text) => !carriedByDataplane(text)),
  };
}
