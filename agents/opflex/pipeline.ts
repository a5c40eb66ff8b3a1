/**
 * The OpenFlow pipeline of the integration bridge, as named stages and tables.
 *
 * How to add a table: declare it in `Tables` below at the position where it
 * must run (declaration order is table order; ids are derived, never
 * written by hand), give it a stage and a one-line purpose, and give it a
 * default flow in its stage module if packets must fall through it.
 *
 * Moving between tables:
 * - `goto(T)` (goto_table) when the packet continues forward; OpenFlow only
 *   allows jumping to a later table, which the declaration order enforces.
 * - `resubmit(T)` when a flow must run a table and then come back, e.g.
 *   PreRoutingClassifier runs SessionAffinity and then ServiceLB.
 * - `ct(table=T)` recirculates after conntrack; it ends the current action
 *   list, so it is always the last action of a flow.
 *
 * One bridge instead of the original's access + integration pair: egress
 * policy must see the backend address a service was DNATed to (Kubernetes
 * semantics), so service load balancing has to run before egress security
 * groups. With security groups on an access bridge in front of the service
 * bridge that order needs a second pass through the access bridge; one
 * pipeline with ordered stages does it directly (as Antrea does).
 */

export const Stages = [
  [
    'Classifier',
    'Tag a packet with where it came from (pod, gateway, fabric link) and its bridge domain.',
  ],
  ['Validation', 'Drop packets whose source IP/MAC does not belong to the pod port (spoof guard).'],
  ['Arp', 'Answer ARP for the gateway and local pods; forward or flood the rest.'],
  ['Conntrack', 'Undo hairpin SNAT, run conntrack with NAT, drop invalid packets.'],
  ['PreRouting', 'Pick a service backend (session affinity, select group) and DNAT to it.'],
  ['EgressSecurity', 'Security group egress rules of the source pod, then its default deny.'],
  ['Routing', 'Choose the output port by destination address; rewrite MACs.'],
  [
    'IngressSecurity',
    'Security group ingress rules of the destination pod, then its default deny.',
  ],
  [
    'Contract',
    'ACI contracts between the source and destination EPGs (class ids from the resolved OpFlex policy).',
  ],
  ['Commit', 'Commit new connections to conntrack; SNAT hairpin service traffic.'],
  ['Output', 'Send the packet to the chosen port (tagging fabric traffic with its bridge domain).'],
] as const;
export type Stage = (typeof Stages)[number][0];

/** Declaration order is table order; the id is the index. */
const tableList = [
  ['Classifier', 'Classifier', 'in_port -> packet source and bridge domain registers'],
  ['SpoofGuard', 'Validation', 'allowed (in_port, MAC, IP) of each pod; ND target checks'],
  ['ARPResponder', 'Arp', 'ARP replies and neighbour advertisements for gateway and pod IPs'],
  ['ARPForwarding', 'Arp', 'unicast ARP/NA to local MACs or remote subnets; broadcast to Flood'],
  ['Flood', 'Arp', 'BUM replication per bridge domain (owned by the mcast daemon)'],
  ['UnSNAT', 'Conntrack', 'reverse the hairpin SNAT of replies sent to the hairpin IP'],
  ['ConntrackZone', 'Conntrack', 'ct(zone, nat): track and un-DNAT'],
  ['ConntrackState', 'Conntrack', 'drop ct invalid'],
  ['PreRoutingClassifier', 'PreRouting', 'new connections run SessionAffinity then ServiceLB'],
  ['SessionAffinity', 'PreRouting', 'learned ClientIP affinity flows'],
  ['ServiceLB', 'PreRouting', 'service frontends -> select groups'],
  ['EndpointDNAT', 'PreRouting', 'chosen backend -> ct(commit, nat(dst))'],
  ['EgressRule', 'EgressSecurity', 'security group egress rules (conjunctions)'],
  ['EgressDefault', 'EgressSecurity', 'default deny of egress-isolated pods'],
  ['L3Forwarding', 'Routing', 'destination IP -> output port register, MAC rewrite'],
  ['IngressRule', 'IngressSecurity', 'security group ingress rules (conjunctions)'],
  ['IngressDefault', 'IngressSecurity', 'default deny of ingress-isolated pods'],
  [
    'ContractSource',
    'Contract',
    'source EPG class id: in_port of a local pod, fabric VLAN or address',
  ],
  [
    'ContractDestination',
    'Contract',
    'destination EPG class id: output port of a local pod, or a remote address',
  ],
  ['ContractPolicy', 'Contract', 'source class x destination class x classifier -> allow / drop'],
  ['ConntrackCommit', 'Commit', 'commit new connections; hairpin SNAT'],
  ['Output', 'Output', 'output port register -> output (VLAN push toward fabric links)'],
] as const satisfies readonly (readonly [string, Stage, string])[];

