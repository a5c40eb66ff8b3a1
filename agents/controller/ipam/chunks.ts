/**
 * Pod subnet chunk allocator (pure, no I/O). Every pod subnet is cut into
 * aligned chunks of `chunkSize` addresses; a node owns a list of chunks. The
 * allocator never hands out a chunk that overlaps anything it was told is in
 * use (`reserve`), which is how a restarted controller rebuilds itself from
 * the PodIPPools it finds before it allocates anything.
 *
 * Chunks are handed out lowest-free-first per subnet, with a per-subnet hint
 * so allocating N chunks costs O(N) instead of O(N²).
 */
import {
  familyBits,
  formatCidr,
  formatGatewayCidr,
  parseCidr,
  prefixContains,
  prefixOf,
  prefixSize,
  type Family,
  type Prefix,
} from '../../../lib/net/cidr.ts';

export interface ChunkAllocatorConfig {
  /** Pod subnets in gateway/prefix form, e.g. 10.2.0.1/16 (gateway form) or fd00:2::/64. */
  podSubnets: readonly string[];
  /** Addresses per chunk, a power of two. */
  chunkSize: number;
}

interface Subnet {
  index: number;
  text: string;
  prefix: Prefix;
  /** Prefix length of one chunk. */
  chunkLength: number;
  /** Number of chunks (may be astronomically large for IPv6). */
  chunkCount: bigint;
  /** chunk index → owner node */
  owners: Map<bigint, string>;
  /** No free chunk below this index. */
  hint: bigint;
}

export interface NodeChunk {
  cidr: string;
  family: Family;
  /** Addresses in the chunk. */
  size: bigint;
  /** Index of the pod subnet it lies in, or -1 for a chunk outside every pod subnet (kept, never reused). */
  subnet: number;
}

export interface UsageByFamily {
  4?: number;
  6?: number;
}

export class ChunkAllocator {
  private readonly subnets: Subnet[];
  readonly chunkSize: number;
  private readonly log2: number;
  /** node → its chunks in the order they were assigned */
  private readonly nodes = new Map<string, NodeChunk[]>();

  constructor(config: ChunkAllocatorConfig) {
    this.chunkSize = config.chunkSize;
    this.log2 = Math.log2(config.chunkSize);
    if (!Number.isInteger(this.log2) || this.log2 < 0)
      throw new Error(`chunk size ${config.chunkSize} is not a power of two`);
    this.subnets = config.podSubnets.map((text, index) => {
      const prefix = parseCidr(text);
      if (!prefix) throw new Error(`pod subnet ${text} is not a CIDR`);
      const chunkLength = familyBits(prefix.family) - this.log2;
      if (chunkLength < prefix.length)
        throw new Error(`chunk size ${config.chunkSize} does not fit in pod subnet ${text}`);
      return {
        index,
        text,
        prefix,
        chunkLength,
        chunkCount: 1n << BigInt(chunkLength - prefix.length),
        owners: new Map(),
        hint: 0n,
      };
    });
  }

  /** Families that have at least one pod subnet, in ascending order. */
  families(): Family[] {
    return [...new Set(this.subnets.map((s) => s.prefix.family))].sort();
  }

  /** The gateway of each pod subnet in gateway/prefix form (network + 1 when written as a network). */
  gatewayOf(subnetIndex: number): string {
    const subnet = this.subnets[subnetIndex];
    if (!subnet) throw new Error(`no pod subnet ${subnetIndex}`);
    return formatGatewayCidr(subnet.prefix);
  }

  /** Gateways of the subnets the node has chunks in, in subnet order. */
  gatewaysFor(node: string): string[] {
    const used = new Set((this.nodes.get(node) ?? []).map((c) => c.subnet).filter((i) => i >= 0));
    return [...used].sort((a, b) => a - b).map((i) => this.gatewayOf(i));
  }

