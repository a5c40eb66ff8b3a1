/**
 * Pure diff of desired against installed flows and groups, as the lines of
 * one `ovs-ofctl bundle`. A flow is identified by its cookie: owner and
 * feature in the top 16 bits, a hash of its full text in the low 48. So an
 * unchanged flow keeps its cookie across renders and agent restarts (never
 * touched), and a changed one is a delete of the old cookie plus an add.
 *
 *   bits 63..56  owner (opflex 0x0a, mcast 0x0b, learned 0x0c)
 *   bits 55..48  feature (pipeline.ts Feature)
 *   bits 47..0   first 48 bits of sha1(flow text)
 */
import { createHash } from 'node:crypto';
import { CookieOwner, Feature, type Flow, type Group, flowSpec, groupSpec } from './pipeline.ts';

export const OwnerMask = 0xffn << 56n;

export function ownerCookie(owner: CookieOwner): bigint {
  return BigInt(CookieOwner[owner]) << 56n;
}

export function cookieOf(owner: CookieOwner, feature: Flow['feature'], spec: string): bigint {
  const h = createHash('sha1').update(spec).digest('hex').slice(0, 12);
  return ownerCookie(owner) | (BigInt(Feature[feature]) << 48n) | BigInt(`0x${h}`);
}

export function flowCookie(owner: CookieOwner, f: Flow): bigint {
  return cookieOf(owner, f.feature, flowSpec(f));
}

export interface DesiredState {
  /** cookie -> full flow text including the cookie */
  flows: Map<bigint, string>;
  /** group id -> full group text */
  groups: Map<number, string>;
}

/**
 * What changed between two desired states a renderer produced one after the
 * other (generation `from` to `to`). Applied to a switch that holds exactly
 * generation `from`, it gives generation `to`; an installer that cannot
 * tell (no cache, another generation) plans from the full state instead.
 */
export interface DesiredDelta {
  from: number;
  to: number;
  flowAdds: Map<bigint, string>;
  flowDeletes: Set<bigint>;
  groupWrites: Map<number, string>;
  groupDeletes: Set<number>;
}

/** A desired state with its generation, and the delta from the previous one when the renderer knows it. */
export interface VersionedDesired {
  state: DesiredState;
  generation: number;
  delta?: DesiredDelta;
}

export interface InstalledState {
  cookies: Set<bigint>;
  /** group id -> text when known (from our cache), undefined when only the id was dumped */
  groups: Map<number, string | undefined>;
}

export interface BundlePlan {
  lines: string[];
  flowAdds: number;
  flowDeletes: number;
  groupWrites: number;
  groupDeletes: number;
}

export function desiredState(owner: CookieOwner, flows: Flow[], groups: Group[]): DesiredState {
  return new CookieMemo(owner).desired(flows, groups);
}

interface Hashed {
  readonly cookie: bigint;
  readonly text: string;
}

/** Everything a flow's cookie and text depend on, joined without the table-name rewriting flowSpec does. */
const flowKey = (f: Flow): string =>
  `${f.feature}\u0000${f.table}\u0000${f.priority}\u0000${f.match}\u0000${f.actions}`;

/**
 * desiredState for a loop that renders again and again: it remembers the
 * cookie and bundle text of every flow of the last render, so a flow that
 * did not change is looked up, not written out and hashed again (flowSpec
 * and sha1 of each of 14,624 flows were 150 of the 250 ms a one-pod change
 * cost in bench/dataplane). It holds only the last render's flows.
 */
export class CookieMemo {
  private last = new Map<string, Hashed>();

  constructor(private readonly owner: CookieOwner) {}

  desired(flows: readonly Flow[], groups: readonly Group[]): DesiredState {
    const out: DesiredState = { flows: new Map(), groups: new Map() };
    const next = new Map<string, Hashed>();
    for (const f of flows) {
      const key = flowKey(f);
      let hashed = this.last.get(key);
      if (hashed === undefined) {
        const spec = flowSpec(f);
        const cookie = cookieOf(this.owner, f.feature, spec);
        hashed = { cookie, text: `cookie=0x${cookie.toString(16)},${spec}` };
      }
      next.set(key, hashed);
      out.flows.set(hashed.cookie, hashed.text);
    }
    for (const g of groups) out.groups.set(g.id, groupSpec(g));
    this.last = next;
    return out;
  }
}

/**
 * planBundle for a delta: only what changed is looked at, so a one-pod
 * change costs its own flows, not a walk over every installed cookie. The
 * membership checks keep it right even if the delta repeats what the
 * switch already has.
 */
export function planDelta(delta: DesiredDelta, installed: InstalledState): BundlePlan {
  const lines: string[] = [];
  let groupWrites = 0;
  for (const [id, text] of delta.groupWrites) {
    if (installed.groups.get(id) === text) continue;
    lines.push(`group add_or_mod ${text}`);
    groupWrites++;
  }
  let flowDeletes = 0;
  for (const cookie of delta.flowDeletes) {
    if (!installed.cookies.has(cookie)) continue;
    lines.push(`flow delete cookie=0x${cookie.toString(16)}/-1`);
    flowDeletes++;
  }
  let flowAdds = 0;
  for (const [cookie, text] of delta.flowAdds) {
    if (installed.cookies.has(cookie)) continue;
    lines.push(`flow add ${text}`);
    flowAdds++;
  }
  let groupDeletes = 0;
  for (const id of delta.groupDeletes) {
    if (!installed.groups.has(id)) continue;
    lines.push(`group delete group_id=${id}`);
    groupDeletes++;
  }
  return { lines, flowAdds, flowDeletes, groupWrites, groupDeletes };
}

/**
 * Order inside the bundle: groups first (flows may point at them), then
 * flow deletes and adds, then group deletes (after nothing points at them).
 */
export function planBundle(desired: DesiredState, installed: InstalledState): BundlePlan {
  const lines: string[] = [];
  let groupWrites = 0;
  for (const [id, text] of desired.groups) {
    if (installed.groups.get(id) === text) continue;
    lines.push(`group add_or_mod ${text}`);
    groupWrites++;
  }
  let flowDeletes = 0;
  for (const cookie of installed.cookies) {
    if (desired.flows.has(cookie)) continue;
    lines.push(`flow delete cookie=0x${cookie.toString(16)}/-1`);
    flowDeletes++;
  }
  let flowAdds = 0;
  for (const [cookie, text] of desired.flows) {
    if (installed.cookies.has(cookie)) continue;
    lines.push(`flow add ${text}`);
    flowAdds++;
  }
  let groupDeletes = 0;
  for (const id of installed.groups.keys()) {
    if (desired.groups.has(id)) continue;
    lines.push(`group delete group_id=${id}`);
    groupDeletes++;
  }
  return { lines, flowAdds, flowDeletes, groupWrites, groupDeletes };
}
