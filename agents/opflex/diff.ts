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

export function flowCookie(owner: CookieOwner, f: Flow): bigint {
  const h = createHash('sha1').update(flowSpec(f)).digest('hex').slice(0, 12);
  return ownerCookie(owner) | (BigInt(Feature[f.feature]) << 48n) | BigInt(`0x${h}`);
}

export interface DesiredState {
  /** cookie -> full flow text including the cookie */
  flows: Map<bigint, string>;
  /** group id -> full group text */
  groups: Map<number, string>;
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
  const out: DesiredState = { flows: new Map(), groups: new Map() };
  for (const f of flows) {
    const cookie = flowCookie(owner, f);
    out.flows.set(cookie, `cookie=0x${cookie.toString(16)},${flowSpec(f)}`);
  }
  for (const g of groups) out.groups.set(g.id, groupSpec(g));
  return out;
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
