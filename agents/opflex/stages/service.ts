/**
 * Services: a select group per (service, port); each bucket loads one
 * backend into EndpointIP/EndpointPort and resubmits to EndpointDNAT, which
 * commits the connection with nat(dst) and the service ct_mark. Replies are
 * un-DNATed by the ct(nat) in ConntrackZone.
 *
 * ClientIP affinity (as Antrea): SessionAffinity runs first and sets
 * Affinity=NotSelected unless a learned flow (client IP, frontend, port)
 * already picked a backend (Selected). For affinity services the bucket sets
 * ToLearn and resubmits to ServiceLB, whose ToLearn flow learns the choice
 * and continues to EndpointDNAT.
 *
 * Hairpin: a pod reaching itself through a service is SNATed to the hairpin
 * IP (Linux drops packets whose source is its own address); UnSNAT reverses
 * it on the reply.
 *
 * IPv6 frontends (ClusterIPs, external IPs) get their own select group per
 * port with the IPv6 backends only, loaded into the 128-bit EndpointIPv6
 * register. Not for IPv6 yet: ClientIP affinity (its frontends are not
 * rendered), hairpin, NodePort (node IPs are IPv4).
 */
import { type ServiceFile, backendIp, backendPort } from '../files.ts';
import {
  Affinity,
  AffinityState,
  CtZone,
  EndpointIP,
  EndpointIPv6,
  EndpointPort,
  ServiceCTMark,
  SnatCtZone,
  ipToNumber,
  ipv6ToHex,
  loadField,
  matchField,
  nxmName,
} from '../fields.ts';
import { type LocalEndpoint, type Model, allocateIds } from '../model.ts';
import {
  CookieOwner,
  Feature,
  type Flow,
  type Group,
  ServiceGroupBase,
  goto,
  resubmit,
} from '../pipeline.ts';
import { familyOf } from '../../../lib/node-state/families.ts';

export interface Frontend {
  ip: string;
  port: number;
}

type Family = 'ipv4' | 'ipv6';
const inFamily = (family: Family) => (ip: string) => familyOf(ip) === family;

/** Whether the service has IPv6 frontends that are rendered (affinity is IPv4 only). */
const servesIPv6 = (s: ServiceFile): boolean =>
  s.sessionAffinity !== 'ClientIP' && s.frontends.some((f) => familyOf(f.ip) === 'ipv6');

export function serviceGroupIds(services: ServiceFile[]): Map<string, number> {
  return allocateIds(
    services.flatMap((s) =>
      s.ports.flatMap((_p, i) => [
        portKey(s, i),
        ...(servesIPv6(s) ? [portKey(s, i, 'ipv6')] : []),
      ]),
    ),
    ServiceGroupBase,
    0xf0000,
  );
}

// The IPv4 key is the one from before dual stack, so IPv4 group ids stay what they were.
const portKey = (s: ServiceFile, i: number, family: Family = 'ipv4'): string =>
  `${s.uuid}/${s.ports[i]?.name ?? ''}/${i}${family === 'ipv6' ? '/ipv6' : ''}`;

/** ClusterIPs and external IPs of the family on the service port; node IPs (IPv4) on the NodePort. */
export function frontendsOf(
  m: Model,
  s: ServiceFile,
  portIndex: number,
  family: Family = 'ipv4',
): Frontend[] {
  const p = s.ports[portIndex];
  if (!p) return [];
  const out: Frontend[] = s.frontends
    .filter((f) => inFamily(family)(f.ip))
    .map((f) => ({ ip: f.ip, port: p.port }));
  if (p.nodePort !== undefined && family === 'ipv4')
    for (const ip of m.config.nodeIPs) out.push({ ip, port: p.nodePort });
  return out;
}

/** OpenFlow's protocol name of the port in the family (tcp, tcp6). */
const protoOf = (s: ServiceFile, portIndex: number, family: Family = 'ipv4'): string =>
  `${(s.ports[portIndex]?.protocol ?? 'TCP').toLowerCase()}${family === 'ipv6' ? '6' : ''}`;
