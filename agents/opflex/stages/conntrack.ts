/**
 * Conntrack: hairpin un-SNAT first (replies addressed to the hairpin IP must
 * be restored before the main zone can match them), then the main zone with
 * NAT, which also un-DNATs service replies.
 */
import { CtZone, ServiceCTMark, SnatCtZone } from '../fields.ts';
import { type Model, carriesIPv6 } from '../model.ts';
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

/** IPv4 and IPv6 share the zone: conntrack keys on the family, so their connections never mix. */
export type IpFamilyMatch = 'ip' | 'ipv6';

export function conntrackZoneFlow(family: IpFamilyMatch = 'ip'): Flow {
  return {
    table: 'ConntrackZone',
    priority: 200,
    match: family,
    actions: `ct(table=@ConntrackState,zone=${CtZone},nat)`,
    feature: 'Conntrack',
  };
}

export function conntrackInvalidDropFlow(family: IpFamilyMatch = 'ip'): Flow {
  return {
    table: 'ConntrackState',
    priority: 200,
    match: `ct_state=+inv+trk,${family}`,
    actions: 'drop',
    feature: 'Conntrack',
  };
}

/** New connections look up session affinity, then the service frontends. */
export function preRoutingServiceFlow(family: IpFamilyMatch = 'ip'): Flow {
  return {
    table: 'PreRoutingClassifier',
    priority: 200,
    match: `ct_state=+new+trk,${family}`,
    actions: `${resubmit('SessionAffinity')},${resubmit('ServiceLB')}`,
    feature: 'Service',
  };
}

/** Non-service new connections are committed here; service ones were committed with their DNAT. */
export function conntrackCommitFlow(family: IpFamilyMatch = 'ip'): Flow {
  return {
    table: 'ConntrackCommit',
    priority: 190,
    match: `ct_state=+new+trk,ct_mark=0/${ServiceCTMark},${family}`,
    actions: `ct(commit,table=@Output,zone=${CtZone})`,
    feature: 'Conntrack',
  };
}

export function conntrackFlows(m: Model): Flow[] {
  const families: IpFamilyMatch[] = carriesIPv6(m) ? ['ip', 'ipv6'] : ['ip'];
  return [
    {
      table: 'UnSNAT',
      priority: 0,
      match: '',
      actions: goto('ConntrackZone'),
      feature: 'Conntrack',
    },
    unSNATFlow(m),
    ...families.map((f) => conntrackZoneFlow(f)),
    ...families.map((f) => conntrackInvalidDropFlow(f)),
    {
      table: 'ConntrackState',
      priority: 0,
      match: '',
      actions: goto('PreRoutingClassifier'),
      feature: 'Conntrack',
    },
    ...families.map((f) => preRoutingServiceFlow(f)),
    {
      table: 'PreRoutingClassifier',
      priority: 0,
      match: '',
      actions: goto('EgressRule'),
      feature: 'Conntrack',
    },
    ...families.map((f) => conntrackCommitFlow(f)),
    {
      table: 'ConntrackCommit',
      priority: 0,
      match: '',
      actions: goto('Output'),
      feature: 'Conntrack',
    },
  ];
}
