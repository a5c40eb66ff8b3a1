/**
 * The IPAM ledger: one ConfigMap in the controller's namespace that records
 * which node holds which pod chunks and which service endpoint. It is what
 * makes two leaders (a paused one that resumes, a partitioned one) safe:
 * every allocation is committed to the ledger by a PUT carrying the
 * resourceVersion the allocator last read, so the API server accepts only a
 * writer that has seen every earlier allocation. A stale leader's commit
 * fails with 409, it reloads from a fresh read, and only then writes any
 * PodIPPool. PodIPPools follow the ledger (written after it, deleted before
 * an entry is removed), so a chunk is never in two pools.
 *
 * A ConfigMap and not the PodIPPools themselves because the API server has
 * no transaction over several objects: uniqueness across nodes needs one
 * object that every allocation passes through.
 */
import { IpamLedgerName as LedgerName } from '../../../lib/config/naming.ts';
import { isAlreadyExists, isConflict, type KubeClient } from '../../../lib/kube/client.ts';
import type { KubeObject } from '../../../lib/kube/types.ts';

export interface NodeAllocation {
  chunks: string[];
  serviceEndpoint?: string;
}

export type Allocations = Map<string, NodeAllocation>;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** Thrown when another writer committed since our read: reload, then retry. */
export class StaleLedgerError extends Error {
  constructor() {
    super(`IPAM ledger ${LedgerName} changed since it was read (another controller allocated)`);
    this.name = 'StaleLedgerError';
  }
}

/** One node per key (node names are valid ConfigMap keys): `chunk,chunk;serviceEndpoint`. */
export function encodeAllocation(allocation: NodeAllocation): string {
  return `${allocation.chunks.join(',')};${allocation.serviceEndpoint ?? ''}`;
}

export function decodeAllocation(text: string): NodeAllocation {
  const [chunks = '', endpoint = ''] = text.split(';');
  return {
    chunks: chunks ? chunks.split(',') : [],
    ...(endpoint ? { serviceEndpoint: endpoint } : {}),
  };
}

interface Pending {
  changes: Map<string, NodeAllocation | undefined>;
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

export class IpamLedger {
  private resourceVersion: string | undefined;
  private entries: Allocations = new Map();
  /** Changes waiting for the next write: commits made while one is in flight land together. */
  private pending: Pending | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
  ) {}

  /** Reads the ledger afresh (after any write in flight); every later commit is conditional on this read. */
  async load(): Promise<Allocations> {
    await this.idle();
    const map = await this.client.read<ConfigMap>(this.ref());
    this.resourceVersion = map?.metadata.resourceVersion;
    this.entries = new Map(
      Object.entries(map?.data ?? {}).map(([node, text]) => [node, decodeAllocation(text)]),
    );
    return new Map(this.entries);
  }

  /** Resolves when no write is in flight or pending. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
  }

  allocationOf(node: string): NodeAllocation | undefined {
    return this.pending?.changes.has(node)
      ? this.pending.changes.get(node)
      : this.entries.get(node);
  }

  /**
   * Commits the allocations of the given nodes (undefined removes a node),
   * conditional on the last read or commit; resolves once they are stored.
   * StaleLedgerError when another writer got there first.
   */
  commit(changes: Map<string, NodeAllocation | undefined>): Promise<void> {
    this.pending ??= { changes: new Map(), waiters: [] };
    for (const [node, allocation] of changes) this.pending.changes.set(node, allocation);
    const landed = new Promise<void>((resolve, reject) =>
      this.pending!.waiters.push({ resolve, reject }),
    );
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
    });
    return landed;
  }

  private async flush(): Promise<void> {
    while (this.pending) {
      const batch = this.pending;
      this.pending = undefined;
      try {
        await this.write(batch.changes);
        for (const w of batch.waiters) w.resolve();
      } catch (error) {
        for (const w of batch.waiters) w.reject(error);
        // What was queued behind a failed write was computed from the same stale state.
        const rest = this.pending as Pending | undefined;
        this.pending = undefined;
        for (const w of rest?.waiters ?? []) w.reject(error);
      }
    }
  }

  private async write(changes: Map<string, NodeAllocation | undefined>): Promise<void> {
    const next = new Map(this.entries);
    for (const [node, allocation] of changes) {
      if (allocation) next.set(node, allocation);
      else next.delete(node);
    }
    const data = Object.fromEntries(
      [...next].sort(([a], [b]) => a.localeCompare(b)).map(([n, a]) => [n, encodeAllocation(a)]),
    );
    const body: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: LedgerName,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/part-of': 'aci-containers' },
        ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
      },
      data,
    };
    try {
      const written = this.resourceVersion
        ? await this.client.replace<ConfigMap>(body)
        : await this.client.create<ConfigMap>(body);
      this.resourceVersion = written.metadata.resourceVersion;
      this.entries = next;
    } catch (error) {
      if (isConflict(error) || isAlreadyExists(error)) throw new StaleLedgerError();
      throw error;
    }
  }

  private ref() {
    return { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.namespace, name: LedgerName };
  }
}
