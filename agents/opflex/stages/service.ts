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
 */
import { type ServiceFile, backendIp, backendPort } from '../files.ts';
import {
  Affinity,
  AffinityState,
  CtZone,
  EndpointIP,
  EndpointPort,
  ServiceCTMark,
  SnatCtZone,
  ipToNumber,
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
import { isIPv4Cidr } from '../iprange.ts';

export interface Frontend {
  ip: string;
  port: number;
}

const isV4 = (ip: string): boolean => isIPv4Cidr(ip);

export function serviceGroupIds(services: ServiceFile[]): Map<string, number> {
  return allocateIds(
    services.flatMap((s) => s.ports.map((_p, i) => portKey(s, i))),
    ServiceGroupBase,
    0xf0000,
  );
}

const portKey = (s: ServiceFile, i: number): string => `${s.uuid}/${s.ports[i]?.name ?? ''}/${i}`;

/** ClusterIPs and external IPs on the service port; node IPs on the NodePort. */
export function frontendsOf(m: Model, s: ServiceFile, portIndex: number): Frontend[] {
  const p = s.ports[portIndex];
  if (!p) return [];
  const out: Frontend[] = s.frontends
    .filter((f) => isV4(f.ip))
    .map((f) => ({ ip: f.ip, port: p.port }));
  if (p.nodePort !== undefined)
    for (const ip of m.config.nodeIPs) out.push({ ip, port: p.nodePort });
  return out;
}

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
  const proto = (s.ports[portIndex]?.protocol ?? 'TCP').toLowerCase();
  return {
    table: 'ServiceLB',
    priority: 200,
    match: `${proto},${matchField(Affinity, AffinityState.NotSelected)},nw_dst=${fe.ip},tp_dst=${fe.port}`,
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

export function serviceGroup(s: ServiceFile, portIndex: number, groupId: number): Group {
  const p = s.ports[portIndex];
  const affinity = s.sessionAffinity === 'ClientIP';
  const buckets = s.backends
    .filter((b) => isV4(backendIp(b)))
    .map((b, i) => {
      const ip = backendIp(b);
      const port = p ? backendPort(b, p) : 0;
      const next = affinity
        ? `${loadField(Affinity, AffinityState.ToLearn)},${resubmit('ServiceLB')}`
        : resubmit('EndpointDNAT');
      return `bucket=bucket_id:${i},weight:100,actions=${loadField(EndpointIP, ipToNumber(ip))},${loadField(EndpointPort, port)},${next}`;
    });
  return { id: groupId, spec: ['type=select', ...buckets].join(',') };
}

export function endpointDNATFlow(proto: string, ip: string, port: number): Flow {
  return {
    table: 'EndpointDNAT',
    priority: 200,
    match: `${proto},${matchField(EndpointIP, ipToNumber(ip))},${matchField(EndpointPort, port)}`,
    actions: `ct(commit,table=@EgressRule,zone=${CtZone},nat(dst=${ip}:${port}),exec(set_field:0x${ServiceCTMark.toString(16)}/0x${ServiceCTMark.toString(16)}->ct_mark))`,
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
        if (!isV4(ip)) continue;
        const f = endpointDNATFlow(p.protocol.toLowerCase(), ip, backendPort(b, p));
        dnat.set(f.match, f);
      }
    });
  }
  flows.push(...dnat.values());
  for (const ep of m.endpoints) for (const ip of ep.ipv4) flows.push(hairpinSNATFlow(m, ep, ip));
  return { flows, groups };
}
