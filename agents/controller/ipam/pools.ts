/**
 * PodIPPool reconciler (I/O shell around ChunkAllocator): one PodIPPool per
 * Node, named after it, owned by it (so the garbage collector removes it
 * with the Node). The controller writes spec only — chunks, gateways,
 * service endpoint — by server-side apply; the host agent writes status.
 *
 * Restart safety: `rebuild()` reads the IPAM ledger (ledger.ts) and lists
 * every PodIPPool before anything is allocated, and reserves what it finds;
 * pools of Nodes deleted meanwhile are deleted and their chunks returned.
 *
 * Two leaders at once (a paused leader that resumes): every allocation is
 * committed to the ledger conditionally on the ledger this allocator read,
 * before any PodIPPool carries it, and every PodIPPool write is conditional
 * on the pool's resourceVersion. A stale leader's commit fails, it reloads
 * from a fresh read and the work queue retries; so no chunk or service
 * endpoint reaches two nodes.
 */
import { apiVersion as aciApiVersion, type PodIPPoolSpec } from '../../../crds/index.ts';
import { IpamLedgerName } from '../../../lib/config/naming.ts';
import { isNotFound } from '../../../lib/kube/client.ts';
import { LeaderTermAnnotation } from '../../../lib/kube/leader.ts';
import { parseCidr, parseIp, prefixContains, type Family } from '../../../lib/net/cidr.ts';
import type { Node, PodIPPoolObject } from '../caches.ts';
import { FieldManager, type ControllerContext } from '../context.ts';
import { AddressAllocator, addressOf } from './addresses.ts';
import { ChunkAllocator, type UsageByFamily } from './chunks.ts';
import { encodeAllocation, IpamLedger, StaleLedgerError, type NodeAllocation } from './ledger.ts';
import { serviceEndpointMac } from './mac.ts';

export interface ServiceEndpoint {
  ipv4?: string;
  ipv6?: string;
  mac: string;
}

export class PodIPPoolManager {
  chunks: ChunkAllocator;
  private endpoints: AddressAllocator;
  private readonly endpointFamily: Family;
  private readonly ledger: IpamLedger;
  private lock: Promise<void> = Promise.resolve();
  /** Counts rebuilds, so the nodes of one failed ledger write cause one rebuild, not one each. */
  private generation = 0;
  /** Nodes whose pool this controller manages (in scope, seen). */
  private readonly managed = new Set<string>();

  constructor(private readonly ctx: ControllerContext) {
    const { network } = ctx.config;
    this.chunks = this.newChunkAllocator();
    this.endpoints = new AddressAllocator([network.nodeServiceSubnet]);
    this.endpointFamily = parseCidr(network.nodeServiceSubnet)?.family ?? 4;
    this.ledger = new IpamLedger(ctx.client, ctx.config.leaderElection.namespace);
  }

  private newChunkAllocator(): ChunkAllocator {
    const { network } = this.ctx.config;
    return new ChunkAllocator({
      podSubnets: network.podSubnets,
      chunkSize: network.podSubnetChunkSize,
    });
  }

  /** What this allocator holds for a node, in the ledger's form. */
  private allocationOf(name: string): NodeAllocation {
    const endpoint = this.endpoints.addressesOf(name)[0];
    return {
      chunks: this.chunks.chunksOf(name).map((c) => c.cidr),
      ...(endpoint ? { serviceEndpoint: endpoint.text } : {}),
    };
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

  /**
   * Reads the ledger and every PodIPPool and reserves what they hold (the
   * ledger first: it is what earlier leaders committed); deletes pools of
   * vanished Nodes; commits the result, starting over if another writer
   * committed meanwhile.
   */
  rebuild(): Promise<void> {
    return this.exclusive(() => this.rebuildFromLedger());
  }

  private async rebuildFromLedger(): Promise<void> {
    for (;;) {
      try {
        await this.rebuildOnce();
        return;
      } catch (error) {
        if (!(error instanceof StaleLedgerError)) throw error;
        this.ctx.log.info(
          { kind: 'ConfigMap', name: IpamLedgerName },
          'Reloaded IPAM ledger changed by another writer',
        );
      }
    }
  }

  private async rebuildOnce(): Promise<void> {
    const { client, caches, log } = this.ctx;
    this.generation++;
    this.chunks = this.newChunkAllocator();
    this.endpoints = new AddressAllocator([this.ctx.config.network.nodeServiceSubnet]);
    this.managed.clear();
    const ledger = await this.ledger.load();
    const changes = new Map<string, NodeAllocation | undefined>();
    const { items } = await client.list<PodIPPoolObject>(aciApiVersion, 'PodIPPool');
    const pools = new Set(items.map((p) => p.metadata.name));
    for (const [name, allocation] of [...ledger].sort(([a], [b]) => a.localeCompare(b))) {
      if (
        !pools.has(name) &&
        !(await client.read<Node>({ apiVersion: 'v1', kind: 'Node', name }))
      ) {
        changes.set(name, undefined);
        continue;
      }
      this.reserveAllocation(name, allocation.chunks, allocation.serviceEndpoint);
    }
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
      if (!caches.hasNode(name)) {
        const node = await client.read<Node>({ apiVersion: 'v1', kind: 'Node', name });
        if (!node && ours) {
          await client.delete({ apiVersion: aciApiVersion, kind: 'PodIPPool', name });
          this.chunks.release(name);
          this.endpoints.release(name);
          if (ledger.has(name)) changes.set(name, undefined);
          deleted++;
          continue;
        }
        // A ledger entry of a node now out of scope stays reserved but is not this controller's to manage.
        if (ledger.has(name)) continue;
        // Another controller's node (tests, scoped runs): never hand out what it holds.
        this.chunks.reserve(
          `(foreign)/${name}`,
          pool.spec.chunks.filter((c) => this.inPodSubnets(c)),
        );
        continue;
      }
      const endpoint = pool.spec.serviceEndpoint;
      this.reserveAllocation(
        name,
        pool.spec.chunks,
        this.endpointFamily === 4 ? endpoint?.ipv4 : endpoint?.ipv6,
      );
      this.managed.add(name);
      const allocation = this.allocationOf(name);
      const recorded = ledger.get(name);
      if (!recorded || encodeAllocation(recorded) !== encodeAllocation(allocation))
        changes.set(name, allocation);
    }
    for (const name of ledger.keys()) if (!changes.has(name)) this.managed.add(name);
    if (changes.size > 0) await this.ledger.commit(changes);
    log.info(
      { kind: 'PodIPPool', pools: items.length, deleted, nodes: this.managed.size },
      'Rebuilt pod IPAM from PodIPPools',
    );
  }

