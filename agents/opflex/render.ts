/**
 * The table of contents of the pipeline: each stage module contributes its
 * flows; the result is data (flows + groups) for the installer to diff.
 */
import type { Model } from './model.ts';
import { type Flow, type Group } from './pipeline.ts';
import { arpFlows } from './stages/arp.ts';
import { classifierFlows } from './stages/classifier.ts';
import { conntrackFlows } from './stages/conntrack.ts';
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

export function renderPipeline(m: Model): Rendered {
  const services = serviceFlowsAndGroups(m);
  const all = [
    canaryFlow(),
    ...classifierFlows(m),
    ...arpFlows(m),
    ...conntrackFlows(m),
    ...services.flows,
    ...securityGroupFlows(m),
    ...forwardingFlows(m),
  ];
  // OVS keeps one flow per (table, priority, match); a second would silently replace the first.
  const seen = new Map<string, Flow>();
  const conflicts: Flow[] = [];
  for (const f of all) {
    const key = `${f.table}|${f.priority}|${f.match}`;
    const prev = seen.get(key);
    if (!prev) seen.set(key, f);
    else if (prev.actions !== f.actions) conflicts.push(f);
  }
  return { flows: [...seen.values()], groups: services.groups, conflicts };
}