  chunksOf(node: string): readonly NodeChunk[] {
    return this.nodes.get(node) ?? [];
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  /**
   * Records chunks found in an existing PodIPPool as owned by `node`. A chunk
   * of another size still blocks every configured chunk it overlaps. Returns
   * the chunks that overlap another node's (the caller drops them from that
   * pool rather than let two nodes share addresses).
   */
  reserve(node: string, cidrs: readonly string[]): string[] {
    const conflicts: string[] = [];
    const list = this.nodes.get(node) ?? [];
    for (const cidr of cidrs) {
      const prefix = parseCidr(cidr);
      if (!prefix) continue;
      const text = formatCidr(prefix);
      if (list.some((c) => c.cidr === text)) continue;
      const subnet = this.subnets.find((s) => prefixContains(s.prefix, prefix));
      if (!subnet) {
        list.push({ cidr: text, family: prefix.family, size: prefixSize(prefix), subnet: -1 });
        continue;
      }
      const indexes = this.indexesCovering(subnet, prefix);
      if (
        indexes.some((i) => {
          const o = subnet.owners.get(i);
          return o !== undefined && o !== node;
        })
      ) {
        conflicts.push(text);
        continue;
      }
      for (const i of indexes) subnet.owners.set(i, node);
      list.push({
        cidr: text,
        family: prefix.family,
        size: prefixSize(prefix),
        subnet: subnet.index,
      });
    }
    if (list.length > 0) this.nodes.set(node, list);
    return conflicts;
  }

  /** Chunk indexes of `subnet` that `prefix` overlaps (the one containing it, or all it contains). */
  private indexesCovering(subnet: Subnet, prefix: Prefix): bigint[] {
    const shift = BigInt(familyBits(prefix.family) - subnet.chunkLength);
    const first = (prefix.network - subnet.prefix.network) >> shift;
    if (prefix.length >= subnet.chunkLength) return [first];
    const count = 1n << BigInt(subnet.chunkLength - prefix.length);
    // Bounded: a foreign chunk 2^16 times our chunk size would be a misconfiguration, not a pool.
    const capped = count > 65536n ? 65536n : count;
    return Array.from({ length: Number(capped) }, (_, k) => first + BigInt(k));
  }

  /** Adds one chunk of `family` to `node`; undefined when every subnet of that family is full. */
  allocate(node: string, family: Family): NodeChunk | undefined {
    for (const subnet of this.subnets) {
      if (subnet.prefix.family !== family) continue;
      let i = subnet.hint;
      while (i < subnet.chunkCount && subnet.owners.has(i)) i++;
      subnet.hint = i;
      if (i >= subnet.chunkCount) continue;
      subnet.owners.set(i, node);
      subnet.hint = i + 1n;
      const shift = BigInt(familyBits(family) - subnet.chunkLength);
      const network = subnet.prefix.network + (i << shift);
      const chunk: NodeChunk = {
        cidr: formatCidr(prefixOf(family, network, subnet.chunkLength)),
        family,
        size: BigInt(this.chunkSize),
        subnet: subnet.index,
      };
      const list = this.nodes.get(node) ?? [];
      list.push(chunk);
      this.nodes.set(node, list);
      return chunk;
    }
    return undefined;
  }

  /** Makes sure the node has at least one chunk of every configured family; returns whether anything changed. */
  ensureNode(node: string): boolean {
    let changed = false;
    for (const family of this.families()) {
      if (this.chunksOf(node).some((c) => c.family === family && c.subnet >= 0)) continue;
      if (this.allocate(node, family)) changed = true;
    }
    return changed;
  }

  /**
   * The original's growth rule, per family: add a chunk when the addresses in
   * use exceed capacity minus half a chunk. `used` per family; a family
   * without a number is left alone. Returns whether anything changed.
   */
  grow(node: string, used: UsageByFamily): boolean {
    let changed = false;
    for (const family of this.families()) {
      const inUse = used[family];
      if (inUse === undefined) continue;
      const capacity = this.capacity(node, family);
      if (BigInt(inUse) * 2n > capacity * 2n - BigInt(this.chunkSize)) {
        if (this.allocate(node, family)) changed = true;
      }
    }
    return changed;
  }

  capacity(node: string, family: Family): bigint {
    return this.chunksOf(node)
      .filter((c) => c.family === family)
      .reduce((sum, c) => sum + c.size, 0n);
  }

  /** Returns every chunk of the node to the free pool. */
  release(node: string): void {
    for (const chunk of this.nodes.get(node) ?? []) {
      const subnet = chunk.subnet >= 0 ? this.subnets[chunk.subnet] : undefined;
      const prefix = parseCidr(chunk.cidr);
      if (!subnet || !prefix) continue;
      for (const i of this.indexesCovering(subnet, prefix)) {
        if (subnet.owners.get(i) !== node) continue;
        subnet.owners.delete(i);
        if (i < subnet.hint) subnet.hint = i;
      }
    }
    this.nodes.delete(node);
  }

  /** Total addresses in all pod subnets (a decimal string: IPv6 subnets do not fit a number). */
  totalAddresses(): bigint {
    return this.subnets.reduce((sum, s) => sum + prefixSize(s.prefix), 0n);
  }

  /** Addresses handed to nodes in chunks inside the pod subnets. */
  assignedAddresses(): bigint {
    let total = 0n;
    for (const list of this.nodes.values())
      for (const c of list) if (c.subnet >= 0) total += c.size;
    return total;
  }
}