  /** Reserves chunks and a service endpoint for a node; what another node holds is dropped (logged). */
  private reserveAllocation(name: string, chunks: readonly string[], ip: string | undefined): void {
    const conflicts = this.chunks.reserve(name, chunks);
    if (conflicts.length > 0)
      this.ctx.log.warn(
        { kind: 'PodIPPool', name, chunks: conflicts },
        'Dropped chunks another node holds',
      );
    const address = ip ? addressOf(ip) : undefined;
    if (
      address &&
      this.endpoints.addressesOf(name).length === 0 &&
      !this.endpoints.reserve(name, address)
    )
      this.ctx.log.warn(
        { kind: 'PodIPPool', name, ip },
        'Dropped service endpoint another node holds',
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
      await this.exclusive(() => this.remove(name));
      return;
    }
    const pool = caches.podIPPools.get(name);
    const generation = this.generation;
    const term = this.ctx.leaderTerm?.();
    const { spec, added, assigned, landed } = await this.exclusive(async () =>
      this.allocate(node, pool),
    );
    try {
      await landed;
    } catch (error) {
      // Another controller allocated since our read: start again from a fresh read (once for all the
      // nodes of the failed write); the queue retries this node.
      if (error instanceof StaleLedgerError && generation === this.generation) await this.rebuild();
      throw error;
    }
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
          // Conditional on the pool this allocator read: a stale writer's apply fails (409).
          ...(pool?.metadata.resourceVersion
            ? { resourceVersion: pool.metadata.resourceVersion }
            : {}),
          ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid ?? '' }],
          // The term this was decided in: the API server refuses it once another term holds the
          // Lease, even when this process was paused after its own checks (a create has no
          // resourceVersion to be conditional on).
          ...(term !== undefined ? { annotations: { [LeaderTermAnnotation]: term } } : {}),
        },
        spec,
      },
      { fieldManager: FieldManager, force: true },
    );
    if (added.length > 0 && pool?.status) {
      log.info({ kind: 'PodIPPool', name, added }, 'Added pod address chunk');
      events.record(node, 'Normal', 'PodChunkAdded', `added pod address chunk ${added.join(', ')}`);
    } else if (added.length > 0) {
      log.debug({ kind: 'PodIPPool', name, chunks: assigned }, 'Assigned pod address chunks');
    }
  }

  /**
   * Allocation is one critical section per controller: a rebuild replaces
   * the allocators, and two commits from one process must not race each
   * other on the ledger's resourceVersion.
   */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Gives the node what it lacks (in memory), starts its ledger commit, and returns the pool spec to write once that lands. */
  private allocate(
    node: Node,
    pool: PodIPPoolObject | undefined,
  ): { spec: PodIPPoolSpec; added: string[]; assigned: string[]; landed: Promise<void> } {
    const { events } = this.ctx;
    const name = node.metadata.name;
    this.managed.add(name);
    const before = this.chunks.chunksOf(name).length;
    this.chunks.ensureNode(name);
    if (pool?.status) this.chunks.grow(name, this.usage(pool));
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
    // Commit first: only an allocation the ledger accepted may reach a PodIPPool.
    const allocation = this.allocationOf(name);
    const recorded = this.ledger.allocationOf(name);
    // Written together with other nodes' allocations of the same moment (one conditional PUT).
    const landed =
      !recorded || encodeAllocation(recorded) !== encodeAllocation(allocation)
        ? this.ledger.commit(new Map([[name, allocation]]))
        : Promise.resolve();
    const chunks = this.chunks.chunksOf(name).map((c) => c.cidr);
    return { spec: this.specFor(name), added: chunks.slice(before), assigned: chunks, landed };
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
    // The pool is gone before the ledger frees its chunks, so no two pools ever share one.
    try {
      await this.ledger.commit(new Map([[name, undefined]]));
    } catch (error) {
      if (!(error instanceof StaleLedgerError)) throw error;
      // A fresh read drops the entry of the vanished node itself.
      await this.rebuildFromLedger();
      return;
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
