/**
 * The persistent shell around the IPAM core. One JSON file holds the chunks
 * and every allocation; each change is written atomically before it becomes
 * visible, so a host agent restart (or crash) loses no allocation and never
 * hands out an address twice.
 *
 * Mutations are serialized through one promise chain: the core is pure, the
 * chain makes "read state, compute, persist, publish" one step.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { isCidr, isIpAddress, type Family } from '../../../lib/net/cidr.ts';
import * as core from './core.ts';
import { writeFileAtomic } from './atomicfile.ts';

export type {
  Allocation,
  AllocationRequest,
  IpamUsage,
  FamilyUsage,
  PodRef,
  IpamState,
} from './core.ts';

const StateFileVersion = 1;

const PodRefSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  uid: z.string().optional(),
});

const StateFile = z.object({
  version: z.literal(StateFileVersion),
  chunks: z.array(z.string().refine(isCidr, 'not a CIDR')),
  allocations: z.array(
    z.object({
      containerId: z.string().min(1),
      ifName: z.string().min(1),
      ips: z.array(z.string().refine(isIpAddress, 'not an IP address')).min(1),
      netns: z.string().optional(),
      pod: PodRefSchema.optional(),
    }),
  ),
});

export interface IpamStoreOptions {
  /** State file, e.g. /var/lib/aci-containers/ipam.json. Created on first change. */
  readonly path: string;
  /** Addresses never handed out: subnet gateways, network and broadcast addresses. */
  readonly reserved?: readonly string[];
  /** Families the cluster has pod subnets in; a family without chunks then reads as "needs more". */
  readonly families?: readonly Family[];
}

/** No chunk of some family has a free address. */
export class IpamExhaustedError extends Error {
  constructor(readonly family: Family | undefined) {
    super(
      family === undefined
        ? 'no pod IP chunks assigned to this node yet'
        : `no free IPv${family} address left in this node's chunks`,
    );
    this.name = 'IpamExhaustedError';
  }
}

export class IpamStore {
  private state: core.IpamState;
  private readonly reserved: ReadonlySet<string>;
  private readonly families: readonly Family[];
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    state: core.IpamState,
    opts: IpamStoreOptions,
  ) {
    this.state = state;
    this.reserved = core.reservedSet(opts.reserved ?? []);
    this.families = opts.families ?? [];
  }

  /** Loads the state file (absent means empty). A corrupt file throws: silently starting empty would reuse addresses. */
  static async open(opts: IpamStoreOptions): Promise<IpamStore> {
    let state: core.IpamState = core.emptyState;
    let text: string | undefined;
    try {
      text = await readFile(opts.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const parsed = StateFile.safeParse(JSON.parse(text));
      if (!parsed.success)
        throw new Error(`IPAM state file ${opts.path} is invalid: ${parsed.error.message}`);
      state = {
        chunks: core.normalizeChunks(parsed.data.chunks),
        allocations: parsed.data.allocations,
      };
    }
    return new IpamStore(opts.path, state, opts);
  }

  /** The current state (immutable snapshot). */
  snapshot(): core.IpamState {
    return this.state;
  }

  get chunks(): readonly string[] {
    return this.state.chunks;
  }

  list(): readonly core.Allocation[] {
    return this.state.allocations;
  }

  find(containerId: string, ifName: string): core.Allocation | undefined {
    return core.findAllocation(this.state, containerId, ifName);
  }

  usage(): core.IpamUsage {
    return core.usage(this.state, this.reserved, this.families);
  }

  /** Feeds the chunks of this node's PodIPPool; call it on every change of the spec. */
  setChunks(chunks: readonly string[]): Promise<void> {
    return this.mutate((s) => ({ state: core.setChunks(s, chunks), value: undefined }));
  }

  /** Idempotent per container id + interface. Throws IpamExhaustedError when the pool is full. */
  allocate(
    req: core.AllocationRequest,
  ): Promise<{ allocation: core.Allocation; existing: boolean }> {
    return this.mutate((s) => {
      const out = core.allocate(s, req, this.reserved);
      switch (out.kind) {
        case 'allocated':
        case 'existing':
          return {
            state: out.state,
            value: { allocation: out.allocation, existing: out.kind === 'existing' },
          };
        case 'exhausted':
          throw new IpamExhaustedError(out.family);
        case 'noChunks':
          throw new IpamExhaustedError(undefined);
      }
    });
  }

  /** Releases one interface of a container, or all its interfaces. Unknown containers release nothing. */
  release(containerId: string, ifName?: string): Promise<readonly core.Allocation[]> {
    return this.mutate((s) => {
      const out = core.release(s, containerId, ifName);
      return { state: out.state, value: out.released };
    });
  }

  /** Releases every allocation for which isLive returns false. */
  collectGarbage(isLive: (a: core.Allocation) => boolean): Promise<readonly core.Allocation[]> {
    return this.mutate((s) => {
      const out = core.collectGarbage(s, isLive);
      return { state: out.state, value: out.released };
    });
  }

  /** Releases allocations of pods not in `livePods` (keys `namespace/name`); allocations without a pod are kept. */
  collectDeadPods(livePods: ReadonlySet<string>): Promise<readonly core.Allocation[]> {
    return this.collectGarbage(
      (a) => a.pod === undefined || livePods.has(`${a.pod.namespace}/${a.pod.name}`),
    );
  }

  private mutate<T>(step: (s: core.IpamState) => { state: core.IpamState; value: T }): Promise<T> {
    const run = async (): Promise<T> => {
      const { state, value } = step(this.state);
      if (state !== this.state) {
        await writeFileAtomic(this.path, serialize(state));
        this.state = state;
      }
      return value;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function serialize(state: core.IpamState): string {
  const file: z.input<typeof StateFile> = {
    version: StateFileVersion,
    chunks: [...state.chunks],
    allocations: state.allocations.map((a) => ({ ...a, ips: [...a.ips] })),
  };
  return `${JSON.stringify(file, null, 1)}\n`;
}