export type TableName = (typeof tableList)[number][0];

export interface Table {
  name: TableName;
  stage: Stage;
  purpose: string;
  id: number;
}

export const Tables: readonly Table[] = tableList.map(([name, stage, purpose], id) => ({
  name,
  stage,
  purpose,
  id,
}));

const byName = new Map<string, Table>(Tables.map((t) => [t.name, t]));

export function tableId(name: TableName): number {
  const t = byName.get(name);
  if (!t) throw new Error(`unknown table ${name}`);
  return t.id;
}

// ---- features and cookies ------------------------------------------------

/** Who installed a flow: each agent only ever deletes its own. */
export const CookieOwner = { opflex: 0x0a, mcast: 0x0b, learned: 0x0c } as const;
export type CookieOwner = keyof typeof CookieOwner;

/** What a flow is for; shows up in the cookie so `dump-flows cookie=...` can filter by feature. */
export const Feature = {
  PodForwarding: 0x02,
  SpoofGuard: 0x03,
  Arp: 0x04,
  Conntrack: 0x05,
  SecurityGroup: 0x06,
  Service: 0x07,
  Fabric: 0x08,
  Flood: 0x09,
  Contract: 0x0a,
  Canary: 0x0f,
} as const;
export type Feature = keyof typeof Feature;

/**
 * A flow as its stage module builds it. `match` and `actions` refer to
 * tables as `@TableName`; formatting turns those into ids for OVS or keeps
 * names for tests and docs.
 */
export interface Flow {
  table: TableName;
  priority: number;
  match: string;
  actions: string;
  feature: Feature;
}

export interface Group {
  id: number;
  /** `type=select,bucket=...` (everything after group_id), may refer to `@TableName`. */
  spec: string;
}

export const goto = (t: TableName): string => `goto_table:@${t}`;
export const resubmit = (t: TableName): string => `resubmit(,@${t})`;

const tableRef = /@([A-Za-z0-9]+)/g;

export function resolveTables(text: string, mode: 'id' | 'name'): string {
  return text.replace(tableRef, (_m, name: string) =>
    mode === 'id' ? String(tableId(name as TableName)) : name,
  );
}

/** The line tests compare: close to `ovs-ofctl --names dump-flows` output, without cookie and stats. */
export function describeFlow(f: Flow): string {
  const match = f.match ? `,${resolveTables(f.match, 'name')}` : '';
  return `table=${f.table}, priority=${f.priority}${match} actions=${resolveTables(f.actions, 'name')}`;
}

export function describeGroup(g: Group): string {
  return `group_id=${g.id},${resolveTables(g.spec, 'name')}`;
}

/** The text OVS receives (without cookie; the installer adds it). */
export function flowSpec(f: Flow): string {
  const match = f.match ? `,${resolveTables(f.match, 'id')}` : '';
  return `table=${tableId(f.table)},priority=${f.priority}${match},actions=${resolveTables(f.actions, 'id')}`;
}

export function groupSpec(g: Group): string {
  return `group_id=${g.id},${resolveTables(g.spec, 'id')}`;
}

// ---- group id ranges ------------------------------------------------------

/** Service select groups: [ServiceGroupBase, FloodGroupBase). */
export const ServiceGroupBase = 0x10000;
/** Flood groups of the mcast daemon: FloodGroupBase + 2*vlan (+1 for the local-only variant). */
export const FloodGroupBase = 0x100000;
export const isServiceGroup = (id: number): boolean =>
  id >= ServiceGroupBase && id < FloodGroupBase;
export const isFloodGroup = (id: number): boolean => id >= FloodGroupBase;
