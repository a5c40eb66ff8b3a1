/**
 * The table of contents of the pipeline: each stage module contributes its
 * flows; the result is data (flows + groups) for the installer to diff.
 */
import type { Model } from './model.ts';
import { type Flow, type Group } from './pipeline.ts';
import { arpFlows } from './stages/arp.ts';
import { classifierFlows } from './stages/classifier.ts';
import { conntrackFlows } from './stages/conntrack.ts';
import { contractFlows } from './stages/contracts.ts';
import { forwardingFlows } from './stages/forwarding.ts';
import { securityGroupFlows } from './stages/securitygroup.ts';
import { serviceFlowsAndGroups } from './stages/service.ts';

export interface Rendered {
  flows: Flow[];
  groups: Group[];
  /** Flows dropped because another flow already claimed the same table, priority and match. */
  conflicts: Flow[];
}

/**
 * The one flow whose absence means ovs-vswitchd lost its tables (restart):
 * the table-miss drop of Classifier, which must exist anyway.
 */
export function canaryFlow(): Flow {
  return { table: 'Classifier', priority: 0, match: '', actions: 'drop', feature: 'Canary' };
}

/**
 * How a stage's output depends on the model, which is what the incremental
 * renderer (render-incremental.ts) relies on to redo only what changed; its
 * property test checks each promise against the stage as written:
 * - `per-endpoint`: the output is the union of the stage on the model
 *   without endpoints and on each endpoint alone (with no services and no
 *   security groups). Aggregates over endpoints (the set of VLANs, whether
 *   any endpoint has IPv6) are fine; a flow that one endpoint's presence
 *   removes, or that picks one endpoint over another, is not.
 * - `per-security-group`: the SecurityGroup stage, split by group (its
 *   conjunction clauses are merged across groups by the renderer).
 * - `whole`: rendered as one, again whenever anything changed.
 */
export type StageKind = 'per-endpoint' | 'per-security-group' | 'whole';

export interface StageRenderer {
  name: string;
  kind: StageKind;
  render: (m: Model) => { flows: Flow[]; groups: Group[] };
}

const flowsOf =
  (f: (m: Model) => Flow[]): StageRenderer['render'] =>
  (m) => ({ flows: f(m), groups: [] });

/** Pipeline order; where two flows claim one (table, priority, match), the earlier wins. */
export const stageRenderers: readonly StageRenderer[] = [
  { name: 'Canary', kind: 'whole', render: () => ({ flows: [canaryFlow()], groups: [] }) },
  { name: 'Classifier', kind: 'per-endpoint', render: flowsOf(classifierFlows) },
  { name: 'Arp', kind: 'per-endpoint', render: flowsOf(arpFlows) },
  { name: 'Conntrack', kind: 'per-endpoint', render: flowsOf(conntrackFlows) },
  { name: 'Service', kind: 'per-endpoint', render: serviceFlowsAndGroups },
  { name: 'SecurityGroup', kind: 'per-security-group', render: flowsOf(securityGroupFlows) },
  { name: 'Contract', kind: 'whole', render: flowsOf(contractFlows) },
  { name: 'Forwarding', kind: 'per-endpoint', render: flowsOf(forwardingFlows) },
];

/** The whole pipeline at once: the reference the incremental renderer is tested against. */
export function renderPipeline(m: Model): Rendered {
  const all: Flow[] = [];
  const groups: Group[] = [];
  for (const stage of stageRenderers) {
    const out = stage.render(m);
    all.push(...out.flows);
    groups.push(...out.groups);
  }
  // OVS keeps one flow per (table, priority, match); a second would silently replace the first.
  const seen = new Map<string, Flow>();
  const conflicts: Flow[] = [];
  for (const f of all) {
    const key = `${f.table}|${f.priority}|${f.match}`;
    const prev = seen.get(key);
    if (!prev) seen.set(key, f);
    else if (prev.actions !== f.actions) conflicts.push(f);
  }
  return { flows: [...seen.values()], groups, conflicts };
}
