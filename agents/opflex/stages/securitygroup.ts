/**
 * Security groups as conjunctive matches (one conjunction per rule):
 *   clause 1  the endpoints the group applies to (in_port for egress,
 *             output port register for ingress)
 *   clause 2  the remote addresses (ipBlocks minus their exceptions), if any
 *   clause 3  protocol and ports (port ranges as masks), if any
 * A flow whose match is shared by several rules carries all their
 * conjunction actions, so the flow count grows with endpoints + peers +
 * ports, not their product. A rule with only the first dimension needs no
 * conjunction: its flows allow directly, one priority above the clauses so
 * they never collide with a clause flow of the same match.
 *
 * IPv6 is matched in the same conjunctions: an endpoint with IPv6
 * addresses gets an `ipv6` twin of each of its clause flows, remotes match
 * by their own family (an ipBlock of one family never admits the other),
 * and protocols by the family's name (tcp6). A node without IPv6 renders
 * exactly its IPv4 flows.
 *
 * Only new connections are checked; established and related traffic skips
 * both rule tables. An endpoint is default-deny in a direction only if one
 * of its groups isolates that direction. A referenced group whose file is
 * missing isolates both directions (fail closed) until it arrives.
 */
import type { SecurityGroupFile, SecurityGroupRule } from '../files.ts';
import { PktSource, Source, TargetOFPort, matchField } from '../fields.ts';
import { formatHostOrCidr, ipFamily } from '../../../lib/net/cidr.ts';
import { portRangeMasks } from '../../../lib/net/port-masks.ts';
import { subtractCidrs } from '../../../lib/net/prefix-set.ts';
import { type LocalEndpoint, type Model, allocateIds, carriesIPv6 } from '../model.ts';
import { type Flow, type TableName, goto } from '../pipeline.ts';

type Direction = 'ingress' | 'egress';
/** The OpenFlow name of an IP family's packets. */
type FamilyMatch = 'ip' | 'ipv6';

interface DirectionTables {
  rule: TableName;
  deflt: TableName;
  next: TableName;
  appliedTo: (ep: LocalEndpoint, family: FamilyMatch) => string;
  remote: (cidr: string) => string;
}

const familyMatch = (cidr: string): FamilyMatch => (ipFamily(cidr) === 6 ? 'ipv6' : 'ip');

const directions: Record<Direction, DirectionTables> = {
  egress: {
    rule: 'EgressRule',
    deflt: 'EgressDefault',
    next: 'L3Forwarding',
    appliedTo: (ep, family) => `${family},in_port=${ep.ofport}`,
    remote: (cidr) =>
      familyMatch(cidr) === 'ipv6' ? `ipv6,ipv6_dst=${cidr}` : `ip,nw_dst=${cidr}`,
  },
  ingress: {
    rule: 'IngressRule',
    deflt: 'IngressDefault',
    // Contracts next: a connection needs both the NetworkPolicy and the contract.
    next: 'ContractSource',
    appliedTo: (ep, family) => `${family},${matchField(TargetOFPort, ep.ofport)}`,
    remote: (cidr) =>
      familyMatch(cidr) === 'ipv6' ? `ipv6,ipv6_src=${cidr}` : `ip,nw_src=${cidr}`,
  },
};

/** The families an endpoint's flows are rendered for: IPv4 always (as before dual stack), IPv6 if it has an address. */
export function endpointFamilies(ep: LocalEndpoint): FamilyMatch[] {
  return ep.ipv6.length > 0 ? ['ip', 'ipv6'] : ['ip'];
}

const appliedToMatches = (t: DirectionTables, ep: LocalEndpoint): string[] =>
  endpointFamilies(ep).map((family) => t.appliedTo(ep, family));

export const RulePriority = 200;
export const DirectAllowPriority = 201;

/**
 * Port clause matches: `tcp,tp_dst=0x50/0xfff0` (`tcp6` for IPv6). No
 * ports: the protocol alone; no protocol either: none (any).
 */
export function serviceMatches(
  rule: SecurityGroupRule,
  families: readonly FamilyMatch[] = ['ip'],
): string[] {
  const protocols = rule.protocol
    ? [rule.protocol]
    : rule.ports.length > 0
      ? (['TCP', 'UDP', 'SCTP'] as const)
      : [];
  const out: string[] = [];
  for (const family of families)
    for (const p of protocols) {
      const proto = `${p.toLowerCase()}${family === 'ipv6' ? '6' : ''}`;
      if (rule.ports.length === 0) out.push(proto);
      for (const r of rule.ports)
        for (const mask of portRangeMasks(r.from, r.to)) out.push(`${proto},tp_dst=${mask}`);
    }
  return out;
}

/**
 * Remote clause CIDRs of the given families (those of the group's
 * endpoints: a block of a family they have no address in can match
 * nothing); undefined means any remote (no clause).
 */
export function remoteCidrs(
  rule: SecurityGroupRule,
  families: readonly FamilyMatch[] = ['ip'],
): string[] | undefined {
  if (rule.remotes === undefined) return undefined;
  return rule.remotes
    .filter((r) => families.includes(familyMatch(r.cidr)))
    .flatMap((r) => subtractCidrs(r.cidr, r.except, formatHostOrCidr));
}

export function isolatedIn(m: Model, ep: LocalEndpoint, dir: Direction): boolean {
  return ep.securityGroups.some((name) => {
    const g = m.securityGroups.get(name);
    return g === undefined || g.isolates.includes(dir);
  });
}

