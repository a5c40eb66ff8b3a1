/**
 * PodIPPool reconciler (I/O shell around ChunkAllocator): one PodIPPool per
 * Node, named after it, owned by it (so the garbage collector removes it
 * with the Node). The controller writes spec only — chunks, gateways,
 * service endpoint — by server-side apply; the host agent writes status.
 *
 * Restart safety: `rebuild()` lists every PodIPPool before anything is
 * allocated and reserves what it finds; pools of Nodes deleted meanwhile are
 * deleted and their chunks returned.
 */
import { apiVersion as aciApiVersion, type PodIPPoolSpec } from '../../../crds/index.ts';
import { isNotFound } from '../../../lib/kube/client.ts';
import { parseCidr, parseIp, prefixContains, type Family } from '../../../lib/net/cidr.ts';
import type { Node, PodIPPoolObject } from '../caches.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import { AddressAllocator, addressOf } from './addresses.ts';
import { ChunkAllocator, type UsageByFamily } from './chunks.ts';
import { serviceEndpointMac } from './mac.ts';

export interface ServiceEndpoint {
  ipv4?: string;
  ipv6?: string;
  mac: string;
}

export class PodIPPoolManager {
  readonly chunks: ChunkAllocator;
  private readonly endpoints: AddressAllocator;
  private readonly endpointFamily: Family;
  /** Nodes whose pool this controller manages (in scope, seen). */
  private readonly managed = new Set<string>();

  constructor(private readonly ctx: ControllerContext) {
    const { network } = ctx.config;
    this.chunks = new ChunkAllocator({
      podSubnets: network.podSubnets,
      chunkSize: network.podSubnetChunkSize,
    });
    this.endpoints = new AddressAllocator([network.nodeServiceSubnet]);
    this.endpointFamily = parseCidr(network.nodeServiceSubnet)?.family ?? 4;
  }

  private inPodSubnets(cidr: string): boolean {
    const prefix = parseCidr(cidr);
    return (
      !!prefix &&
      this.ctx.config.network.podSubnets.some((s) => {
        const subnet = parseCidr(s);
        return !!subnet && prefixContains(subnet, prefix);
      })
    );
  }

