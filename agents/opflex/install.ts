/**
 * The installer: the I/O shell around diff.ts. It keeps what it last
 * installed; with no cache (start, after ovs-vswitchd restarted, after a
 * failed bundle) it reads the switch (cookies of its owner, its group ids)
 * instead. The cache changes only after a bundle succeeded, so a failure
 * never leaves it claiming flows the switch does not have. Contract: apply
 * is idempotent (a second apply of the same state sends nothing) and
 * all-or-nothing (one bundle); callers serialize calls (the sync loop).
 */
import type { Logger } from 'pino';
import { type OfTarget, bundle, dumpCookies, dumpGroupIds } from '../openvswitch/ofctl.ts';
import {
  type BundlePlan,
  type DesiredState,
  type InstalledState,
  OwnerMask,
  type VersionedDesired,
  ownerCookie,
  planBundle,
  planDelta,
} from './diff.ts';
import type { CookieOwner } from './pipeline.ts';

export interface InstallResult extends Omit<BundlePlan, 'lines'> {
  resynced: boolean;
  ms: number;
}

export class Installer {
  private cache?: InstalledState;
  /** The renderer generation the cache holds, when the last apply was given one. */
  private cachedGeneration?: number;

  constructor(
    private readonly target: OfTarget,
    private readonly owner: CookieOwner,
    private readonly ownsGroup: (id: number) => boolean,
    private readonly log: Logger,
  ) {}

  /** Forget the cache: the next apply reads the switch. */
  invalidate(): void {
    this.cache = undefined;
  }

  /**
   * A VersionedDesired whose delta starts at the generation the cache holds
   * is planned from the delta alone (and the cache updated in place);
   * anything else from the full state.
   */
  async apply(input: DesiredState | VersionedDesired): Promise<InstallResult> {
    const started = performance.now();
    const versioned = 'state' in input ? input : undefined;
    const desired = versioned?.state ?? (input as DesiredState);
    const resynced = this.cache === undefined;
    const installed = this.cache ?? (await this.readInstalled());
    const delta =
      versioned?.delta !== undefined &&
      this.cache !== undefined &&
      this.cachedGeneration === versioned.delta.from
        ? versioned.delta
        : undefined;
    const plan = delta ? planDelta(delta, installed) : planBundle(desired, installed);
    try {
      await bundle(this.target, plan.lines);
    } catch (err) {
      this.cache = undefined;
      throw err;
    }
    if (delta) {
      for (const c of delta.flowDeletes) installed.cookies.delete(c);
      for (const c of delta.flowAdds.keys()) installed.cookies.add(c);
      for (const id of delta.groupDeletes) installed.groups.delete(id);
      for (const [id, text] of delta.groupWrites) installed.groups.set(id, text);
    } else this.cache = { cookies: new Set(desired.flows.keys()), groups: new Map(desired.groups) };
    this.cachedGeneration = versioned?.generation;
    const { lines: _lines, ...counts } = plan;
    const result = { ...counts, resynced, ms: Math.round(performance.now() - started) };
    if (plan.lines.length > 0)
      this.log.info(
        { bridge: this.target.bridge, owner: this.owner, ...result },
        'Installed flow bundle',
      );
    return result;
  }

  private async readInstalled(): Promise<InstalledState> {
    const cookies = new Set(await dumpCookies(this.target, ownerCookie(this.owner), OwnerMask));
    const groups = new Map<number, string | undefined>();
    for (const id of await dumpGroupIds(this.target))
      if (this.ownsGroup(id)) groups.set(id, undefined);
    return { cookies, groups };
  }
}
