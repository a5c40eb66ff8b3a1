/**
 * Conntrack: hairpin un-SNAT first (replies addressed to the hairpin IP must
 * be restored before the main zone can match them), then the main zone with
 * NAT, which also un-DNATs service replies.
 */
import { CtZone, ServiceCTMark, SnatCtZone } from '../fields.ts';
import type { Model } from '../model.ts';
import { type Flow, goto, resubmit } from '../pipeline.ts';

export function unSNATFlow(m: Model): Flow {
  return {
    table: 'UnSNAT',
    priority: 200,
    match: `ip,nw_dst=${m.config.hairpinIP}`,
    actions: `ct(table=@ConntrackZone,zone=${SnatCtZone},nat)`,
    feature: 'Service',
  };
}

export function conntrackZoneFlow(): Flow {
  return {
    table: 'ConntrackZone',
    priority: 200,
    match: 'ip',
    actions: `ct(table=@ConntrackState,zone=${CtZone},nat)`,
    feature: 'Conntrack',
  };
}

export function conntrackInvalidDropFlow(): Flow {
  return {
    table: 'ConntrackState',
    priority: 200,
    match: 'ct_state=+inv+trk,ip',
    actions: 'drop',
    feature: 'Conntrack',
  };
}

/** New connections look up session affinity, then the service frontends. */
export function preRoutingServiceFlow(): Flow {
  return {
    table: 'PreRoutingClassifier',
    priority: 200,
    match: 'ct_state=+new+trk,ip',
    actions: `${resubmit('SessionAffinity')},${resubmit('ServiceLB')}`,
    feature: 'Service',
  };
}

/** Non-service new connections are committed here; service ones were committed with their DNAT. */
export function conntrackCommitFlow(): Flow {
  return {
    table: 'ConntrackCommit',
    priority: 190,
    match: `ct_state=+new+trk,ct_mark=0/${ServiceCTMark},ip`,
    actions: `ct(commit,table=@Output,zone=${CtZone})`,
    feature: 'Conntrack',
  };
}

export function conntrackFlows(m: Model): Flow[] {
  return [
    {
      table: 'UnSNAT',
      priority: 0,
      match: '',
      actions: goto('ConntrackZone'),
      feature: 'Conntrack',
    },
    unSNATFlow(m),
    conntrackZoneFlow(),
    conntrackInvalidDropFlow(),
    {
      table: 'ConntrackState',
      priority: 0,
      match: '',
      actions: goto('PreRoutingClassifier'),
      feature: 'Conntrack',
    },
    preRoutingServiceFlow(),
    {
      table: 'PreRoutingClassifier',
      priority: 0,
      match: '',
      actions: goto('EgressRule'),
      feature: 'Conntrack',
    },
    conntrackCommitFlow(),
    {
      table: 'ConntrackCommit',
      priority: 0,
      match: '',
      actions: goto('Output'),
      feature: 'Conntrack',
    },
  ];
}
