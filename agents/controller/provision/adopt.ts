/**
 * The adoption dry run (pure): for every object the cluster desires, what
 * the controller would do with what sits at its DN today, by the same rules
 * as the sync engine (diff.ts): create it, leave it (ours, unchanged), update
 * it (ours), adopt it (made by acc-provision or the original controller, and
 * spec.aci.adoptExisting is set: re-annotated and tagged, attributes set), or
 * leave it alone (foreign, or adoptable but adoptExisting is off).
 */
import type { ApicClient } from '../apic/client.ts';
import {
  accProvisionAnnotation,
  flattenActual,
  indexDesired,
  isAdoptable,
  isOwned,
  type ActualObject,
  type ActualState,
} from '../apic/diff.ts';
import { moAttrs, type Mo } from '../apic/mo.ts';

export type AdoptionAction = 'create' | 'unchanged' | 'update' | 'adopt' | 'foreign';

export interface AdoptionChange {
  dn: string;
  class: string;
  action: AdoptionAction;
  /** Attributes that would be written: name → [now, then]. */
  attributes: Record<string, [string | undefined, string]>;
}

export function adoptionPlan(
  desired: ReadonlyMap<string, readonly Mo[]>,
  actual: ActualState,
  prefix: string,
  adoptExisting: boolean,
): AdoptionChange[] {
  const index = indexDesired(desired, prefix);
  const config = { prefix, adoptAnnotations: adoptExisting ? [accProvisionAnnotation] : [] };
  const changes: AdoptionChange[] = [];
  for (const node of index.nodes.values()) {
    if (node.cls === 'tagAnnotation') continue;
    const now = actual.get(node.dn);
    const attributes: AdoptionChange['attributes'] = {};
    for (const [k, v] of Object.entries(node.attrs))
      if (now?.attrs[k] !== v) attributes[k] = [now?.attrs[k], v];
    let action: AdoptionAction;
    if (now === undefined) action = 'create';
    else if (now.cls !== node.cls) action = 'foreign';
    else if (isOwned(node.dn, actual, prefix))
      action = Object.keys(attributes).length > 0 ? 'update' : 'unchanged';
    else if (isAdoptable(now, config)) action = 'adopt';
    else action = 'foreign';
    changes.push({
      dn: node.dn,
      class: node.cls,
      action,
      attributes: action === 'foreign' || action === 'unchanged' ? {} : attributes,
    });
  }
  return changes.sort((a, b) => a.dn.localeCompare(b.dn));
}

/** One line per object, for people: `adopt vzBrCP uni/tn-kube/brc-dns (annotation: … → …)`. */
export function formatAdoptionPlan(changes: readonly AdoptionChange[]): string {
  const lines = changes.map((c) => {
    const attrs = Object.entries(c.attributes)
      .map(
        ([k, [from, to]]) =>
          `${k}: ${from === undefined ? '(unset)' : JSON.stringify(from)} → ${JSON.stringify(to)}`,
      )
      .join(', ');
    return `${c.action.padEnd(9)} ${c.class} ${c.dn}${attrs ? ` (${attrs})` : ''}`;
  });
  const counts = new Map<AdoptionAction, number>();
  for (const c of changes) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
  const summary = [...counts].map(([action, n]) => `${n} ${action}`).join(', ');
  return `${lines.join('\n')}\n${summary || 'nothing desired'}\n`;
}

/** What the APIC holds today under every desired root (one subtree read per root). */
export async function readDesiredSubtrees(
  client: Pick<ApicClient, 'getMo'>,
  desired: ReadonlyMap<string, readonly Mo[]>,
): Promise<Map<string, ActualObject>> {
  const actual = new Map<string, ActualObject>();
  const roots = [...desired.values()].flatMap((mos) => mos.map((m) => moAttrs(m).dn ?? ''));
  for (const dn of new Set(roots)) {
    if (dn === '') continue;
    const res = await client.getMo(dn, { 'rsp-subtree': 'full' });
    flattenActual(res.imdata, actual);
  }
  return actual;
}
