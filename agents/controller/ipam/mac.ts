/**
 * The MAC of a node's service endpoint: locally administered, unicast, and
 * derived from the system ID and node name, so it is the same after every
 * controller restart and never collides across clusters sharing a fabric by
 * construction of the hash input.
 */
import { createHash } from 'node:crypto';

export function serviceEndpointMac(systemId: string, node: string): string {
  const bytes = createHash('sha256').update(`${systemId}/${node}`).digest().subarray(0, 6);
  // Locally administered (bit 1 set), unicast (bit 0 clear).
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