const dstMatch = (ip: string): string =>
  familyOf(ip) === 'ipv6' ? `ipv6_dst=${ip}` : `nw_dst=${ip}`;

/** Cookie of the flows an affinity service learns (owner `learned`), so delete_learned removes exactly them. */
export function learnedCookie(groupId: number): bigint {
  return (BigInt(CookieOwner.learned) << 56n) | (BigInt(Feature.Service) << 48n) | BigInt(groupId);
}

export function serviceLBFlow(
  s: ServiceFile,
  portIndex: number,
  fe: Frontend,
  groupId: number,
): Flow {
  const proto = protoOf(s, portIndex, familyOf(fe.ip) === 'ipv6' ? 'ipv6' : 'ipv4');
  return {
    table: 'ServiceLB',
    priority: 200,
    match: `${proto},${matchField(Affinity, AffinityState.NotSelected)},${dstMatch(fe.ip)},tp_dst=${fe.port}`,
    actions: `group:${groupId}`,
    feature: 'Service',
  };
}

export function serviceAffinitySelectedFlow(s: ServiceFile, portIndex: number, fe: Frontend): Flow {
  const proto = (s.ports[portIndex]?.protocol ?? 'TCP').toLowerCase();
  return {
    table: 'ServiceLB',
    priority: 190,
    match: `${proto},${matchField(Affinity, AffinityState.Selected)},nw_dst=${fe.ip},tp_dst=${fe.port}`,
    actions: goto('EndpointDNAT'),
    feature: 'Service',
  };
}

export function serviceLearnFlow(
  s: ServiceFile,
  portIndex: number,
  fe: Frontend,
  groupId: number,
): Flow {
  const proto = (s.ports[portIndex]?.protocol ?? 'TCP').toLowerCase();
  const ipProto = proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 132;
  const l4 =
    proto === 'tcp'
      ? 'NXM_OF_TCP_DST[]'
      : proto === 'udp'
        ? 'NXM_OF_UDP_DST[]'
        : 'OXM_OF_SCTP_DST[]';
  const learn = [
    'table=@SessionAffinity',
    `idle_timeout=${s.affinityTimeoutSeconds}`,
    'priority=200',
    'delete_learned',
    `cookie=0x${learnedCookie(groupId).toString(16)}`,
    'eth_type=0x800',
    `nw_proto=${ipProto}`,
    l4,
    'NXM_OF_IP_DST[]',
    'NXM_OF_IP_SRC[]',
    `load:${nxmName(EndpointIP)}->${nxmName(EndpointIP)}`,
    `load:${nxmName(EndpointPort)}->${nxmName(EndpointPort)}`,
    `load:0x${AffinityState.Selected.toString(16)}->${nxmName(Affinity)}`,
  ].join(',');
  return {
    table: 'ServiceLB',
    priority: 190,
    match: `${proto},${matchField(Affinity, AffinityState.ToLearn)},nw_dst=${fe.ip},tp_dst=${fe.port}`,
    actions: `learn(${learn}),${goto('EndpointDNAT')}`,
    feature: 'Service',
  };
}

export function serviceGroup(
  s: ServiceFile,
  portIndex: number,
  groupId: number,
  family: Family = 'ipv4',
): Group {
  const p = s.ports[portIndex];
  const affinity = s.sessionAffinity === 'ClientIP';
  const buckets = s.backends
    .filter((b) => inFamily(family)(backendIp(b)))
    .map((b, i) => {
      const ip = backendIp(b);
      const port = p ? backendPort(b, p) : 0;
      const next = affinity
        ? `${loadField(Affinity, AffinityState.ToLearn)},${resubmit('ServiceLB')}`
        : resubmit('EndpointDNAT');
      const load =
        family === 'ipv6'
          ? `set_field:${ipv6ToHex(ip)}->${EndpointIPv6}`
          : loadField(EndpointIP, ipToNumber(ip));
      return `bucket=bucket_id:${i},weight:100,actions=${load},${loadField(EndpointPort, port)},${next}`;
    });
  return { id: groupId, spec: ['type=select', ...buckets].join(',') };
}

