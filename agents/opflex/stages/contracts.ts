/**
 * ACI contracts between EPGs, after the NetworkPolicy ingress stage (a
 * connection needs both) and before conntrack commits it:
 *
 *   ContractSource       SrcClass <- the EPG of the sending pod (in_port), or
 *                        of traffic from the fabric (its VLAN when that is an
 *                        EPG's encap id, else its source address when the
 *                        policy resolved that remote endpoint)
 *   ContractDestination  DstClass <- the EPG of the receiving pod (the output
 *                        port register), or of a resolved remote endpoint
 *   ContractPolicy       (SrcClass, DstClass, classifier) -> allow / drop
 *
 * Only new connections are checked: established and related packets pass
 * ContractSource, so replies are allowed through conntrack and only
 * through it (a packet from the provider that is not a reply is a new
 * connection and needs a rule of its own). Traffic of the node itself
 * (the gateway port: kubelet probes) is not subject to contracts, as
 * NetworkPolicy ingress. Traffic that crosses the fabric is the fabric's
 * to police, as in ACI: a destination that is neither a local pod nor a
 * resolved remote endpoint is left to the leaf, and fabric traffic whose
 * source EPG the node cannot tell is taken as policy-applied (the
 * reference agent's POLICY_APPLIED); where the node can classify both ends
 * it enforces itself. A local pod whose EPG is not resolved is
 * isolated both ways until it is (fail closed), as the reference agent,
 * which has no flows for such an endpoint. Without an OpFlex policy source
 * (`Model.contracts` unset) the stage passes everything. IPv6 is classified
 * and policed the same way, by twins of the IPv4 flows (`ipv6`, `tcp6`,
 * `icmp6` for ICMPv6 classifiers), on nodes that have IPv6.
 *
 * ContractPolicy priorities: the rule priority p of the contract model
 * becomes 2p, and 2p+1 for deny, so at one priority deny wins (the order
 * within a contract is kept). Above every rule: unenforced VRFs (8442·2),
 * intra-EPG deny (8392·2+1), intra-EPG allow (8292·2), the reference agent's
 * offsets over MAX_POLICY_RULE_PRIORITY.
 */
import type { ClassifierMatch, ContractModel, ContractRule } from '../policy/contract-model.ts';
import { MaxRulePriority } from '../policy/contract-model.ts';
import {
  BridgeDomain,
  DstClass,
  PktSource,
  Source,
  SrcClass,
  TargetOFPort,
  loadField,
  matchField,
} from '../fields.ts';
import { portRangeMasks } from '../../../lib/net/port-masks.ts';
import { type LocalEndpoint, type Model, carriesIPv6 } from '../model.ts';
import { type Flow, goto } from '../pipeline.ts';

export const UnenforcedPriority = (MaxRulePriority + 250) * 2;
export const IntraDenyPriority = (MaxRulePriority + 200) * 2 + 1;
export const IntraAllowPriority = (MaxRulePriority + 100) * 2;

const feature = 'Contract' as const;
const allow = goto('ConntrackCommit');

/** The OpenFlow name of an IP family's packets. */
export type FamilyMatch = 'ip' | 'ipv6';
const familyOfAddress = (ip: string): FamilyMatch => (ip.includes(':') ? 'ipv6' : 'ip');
const endpointFamilies = (ep: LocalEndpoint): FamilyMatch[] =>
  ep.ipv6.length > 0 ? ['ip', 'ipv6'] : ['ip'];

const flow = (table: Flow['table'], priority: number, match: string, actions: string): Flow => ({
  table,
  priority,
  match,
  actions,
  feature,
});

/** The class id of a local endpoint's EPG, or undefined when its EPG is not resolved. */
export function endpointClass(c: ContractModel, ep: LocalEndpoint): number | undefined {
  return ep.endpointGroup === undefined ? undefined : c.epgs.get(ep.endpointGroup)?.classId;
}

export function establishedContractBypassFlow(family: FamilyMatch = 'ip'): Flow {
  return flow('ContractSource', 210, `ct_state=-new+trk,${family}`, allow);
}

export function gatewayContractBypassFlow(family: FamilyMatch = 'ip'): Flow {
  return flow('ContractSource', 205, `${family},${matchField(PktSource, Source.Gateway)}`, allow);
}

export function podSourceClassFlow(
  ep: LocalEndpoint,
  classId: number,
  family: FamilyMatch = 'ip',
): Flow {
  return flow(
    'ContractSource',
    200,
    `${family},in_port=${ep.ofport}`,
    `${loadField(SrcClass, classId)},${goto('ContractDestination')}`,
  );
}

/** An endpoint of an unresolved EPG sends and receives nothing that contracts check. */
export function unresolvedSourceDropFlow(ep: LocalEndpoint, family: FamilyMatch = 'ip'): Flow {
  return flow('ContractSource', 200, `${family},in_port=${ep.ofport}`, 'drop');
}