  /** Reads every PodIPPool and reserves its chunks and service endpoint; deletes pools of vanished Nodes. */
  async rebuild(): Promise<void> {
    const { client, caches, log } = this.ctx;
    const { items } = await client.list<PodIPPoolObject>(aciApiVersion, 'PodIPPool');
    // Older pools win a conflict: the younger one is rewritten without the shared chunk.
    items.sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
    let deleted = 0;
    for (const pool of items) {
      const name = pool.metadata.name;
      const ours =
        pool.spec.chunks.length === 0 || pool.spec.chunks.some((c) => this.inPodSubnets(c));
      if (!caches.nodeInScope(name)) {
        const node = await client.read<Node>({ apiVersion: 'v1', kind: 'Node', name });
        if (!node && ours) {
          await client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name });
          deleted++;
          continue;
        }
        // Another controller's node (tests, scoped runs): never hand out what it holds.
        this.chunks.reserve(
          `(foreign)/${name}`,
          pool.spec.chunks.filter((c) => this.inPodSubnets(c)),
        );
        continue;
      }
      const conflicts = this.chunks.reserve(name, pool.spec.chunks);
      if (conflicts.length > 0)
        log.warn(
          { kind: 'PodIPPool', name, chunks: conflicts },
          'Dropped chunks another node holds',
        );
      this.managed.add(name);
      const endpoint = pool.spec.serviceEndpoint;
      const ip = this.endpointFamily === 4 ? endpoint?.ipv4 : endpoint?.ipv6;
      const address = ip ? addressOf(ip) : undefined;
      if (address && !this.endpoints.reserve(name, address)) {
        log.warn({ kind: 'PodIPPool', name, ip }, 'Dropped service endpoint another node holds');
      }
    }
    log.info(
      { kind: 'PodIPPool', pools: items.length, deleted, nodes: this.managed.size },
      'Rebuilt pod IPAM from PodIPPools',
    );
  }

  serviceEndpointOf(node: string): ServiceEndpoint | undefined {
    const address = this.endpoints.addressesOf(node)[0];
    if (!address) return undefined;
    const mac = serviceEndpointMac(this.ctx.config.systemId, node);
    return address.family === 4 ? { ipv4: address.text, mac } : { ipv6: address.text, mac };
  }

  nodeCount(): number {
    return this.managed.size;
  }

  async reconcile(name: string): Promise<void> {
    const { caches, client, events, log } = this.ctx;
    const node = caches.nodes.get(name);
    if (!node || node.metadata.deletionTimestamp) {
      await this.remove(name);
      return;
    }
    const pool = caches.podIPPools.get(name);
    this.managed.add(name);
    const before = this.chunks.chunksOf(name).length;
    this.chunks.ensureNode(name);
    const grew = pool?.status ? this.chunks.grow(name, this.usage(pool)) : false;
    const after = this.chunks.chunksOf(name).length;
    if (
      this.endpoints.addressesOf(name).length === 0 &&
      !this.endpoints.allocate(name, this.endpointFamily)
    ) {
      events.record(
        node,
        'Warning',
        'ServiceEndpointExhausted',
        `nodeServiceSubnet ${this.ctx.config.network.nodeServiceSubnet} has no free address`,
      );
    }
    if (
      this.chunks
        .families()
        .some((f) => !this.chunks.chunksOf(name).some((c) => c.family === f && c.subnet >= 0))
    ) {
      events.record(
        node,
        'Warning',
        'PodSubnetExhausted',
        'the pod subnets have no free chunk for this node',
      );
    }
    const spec = this.specFor(name);
    const ownerOk =
      pool?.metadata.ownerReferences?.some(
        (o) => o.kind === 'Node' && o.uid === node.metadata.uid,
      ) ?? false;
    if (
      pool &&
      ownerOk &&
      JSON.stringify(normalizeSpec(pool.spec)) === JSON.stringify(normalizeSpec(spec))
    )
      return;
    await client.apply(
      {
        apiVersion: aciApiVersion,
        kind: 'PodIPPool',
        metadata: {
          name,
          ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid ?? '' }],
        },
        spec,
      },
      { fieldManager: FieldManager, force: true },
    );
    if (grew) {
      const added = this.chunks
        .chunksOf(name)
        .slice(before)
        .map((c) => c.cidr);
      log.info({ kind: 'PodIPPool', name, added }, 'Added pod address chunk');
      events.record(node, 'Normal', 'PodChunkAdded', `added pod address chunk ${added.join(', ')}`);
    } else if (after > before) {
      log.debug(
        { kind: 'PodIPPool', name, chunks: this.chunks.chunksOf(name).map((c) => c.cidr) },
        'Assigned pod address chunks',
      );
    }
  }

  private usage(pool: PodIPPoolObject): UsageByFamily {
    const status = pool.status ?? {};
    if (status.allocated) {
      const usage: UsageByFamily = {};
      for (const family of this.chunks.families()) usage[family] = 0;
      for (const ip of status.allocated) {
        const parsed = parseIp(ip);
        if (parsed) usage[parsed.family] = (usage[parsed.family] ?? 0) + 1;
      }
      return usage;
    }
    if (status.used === undefined) return {};
    const families = this.chunks.families();
    // Without the address list, split the count evenly: a dual-stack pod uses one address of each family.
    const each = Math.ceil(status.used / families.length);
    return Object.fromEntries(families.map((f) => [f, each])) as UsageByFamily;
  }

  specFor(name: string): PodIPPoolSpec {
    const endpoint = this.serviceEndpointOf(name);
    return {
      chunks: this.chunks.chunksOf(name).map((c) => c.cidr),
      gateways: this.chunks.gatewaysFor(name),
      ...(endpoint ? { serviceEndpoint: endpoint } : {}),
    };
  }

  /** Node gone: delete its pool first, then return the chunks (never two pools with the same chunk). */
  private async remove(name: string): Promise<void> {
    // Only pools this controller manages: in scoped runs other controllers own the rest.
    if (!this.managed.has(name)) return;
    try {
      await this.ctx.client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const released = this.chunks.chunksOf(name).map((c) => c.cidr);
    this.chunks.release(name);
    this.endpoints.release(name);
    this.managed.delete(name);
    this.ctx.log.info(
      { kind: 'PodIPPool', name, released },
      'Released pod address chunks of deleted node',
    );
  }
}

/** Field order independent form, to compare what the API server returns with what we would write. */
function normalizeSpec(spec: PodIPPoolSpec): string[] {
  const endpoint = spec.serviceEndpoint;
  return [
    spec.chunks.join(','),
    spec.gateways.join(','),
    endpoint?.ipv4 ?? '',
    endpoint?.ipv6 ?? '',
    endpoint?.mac ?? '',
  ];
}