/** Conjunction ids per (group, direction, rule index), stable across renders. */
export function conjunctionIds(groups: Iterable<SecurityGroupFile>): Map<string, number> {
  const keys: string[] = [];
  for (const g of groups) g.rules.forEach((r, i) => keys.push(ruleKey(g.name, r.direction, i)));
  return allocateIds(keys, 1, 0x7ffffff0);
}

const ruleKey = (group: string, dir: Direction, index: number): string =>
  `${group}/${dir}/${index}`;

export function isolationDropFlow(
  dir: Direction,
  ep: LocalEndpoint,
  family: FamilyMatch = 'ip',
): Flow {
  const t = directions[dir];
  return {
    table: t.deflt,
    priority: 200,
    match: t.appliedTo(ep, family),
    actions: 'drop',
    feature: 'SecurityGroup',
  };
}

export function establishedBypassFlow(dir: Direction, family: FamilyMatch = 'ip'): Flow {
  const t = directions[dir];
  return {
    table: t.rule,
    priority: 210,
    match: `ct_state=-new+trk,${family}`,
    actions: goto(t.next),
    feature: 'SecurityGroup',
  };
}

/** Traffic from the node itself (kubelet probes) is not subject to pod ingress policy. */
export function gatewayIngressBypassFlow(family: FamilyMatch = 'ip'): Flow {
  return {
    table: 'IngressRule',
    priority: 210,
    match: `${family},${matchField(PktSource, Source.Gateway)}`,
    actions: goto('ConntrackCommit'),
    feature: 'SecurityGroup',
  };
}

export function securityGroupFlows(m: Model): Flow[] {
  const flows: Flow[] = [];
  // Which endpoints each referenced group applies to.
  const members = new Map<string, LocalEndpoint[]>();
  for (const ep of m.endpoints) {
    for (const name of ep.securityGroups) {
      const list = members.get(name) ?? [];
      list.push(ep);
      members.set(name, list);
    }
  }
  const active = [...members.keys()]
    .map((n) => m.securityGroups.get(n))
    .filter((g): g is SecurityGroupFile => g !== undefined);
  const conjIds = conjunctionIds(active);
  // match -> conjunction actions, per table; flows sharing a match are merged.
  const clauses = new Map<string, { table: TableName; match: string; actions: Set<string> }>();
  const addClause = (table: TableName, match: string, action: string): void => {
    const key = `${table}|${match}`;
    const entry = clauses.get(key) ?? { table, match, actions: new Set<string>() };
    entry.actions.add(action);
    clauses.set(key, entry);
  };
  const direct = new Set<string>();

  for (const group of active) {
    const eps = members.get(group.name) ?? [];
    group.rules.forEach((rule, index) => {
      const t = directions[rule.direction];
      const families = [...new Set(eps.flatMap(endpointFamilies))];
      const remotes = remoteCidrs(rule, families);
      const services = serviceMatches(rule, families);
      if (remotes !== undefined && remotes.length === 0) return; // matches nobody
      const dims: string[][] = [eps.flatMap((ep) => appliedToMatches(t, ep))];
      if (remotes !== undefined) dims.push(remotes.map(t.remote));
      if (services.length > 0) dims.push(services);
      if (dims.length === 1) {
        for (const match of dims[0] ?? []) direct.add(`${t.rule}|${match}|${t.next}`);
        return;
      }
      const id = conjIds.get(ruleKey(group.name, rule.direction, index));
      if (id === undefined) return;
      dims.forEach((matches, i) => {
        for (const match of matches)
          addClause(t.rule, match, `conjunction(${id},${i + 1}/${dims.length})`);
      });
      for (const family of families)
        flows.push({
          table: t.rule,
          priority: RulePriority,
          match: `conj_id=${id},${family}`,
          actions: goto(t.next),
          feature: 'SecurityGroup',
        });
    });
  }
  for (const c of clauses.values()) {
    flows.push({
      table: c.table,
      priority: RulePriority,
      match: c.match,
      actions: [...c.actions].sort().join(','),
      feature: 'SecurityGroup',
    });
  }
  for (const d of direct) {
    const [table, match, next] = d.split('|') as [TableName, string, TableName];
    flows.push({
      table,
      priority: DirectAllowPriority,
      match,
      actions: goto(next),
      feature: 'SecurityGroup',
    });
  }
  for (const ep of m.endpoints) {
    for (const dir of ['ingress', 'egress'] as const)
      if (isolatedIn(m, ep, dir))
        for (const family of endpointFamilies(ep)) flows.push(isolationDropFlow(dir, ep, family));
  }
  const nodeFamilies: FamilyMatch[] = carriesIPv6(m) ? ['ip', 'ipv6'] : ['ip'];
  for (const dir of ['ingress', 'egress'] as const) {
    const t = directions[dir];
    flows.push(
      ...nodeFamilies.map((family) => establishedBypassFlow(dir, family)),
      { table: t.rule, priority: 0, match: '', actions: goto(t.deflt), feature: 'SecurityGroup' },
      { table: t.deflt, priority: 0, match: '', actions: goto(t.next), feature: 'SecurityGroup' },
    );
  }
  flows.push(...nodeFamilies.map((family) => gatewayIngressBypassFlow(family)));
  return flows;
}
