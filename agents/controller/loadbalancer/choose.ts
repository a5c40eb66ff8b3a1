/**
 * Which nodes carry a LoadBalancer Service's redirected traffic (pure).
 * Rendezvous hashing: each candidate node is ranked by hash(service, node)
 * and the first `max` win. Adding or removing one node changes at most one
 * choice, and every controller replica picks the same set, so a failover
 * does not reshuffle redirect destinations.
 */
import { createHash } from 'node:crypto';

export function rank(service: string, node: string): string {
  return createHash('sha256').update(`${service}\u0000${node}`).digest('hex');
}

/** Chosen nodes, sorted by name (the order is not meaningful to the APIC; sorted keeps output stable). */
export function chooseNodes(service: string, candidates: Iterable<string>, max: number): string[] {
  const unique = [...new Set(candidates)];
  if (unique.length <= max) return unique.sort();
  return unique
    .map((node) => ({ node, rank: rank(service, node) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .slice(0, Math.max(0, max))
    .map((c) => c.node)
    .sort();
}