/** Fabric traffic whose VLAN is an EPG's encap id: the fabric classified it. */
export function fabricEncapClassFlow(
  vlan: number,
  classId: number,
  family: FamilyMatch = 'ip',
): Flow {
  return flow(
    'ContractSource',
    190,
    `${family},${matchField(PktSource, Source.Fabric)},${matchField(BridgeDomain, vlan)}`,
    `${loadField(SrcClass, classId)},${goto('ContractDestination')}`,
  );
}

/** Fabric traffic from a remote endpoint the policy resolved (EprL3Ep). */
export function fabricAddressClassFlow(ip: string, classId: number): Flow {
  return flow(
    'ContractSource',
    180,
    familyOfAddress(ip) === 'ipv6'
      ? `ipv6,${matchField(PktSource, Source.Fabric)},ipv6_src=${ip}`
      : `ip,${matchField(PktSource, Source.Fabric)},nw_src=${ip}`,
    `${loadField(SrcClass, classId)},${goto('ContractDestination')}`,
  );
}

/**
 * Fabric traffic the node cannot classify (its VLAN is a bridge domain's,
 * its source no resolved remote endpoint) had its policy applied by the
 * fabric: the reference agent marks such traffic POLICY_APPLIED and lets it
 * through, because the leaf enforces contracts between what it knows.
 */
export function fabricPolicyAppliedFlow(family: FamilyMatch = 'ip'): Flow {
  return flow('ContractSource', 170, `${family},${matchField(PktSource, Source.Fabric)}`, allow);
}

export function podDestinationClassFlow(
  ep: LocalEndpoint,
  classId: number,
  family: FamilyMatch = 'ip',
): Flow {
  return flow(
    'ContractDestination',
    200,
    `${family},${matchField(TargetOFPort, ep.ofport)}`,
    `${loadField(DstClass, classId)},${goto('ContractPolicy')}`,
  );
}

export function unresolvedDestinationDropFlow(ep: LocalEndpoint, family: FamilyMatch = 'ip'): Flow {
  return flow(
    'ContractDestination',
    200,
    `${family},${matchField(TargetOFPort, ep.ofport)}`,
    'drop',
  );
}

export function remoteDestinationClassFlow(ip: string, classId: number): Flow {
  return flow(
    'ContractDestination',
    190,
    familyOfAddress(ip) === 'ipv6' ? `ipv6,ipv6_dst=${ip}` : `ip,nw_dst=${ip}`,
    `${loadField(DstClass, classId)},${goto('ContractPolicy')}`,
  );
}