/** `proto` is the IPv4 name (tcp); an IPv6 backend matches tcp6 and its 128-bit register. */
export function endpointDNATFlow(proto: string, ip: string, port: number): Flow {
  const v6 = familyOf(ip) === 'ipv6';
  const backend = v6
    ? `${proto}6,${EndpointIPv6}=${ipv6ToHex(ip)}`
    : `${proto},${matchField(EndpointIP, ipToNumber(ip))}`;
  return {
    table: 'EndpointDNAT',
    priority: 200,
    match: `${backend},${matchField(EndpointPort, port)}`,
    actions: `ct(commit,table=@EgressRule,zone=${CtZone},nat(dst=${v6 ? `[${ip}]` : ip}:${port}),exec(set_field:0x${ServiceCTMark.toString(16)}/0x${ServiceCTMark.toString(16)}->ct_mark))`,
    feature: 'Service',
  };
}

export function hairpinSNATFlow(m: Model, ep: LocalEndpoint, ip: string): Flow {
  return {
    table: 'ConntrackCommit',
    priority: 200,
    match: `ip,ct_mark=0x${ServiceCTMark.toString(16)}/0x${ServiceCTMark.toString(16)},nw_src=${ip},nw_dst=${ip}`,
    actions: `ct(commit,table=@Output,zone=${SnatCtZone},nat(src=${m.config.hairpinIP}))`,
    feature: 'Service',
  };
}

export function serviceFlowsAndGroups(m: Model): { flows: Flow[]; groups: Group[] } {
  const flows: Flow[] = [
    {
      table: 'SessionAffinity',
      priority: 0,
      match: '',
      actions: loadField(Affinity, AffinityState.NotSelected),
      feature: 'Service',
    },
    {
      table: 'ServiceLB',
      priority: 0,
      match: '',
      actions: goto('EndpointDNAT'),
      feature: 'Service',
    },
    {
      table: 'EndpointDNAT',
      priority: 0,
      match: '',
      actions: goto('EgressRule'),
      feature: 'Service',
    },
  ];
  const groups: Group[] = [];
  const ids = serviceGroupIds(m.services);
  const dnat = new Map<string, Flow>();
  const frontendSeen = new Set<string>();
  for (const s of m.services) {
    s.ports.forEach((p, i) => {
      const groupId = ids.get(portKey(s, i));
      if (groupId === undefined) return;
      groups.push(serviceGroup(s, i, groupId));
      const groupIdV6 = ids.get(portKey(s, i, 'ipv6'));
      if (groupIdV6 !== undefined) {
        groups.push(serviceGroup(s, i, groupIdV6, 'ipv6'));
        for (const fe of frontendsOf(m, s, i, 'ipv6')) {
          const feKey = `${p.protocol}|${fe.ip}|${fe.port}`;
          if (frontendSeen.has(feKey)) continue;
          frontendSeen.add(feKey);
          flows.push(serviceLBFlow(s, i, fe, groupIdV6));
        }
      }
      for (const fe of frontendsOf(m, s, i)) {
        // Two services claiming one frontend would install conflicting flows; the first (by uuid) wins.
        const feKey = `${p.protocol}|${fe.ip}|${fe.port}`;
        if (frontendSeen.has(feKey)) continue;
        frontendSeen.add(feKey);
        flows.push(serviceLBFlow(s, i, fe, groupId));
        if (s.sessionAffinity === 'ClientIP')
          flows.push(serviceAffinitySelectedFlow(s, i, fe), serviceLearnFlow(s, i, fe, groupId));
      }
      for (const b of s.backends) {
        const ip = backendIp(b);
        if (familyOf(ip) === 'ipv6' ? groupIdV6 === undefined : familyOf(ip) !== 'ipv4') continue;
        const f = endpointDNATFlow(p.protocol.toLowerCase(), ip, backendPort(b, p));
        dnat.set(f.match, f);
      }
    });
  }
  flows.push(...dnat.values());
  for (const ep of m.endpoints) for (const ip of ep.ipv4) flows.push(hairpinSNATFlow(m, ep, ip));
  return { flows, groups };
}