const ProtocolNames: Record<FamilyMatch, Record<number, string>> = {
  ip: { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' },
  ipv6: { 58: 'icmp6', 6: 'tcp6', 17: 'udp6', 132: 'sctp6' },
};
const EtherTypes: Record<FamilyMatch, number> = { ip: 0x0800, ipv6: 0x86dd };
const IcmpProtocols: Record<FamilyMatch, number> = { ip: 1, ipv6: 58 };
const hasPorts = new Set([6, 17, 132]);

/**
 * OpenFlow matches of a classifier in one family (one per source ×
 * destination port mask), or [] when it can match no new connection of
 * that family here: the other family's ether type, ARP (never policed),
 * ICMP of the other family, ports without TCP, UDP or SCTP, TCP flag
 * filters (they select packets of established connections, which pass
 * anyway).
 */
export function classifierMatches(m: ClassifierMatch, family: FamilyMatch = 'ip'): string[] {
  if (m.etherType !== undefined && m.etherType !== EtherTypes[family]) return [];
  if (m.tcpFlags !== undefined) return [];
  const proto = m.protocol;
  const other: FamilyMatch = family === 'ip' ? 'ipv6' : 'ip';
  if (proto === IcmpProtocols[other]) return [];
  const base =
    proto === undefined ? family : (ProtocolNames[family][proto] ?? `${family},nw_proto=${proto}`);
  if (proto === IcmpProtocols[family]) {
    const icmp = [
      ...(m.icmpType !== undefined ? [`icmp_type=${m.icmpType}`] : []),
      ...(m.icmpCode !== undefined ? [`icmp_code=${m.icmpCode}`] : []),
    ];
    return [[base, ...icmp].join(',')];
  }
  if (m.srcPorts === undefined && m.dstPorts === undefined) return [base];
  if (proto === undefined || !hasPorts.has(proto)) return [];
  const masks = (r?: { from: number; to: number }): (string | undefined)[] =>
    r ? portRangeMasks(r.from, r.to) : [undefined];
  const out: string[] = [];
  for (const s of masks(m.srcPorts))
    for (const d of masks(m.dstPorts))
      out.push(
        [
          base,
          ...(s !== undefined ? [`tp_src=${s}`] : []),
          ...(d !== undefined ? [`tp_dst=${d}`] : []),
        ].join(','),
      );
  return out;
}

/**
 * A reflexive (stateful) classifier applied from provider to consumer
 * matches replies only (ACI's stateful entry: the provider side may only
 * answer), and replies already pass through conntrack: no flow. This is
 * what keeps the `-rev` rule the APIC's revFltPorts adds from letting the
 * provider open connections from its port.
 */
export function contractRuleFlows(
  r: ContractRule,
  families: readonly FamilyMatch[] = ['ip'],
): Flow[] {
  if (r.direction === 'out' && r.match.reflexive && r.action === 'allow') return [];
  const deny = r.action === 'deny';
  const classes = `${matchField(SrcClass, r.srcClass)},${matchField(DstClass, r.dstClass)}`;
  return families
    .flatMap((family) => classifierMatches(r.match, family))
    .map((m) =>
      flow(
        'ContractPolicy',
        r.priority * 2 + (deny ? 1 : 0),
        `${m},${classes}`,
        deny ? 'drop' : allow,
      ),
    );
}

export function intraGroupFlow(
  classId: number,
  policy: 'allow' | 'deny',
  family: FamilyMatch = 'ip',
): Flow {
  return flow(
    'ContractPolicy',
    policy === 'deny' ? IntraDenyPriority : IntraAllowPriority,
    `${family},${matchField(SrcClass, classId)},${matchField(DstClass, classId)}`,
    policy === 'deny' ? 'drop' : allow,
  );
}

export function unenforcedFlows(classId: number, family: FamilyMatch = 'ip'): Flow[] {
  return [
    flow('ContractPolicy', UnenforcedPriority, `${family},${matchField(SrcClass, classId)}`, allow),
    flow('ContractPolicy', UnenforcedPriority, `${family},${matchField(DstClass, classId)}`, allow),
  ];
}

export function contractFlows(m: Model): Flow[] {
  const c = m.contracts;
  if (!c) return [flow('ContractSource', 0, '', allow)];
  const families: FamilyMatch[] = carriesIPv6(m) ? ['ip', 'ipv6'] : ['ip'];
  const flows: Flow[] = [
    ...families.flatMap((f) => [
      establishedContractBypassFlow(f),
      gatewayContractBypassFlow(f),
      fabricPolicyAppliedFlow(f),
    ]),
    flow('ContractSource', 0, '', goto('ContractDestination')),
    flow('ContractDestination', 0, '', allow),
    flow('ContractPolicy', 0, '', 'drop'),
  ];
  const relevant = new Set<number>();
  for (const ep of m.endpoints) {
    const cls = endpointClass(c, ep);
    for (const f of endpointFamilies(ep)) {
      if (cls === undefined)
        flows.push(unresolvedSourceDropFlow(ep, f), unresolvedDestinationDropFlow(ep, f));
      else flows.push(podSourceClassFlow(ep, cls, f), podDestinationClassFlow(ep, cls, f));
    }
    if (cls !== undefined) relevant.add(cls);
  }
  // An encap or address that names two EPGs classifies nothing (never guess a class).
  const unique = <K>(pairs: [K, number][]): Map<K, number> => {
    const out = new Map<K, number>();
    const ambiguous = new Set<K>();
    for (const [k, cls] of pairs) {
      if (out.has(k) && out.get(k) !== cls) ambiguous.add(k);
      out.set(k, cls);
    }
    for (const k of ambiguous) out.delete(k);
    return out;
  };
  if (m.uplink?.encap === 'vlan') {
    const encaps = unique(
      [...c.epgs.values()].flatMap((e): [number, number][] =>
        e.encapId !== undefined && e.encapId <= 4094 ? [[e.encapId, e.classId]] : [],
      ),
    );
    for (const [vlan, cls] of encaps)
      for (const f of families) flows.push(fabricEncapClassFlow(vlan, cls, f));
  }
  const local = new Set(m.endpoints.flatMap((ep) => [...ep.ipv4, ...ep.ipv6]));
  const remotes = unique(
    c.remoteEndpoints
      .filter((r) => !local.has(r.ip) && families.includes(familyOfAddress(r.ip)))
      .map((r): [string, number] => [r.ip, r.classId]),
  );
  for (const [ip, cls] of remotes)
    flows.push(fabricAddressClassFlow(ip, cls), remoteDestinationClassFlow(ip, cls));
  for (const epg of c.epgs.values()) {
    if (!relevant.has(epg.classId)) continue;
    for (const f of families) {
      if (!epg.enforced) flows.push(...unenforcedFlows(epg.classId, f));
      if (epg.intraGroup !== 'require-contract')
        flows.push(intraGroupFlow(epg.classId, epg.intraGroup, f));
    }
  }
  for (const r of c.rules)
    if (relevant.has(r.srcClass) || relevant.has(r.dstClass))
      flows.push(...contractRuleFlows(r, families));
  return flows;
}
