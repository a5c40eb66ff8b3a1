/**
 * The APIC's object tree → the OpFlex policy universe a leaf serves, in the
 * reference model's classes and properties (genie MODEL/SPECIFIC/GBP and
 * EXTENSIONS/GBP of noironetworks/opflex; URIs and relation objects as the
 * aci-containers gbpserver writes them). Pure: a flat list of APIC objects
 * and an id allocator in, managed objects by URI out.
 *
 * | APIC                              | OpFlex                                                        |
 * |-----------------------------------|---------------------------------------------------------------|
 * | fvTenant T                        | PolicySpace T                                                 |
 * | fvCtx V (pcEnfPref)               | GbpRoutingDomain V (enforcementPreference) + GbpeInstContext  |
 * | fvBD B (unicastRoute), fvRsCtx    | GbpBridgeDomain B (routingMode) + GbpeInstContext,            |
 * |                                   | GbpBridgeDomainToNetworkRSrc → the VRF                        |
 * | fvSubnet under B                  | GbpSubnets B / GbpSubnet <ip> (address, prefixLen,            |
 * |                                   | virtualRouterIp), GbpForwardingBehavioralGroupToSubnetsRSrc   |
 * | fvAEPg E in fvAp A (pcEnfPref)    | GbpEpGroup `A\|E` (intraGroupPolicy) + GbpeInstContext        |
 * |                                   | (encapId, classid), GbpEpGroupToNetworkRSrc → the BD          |
 * | fvRsProv / fvRsCons / fvRsIntraEpg| GbpEpGroupTo{Prov,Cons,Intra}ContractRSrc/288/<contract>/     |
 * | vzAny of V: vzRsAnyToProv/Cons    | the same relations on every EPG whose BD is in V              |
 * | vzBrCP C                          | GbpContract C                                                 |
 * | vzSubj S                          | GbpSubject S                                                  |
 * | vzRsSubjFiltAtt F (action)        | GbpRule F (direction in, order) → GbpeL24Classifier per entry,|
 * |                                   | GbpRule `F-rev` (direction out, ports swapped) when           |
 * |                                   | revFltPorts=yes; GbpRuleToActionRSrc → GbpAllowDenyAction     |
 * | vzFilter F / vzEntry N            | GbpeL24Classifier `F\|N` (etherT, prot, d/sFromPort,          |
 * |                                   | d/sToPort, connectionTracking reflexive when stateful)        |
 * | hostprotPol P / Subj / Rule       | GbpSecGroup P / GbpSecGroupSubject / GbpSecGroupRule          |
 * | hostprotRemoteIp                  | GbpSubnets + GbpSecGroupRuleToRemoteAddressRSrc               |
 * | (the leaf's own settings)         | PlatformConfig <domain> (encapType, multicastGroupIP, mode)   |
 *
 * ACI's name resolution is kept: a relation by name (fvRsBd.tnFvBDName,
 * fvRsCtx.tnFvCtxName, fvRs*.tnVzBrCPName, vzRsSubjFiltAtt.tnVzFilterName)
 * looks in the object's tenant first, then in tenant common; an empty BD or
 * VRF name means `default`. A relation whose target does not exist is left
 * out (the APIC raises a fault; the agent sees no contract, fail-closed).
 */
import { type ManagedObject, type Property, type PropertyData } from '../../../lib/opflex/mo.ts';
import {
  PolicyUniverseUri,
  TargetClassIds,
  childUri,
  platformConfigUri,
  policySpaceUri,
} from '../../../lib/opflex/uri.ts';
import { lastRn, parentDn, splitDn } from '../../../agents/controller/apic/mo.ts';
import { portNames, protoNames } from '../../../lib/aci/named-values.ts';
import type { IdAllocator } from './ids.ts';

/** One APIC object, flat: its class, DN and attributes. */
export interface ApicObject {
  className: string;
  dn: string;
  attributes: Readonly<Record<string, string>>;
}

/** The APIC classes the leaf reads (the class queries and subscriptions it makes). */
export const MappedApicClasses = [
  'fvTenant',
  'fvCtx',
  'fvBD',
  'fvRsCtx',
  'fvSubnet',
  'fvAp',
  'fvAEPg',
  'fvRsBd',
  'fvRsProv',
  'fvRsCons',
  'fvRsIntraEpg',
  'vzBrCP',
  'vzSubj',
  'vzRsSubjFiltAtt',
  'vzFilter',
  'vzEntry',
  'vzAny',
  'vzRsAnyToProv',
  'vzRsAnyToCons',
  'hostprotPol',
  'hostprotSubj',
  'hostprotRule',
  'hostprotRemoteIp',
] as const;

export interface PlatformSettings {
  /** The PlatformConfig name the agents resolve (their `domain`). */
  domain: string;
  encapType: 'vlan' | 'vxlan';
  multicastGroupIP?: string;
}

export interface MappingOptions {
  platform: PlatformSettings;
  ids: IdAllocator;
  /** BD name (or `tenant/name`) → fixed encapId, e.g. the VLAN the data plane uses; others are allocated. */
  bridgeDomainEncaps?: Readonly<Record<string, number>>;
}

/** Ranges: ACI pcTags are 16-bit with the low 16386 reserved; VNIDs are 24-bit. */
export const ClassIdRange = { base: 16386, size: 65535 - 16386 } as const;
export const VnidRange = { base: 15_000_000, size: 1_000_000 } as const;

const rnValue = (rn: string, prefix: string): string | undefined => {
  if (!rn.startsWith(prefix)) return undefined;
  const v = rn.slice(prefix.length);
  return v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
};

/** The tenant name of any DN under `uni/tn-<name>`. */
export function tenantOf(dn: string): string | undefined {
  const parts = splitDn(dn);
  return parts[0] === 'uni' && parts[1] ? rnValue(parts[1], 'tn-') : undefined;
}

const prop = (name: string, data: PropertyData): Property => ({ name, data });
const ref = (subject: string, uri: string): PropertyData => ({ subject, reference_uri: uri });

/** The APIC's names of well-known ports and protocols (one table with the controller and the APIC simulator), by name. */
const byName = (table: Readonly<Record<string, string>>): Record<string, number> =>
  Object.fromEntries(Object.entries(table).map(([value, name]) => [name, Number(value)]));
const portNumbers = byName(portNames);
const protocolNumbers = byName(protoNames);

export function portNumber(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (value in portNumbers) return portNumbers[value] as number;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
}

export function protocolNumber(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === 'unspecified') return undefined;
  if (value in protocolNumbers) return protocolNumbers[value];
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : undefined;
}

/** vzEntry/hostprotRule ether types → modelgbp l2/EtherType names. */
export function etherTypeName(value: string | undefined): string | undefined {
  switch (value) {
    case 'ip':
    case 'ipv4':
      return 'ipv4';
    case 'ipv6':
      return 'ipv6';
    case 'arp':
      return 'arp';
    case 'trill':
      return 'trill';
    case 'mpls_ucast':
      return 'mpls_ucast';
    case 'fcoe':
      return 'fcoe';
    default:
      return undefined;
  }
}

/** Network address, prefix length and gateway of an `a.b.c.d/len` gateway address. */
export function networkOf(cidr: string): { address: string; prefixLen: number; gateway: string } {
  const [ip = '', lenText = '32'] = cidr.split('/');
  const prefixLen = Number(lenText);
  const octets = ip.split('.').map(Number);
  if (
    octets.length !== 4 ||
    octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255) ||
    !Number.isInteger(prefixLen) ||
    prefixLen < 0 ||
    prefixLen > 32
  )
    return { address: ip, prefixLen, gateway: ip };
  const block = 2 ** (32 - prefixLen);
  const net = Math.floor(octets.reduce((acc, o) => acc * 256 + o, 0) / block) * block;
  const address = [24, 16, 8, 0].map((shift) => Math.floor(net / 2 ** shift) % 256).join('.');
  return { address, prefixLen, gateway: ip };
}

class UniverseBuilder {
  readonly objects = new Map<string, ManagedObject>();

  add(
    subject: string,
    uri: string,
    properties: Property[],
    parent?: { subject: string; uri: string },
  ): ManagedObject {
    const mo: ManagedObject = { subject, uri, properties, children: [] };
    if (parent) {
      mo.parent_subject = parent.subject;
      mo.parent_uri = parent.uri;
      mo.parent_relation = subject;
    }
    this.objects.set(uri, mo);
    return mo;
  }

  /** A one-valued relation of `source` (`<source>/<relation>`) to `target`, of class `targetClass`. */
  relation(source: ManagedObject, relation: string, targetClass: string, target: string): void {
    this.add(
      relation,
      childUri(source.uri, relation),
      [prop('target', ref(targetClass, target))],
      source,
    );
  }

  /** A many-valued relation: `<source>/<relation>/<target class id>/<target uri>/`. */
  manyRelation(
    source: ManagedObject,
    relation: string,
    targetClass: keyof typeof TargetClassIds,
    target: string,
  ): void {
    this.add(
      relation,
      childUri(source.uri, relation, TargetClassIds[targetClass], target),
      [prop('target', ref(targetClass, target))],
      source,
    );
  }

  /** The encapsulation and class ids of a VRF, bridge domain or EPG. */
  instContext(owner: ManagedObject, encapId: number, classId: number): void {
    this.add(
      'GbpeInstContext',
      childUri(owner.uri, 'GbpeInstContext'),
      [prop('encapId', encapId), prop('classid', classId)],
      owner,
    );
  }

  /** Fills every parent's children from its children's parent_uri; sorted, so equal trees compare equal. */
  link(): Map<string, ManagedObject> {
    for (const mo of this.objects.values()) {
      if (mo.parent_uri === undefined) continue;
      this.objects.get(mo.parent_uri)?.children.push(mo.uri);
    }
    for (const mo of this.objects.values()) mo.children.sort();
    return this.objects;
  }
}

interface Indexed {
  byClass: Map<string, ApicObject[]>;
  byDn: Map<string, ApicObject>;
  /** Children by parent DN and class: the mapping walks the tree by these, linear in its size. */
  byParent: Map<string, ApicObject[]>;
}

function index(objects: Iterable<ApicObject>): Indexed {
  const byClass = new Map<string, ApicObject[]>();
  const byDn = new Map<string, ApicObject>();
  const byParent = new Map<string, ApicObject[]>();
  const push = (map: Map<string, ApicObject[]>, key: string, o: ApicObject): void => {
    const list = map.get(key);
    if (list) list.push(o);
    else map.set(key, [o]);
  };
  for (const o of objects) {
    byDn.set(o.dn, o);
    push(byClass, o.className, o);
    push(byParent, `${parentDn(o.dn)}\u0000${o.className}`, o);
  }
  const byDnOrder = (a: ApicObject, b: ApicObject): number =>
    a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0;
  for (const list of byClass.values()) list.sort(byDnOrder);
  for (const list of byParent.values()) list.sort(byDnOrder);
  return { byClass, byDn, byParent };
}

/** ACI name resolution: the object's tenant first, then common. */
function resolveByName(
  idx: Indexed,
  tenant: string,
  rnPrefix: string,
  name: string,
  className: string,
): ApicObject | undefined {
  for (const t of tenant === 'common' ? ['common'] : [tenant, 'common']) {
    const o = idx.byDn.get(`uni/tn-${t}/${rnPrefix}${name}`);
    if (o?.className === className) return o;
  }
  return undefined;
}

const childrenOf = (idx: Indexed, dn: string, className: string): ApicObject[] =>
  idx.byParent.get(`${dn}\u0000${className}`) ?? [];

/** URIs of the OpFlex objects for APIC objects (tenant-scoped names). */
export const uris = {
  space: policySpaceUri,
  routingDomain: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpRoutingDomain', name),
  bridgeDomain: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpBridgeDomain', name),
  subnets: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpSubnets', name),
  epGroup: (tenant: string, app: string, epg: string): string =>
    childUri(policySpaceUri(tenant), 'GbpEpGroup', `${app}|${epg}`),
  contract: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpContract', name),
  classifier: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpeL24Classifier', name),
  action: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpAllowDenyAction', name),
  secGroup: (tenant: string, name: string): string =>
    childUri(policySpaceUri(tenant), 'GbpSecGroup', name),
};

/** The whole universe the leaf can serve, by URI. */
export function mapApicTree(
  objects: Iterable<ApicObject>,
  options: MappingOptions,
): Map<string, ManagedObject> {
  const idx = index(objects);
  const u = new UniverseBuilder();
  const { ids } = options;
  const universe = u.add('PolicyUniverse', PolicyUniverseUri, []);
  const universeParent = { subject: universe.subject, uri: universe.uri };

  const platform = options.platform;
  u.add(
    'PlatformConfig',
    platformConfigUri(platform.domain),
    [
      prop('name', platform.domain),
      prop('encapType', platform.encapType),
      prop('mode', 'intra_epg'),
      prop('inventoryType', 'ON_LINK'),
      ...(platform.multicastGroupIP ? [prop('multicastGroupIP', platform.multicastGroupIP)] : []),
    ],
    universeParent,
  );

  const spaces = new Map<string, { subject: string; uri: string }>();
  const space = (tenant: string): { subject: string; uri: string } => {
    let s = spaces.get(tenant);
    if (!s) {
      const mo = u.add(
        'PolicySpace',
        policySpaceUri(tenant),
        [prop('name', tenant)],
        universeParent,
      );
      s = { subject: mo.subject, uri: mo.uri };
      spaces.set(tenant, s);
    }
    return s;
  };
  for (const t of idx.byClass.get('fvTenant') ?? [])
    space(t.attributes.name ?? rnValue(lastRn(t.dn), 'tn-') ?? '');

  // ---- VRFs ----
  const vrfUriByDn = new Map<string, string>();
  for (const ctx of idx.byClass.get('fvCtx') ?? []) {
    const tenant = tenantOf(ctx.dn);
    const name = rnValue(lastRn(ctx.dn), 'ctx-');
    if (tenant === undefined || name === undefined) continue;
    const uri = uris.routingDomain(tenant, name);
    vrfUriByDn.set(ctx.dn, uri);
    const rd = u.add(
      'GbpRoutingDomain',
      uri,
      [
        prop('name', name),
        prop(
          'enforcementPreference',
          ctx.attributes.pcEnfPref === 'unenforced' ? 'unenforced' : 'enforced',
        ),
      ],
      space(tenant),
    );
    u.instContext(rd, ids.vnid(`vrf:${ctx.dn}`), ids.classId(`vrf:${ctx.dn}`));
  }

  // ---- bridge domains and their subnets ----
  const bdUriByDn = new Map<string, string>();
  const vrfOfBd = new Map<string, string>();
  for (const bd of idx.byClass.get('fvBD') ?? []) {
    const tenant = tenantOf(bd.dn);
    const name = rnValue(lastRn(bd.dn), 'BD-');
    if (tenant === undefined || name === undefined) continue;
    const uri = uris.bridgeDomain(tenant, name);
    bdUriByDn.set(bd.dn, uri);
    const mo = u.add(
      'GbpBridgeDomain',
      uri,
      [
        prop('name', name),
        prop('routingMode', bd.attributes.unicastRoute === 'no' ? 'disabled' : 'enabled'),
      ],
      space(tenant),
    );
    const fixedEncap =
      options.bridgeDomainEncaps?.[`${tenant}/${name}`] ?? options.bridgeDomainEncaps?.[name];
    u.instContext(mo, fixedEncap ?? ids.vnid(`bd:${bd.dn}`), ids.classId(`bd:${bd.dn}`));
    const rsCtx = childrenOf(idx, bd.dn, 'fvRsCtx')[0];
    const vrf = resolveByName(
      idx,
      tenant,
      'ctx-',
      rsCtx?.attributes.tnFvCtxName || 'default',
      'fvCtx',
    );
    const vrfUri = vrf ? vrfUriByDn.get(vrf.dn) : undefined;
    if (vrf && vrfUri) {
      vrfOfBd.set(bd.dn, vrf.dn);
      u.relation(mo, 'GbpBridgeDomainToNetworkRSrc', 'GbpRoutingDomain', vrfUri);
    }
    const subnets = childrenOf(idx, bd.dn, 'fvSubnet');
    if (subnets.length > 0) {
      const subnetsUri = uris.subnets(tenant, name);
      const set = u.add('GbpSubnets', subnetsUri, [prop('name', name)], space(tenant));
      for (const s of subnets) {
        const ip = s.attributes.ip ?? rnValue(lastRn(s.dn), 'subnet-') ?? '';
        const net = networkOf(ip);
        u.add(
          'GbpSubnet',
          childUri(subnetsUri, 'GbpSubnet', ip),
          [
            prop('name', ip),
            prop('address', net.address),
            prop('prefixLen', net.prefixLen),
            prop('virtualRouterIp', net.gateway),
          ],
          set,
        );
      }
      u.relation(mo, 'GbpForwardingBehavioralGroupToSubnetsRSrc', 'GbpSubnets', subnetsUri);
      if (vrfUri) {
        const rd = u.objects.get(vrfUri);
        if (rd) u.manyRelation(rd, 'GbpRoutingDomainToIntSubnetsRSrc', 'GbpSubnets', subnetsUri);
      }
    }
  }

  // ---- contracts ----
  const contractUriByDn = new Map<string, string>();
  const actions = new Set<string>();
  const actionUri = (tenant: string, allow: boolean): string => {
    const name = allow ? 'allow' : 'deny';
    const uri = uris.action(tenant, name);
    if (!actions.has(uri)) {
      actions.add(uri);
      u.add(
        'GbpAllowDenyAction',
        uri,
        [prop('name', name), prop('allow', allow ? 1 : 0), prop('order', allow ? 1 : 0)],
        space(tenant),
      );
    }
    return uri;
  };
  const classifiers = new Set<string>();
  const classifierUri = (
    tenant: string,
    name: string,
    entry: ApicObject,
    order: number,
    reversed: boolean,
  ): string => {
    const uri = uris.classifier(tenant, name);
    if (classifiers.has(uri)) return uri;
    classifiers.add(uri);
    const a = entry.attributes;
    const d = { from: portNumber(a.dFromPort), to: portNumber(a.dToPort) };
    const s = { from: portNumber(a.sFromPort), to: portNumber(a.sToPort) };
    const [dst, src] = reversed ? [s, d] : [d, s];
    const props: Property[] = [prop('name', name), prop('order', order)];
    const ether = etherTypeName(a.etherT);
    if (ether) props.push(prop('etherT', ether));
    const proto = protocolNumber(a.prot);
    if (proto !== undefined) props.push(prop('prot', proto));
    const range = (lo: string, hi: string, r: { from: number; to: number }): void => {
      if (r.from === 0 && r.to === 0) return;
      props.push(prop(lo, r.from), prop(hi, r.to === 0 ? r.from : r.to));
    };
    range('dFromPort', 'dToPort', dst);
    range('sFromPort', 'sToPort', src);
    if (a.icmpv4T && a.icmpv4T !== 'unspecified') {
      const icmp: Record<string, number> = {
        'echo-rep': 0,
        'dst-unreach': 3,
        'src-quench': 4,
        echo: 8,
        'time-exceeded': 11,
      };
      const t = icmp[a.icmpv4T] ?? Number(a.icmpv4T);
      if (Number.isInteger(t)) props.push(prop('icmpType', t));
    }
    props.push(prop('connectionTracking', a.stateful === 'yes' ? 'reflexive' : 'normal'));
    u.add('GbpeL24Classifier', uri, props, space(tenant));
    return uri;
  };

  for (const c of idx.byClass.get('vzBrCP') ?? []) {
    const tenant = tenantOf(c.dn);
    const name = rnValue(lastRn(c.dn), 'brc-');
    if (tenant === undefined || name === undefined) continue;
    const uri = uris.contract(tenant, name);
    contractUriByDn.set(c.dn, uri);
    const contract = u.add('GbpContract', uri, [prop('name', name)], space(tenant));
    for (const subj of childrenOf(idx, c.dn, 'vzSubj')) {
      const subjName = rnValue(lastRn(subj.dn), 'subj-') ?? '';
      const subjUri = childUri(uri, 'GbpSubject', subjName);
      const subject = u.add('GbpSubject', subjUri, [prop('name', subjName)], contract);
      const reverse = subj.attributes.revFltPorts !== 'no';
      let order = 1;
      for (const att of childrenOf(idx, subj.dn, 'vzRsSubjFiltAtt')) {
        const filterName =
          att.attributes.tnVzFilterName ?? rnValue(lastRn(att.dn), 'rssubjFiltAtt-') ?? '';
        const filter = resolveByName(idx, tenant, 'flt-', filterName, 'vzFilter');
        if (!filter) continue;
        const filterTenant = tenantOf(filter.dn) ?? tenant;
        const entries = childrenOf(idx, filter.dn, 'vzEntry');
        const allow = att.attributes.action !== 'deny';
        const addRule = (ruleName: string, direction: 'in' | 'out', reversed: boolean): void => {
          const ruleUri = childUri(subjUri, 'GbpRule', ruleName);
          const rule = u.add(
            'GbpRule',
            ruleUri,
            [prop('name', ruleName), prop('direction', direction), prop('order', order++)],
            subject,
          );
          let entryOrder = 1;
          for (const entry of entries) {
            const entryName = rnValue(lastRn(entry.dn), 'e-') ?? '';
            const cUri = classifierUri(
              filterTenant,
              `${filterName}|${entryName}${reversed ? '|rev' : ''}`,
              entry,
              entryOrder++,
              reversed,
            );
            u.manyRelation(rule, 'GbpRuleToClassifierRSrc', 'GbpeL24Classifier', cUri);
          }
          u.manyRelation(
            rule,
            'GbpRuleToActionRSrc',
            'GbpAllowDenyAction',
            actionUri(tenant, allow),
          );
        };
        addRule(filterName, 'in', false);
        if (reverse) addRule(`${filterName}-rev`, 'out', true);
      }
    }
  }

  // ---- vzAny: contracts of every EPG in the VRF ----
  const anyContracts = new Map<string, { prov: string[]; cons: string[] }>();
  for (const any of idx.byClass.get('vzAny') ?? []) {
    const vrfDn = parentDn(any.dn);
    const tenant = tenantOf(any.dn) ?? '';
    const names = (cls: string): string[] =>
      childrenOf(idx, any.dn, cls)
        .map((r) => resolveByName(idx, tenant, 'brc-', r.attributes.tnVzBrCPName ?? '', 'vzBrCP'))
        .flatMap((c) => (c ? [c.dn] : []));
    anyContracts.set(vrfDn, { prov: names('vzRsAnyToProv'), cons: names('vzRsAnyToCons') });
  }

  // ---- EPGs ----
  for (const epg of idx.byClass.get('fvAEPg') ?? []) {
    const tenant = tenantOf(epg.dn);
    const parts = splitDn(epg.dn);
    const app = parts[2] ? rnValue(parts[2], 'ap-') : undefined;
    const name = rnValue(lastRn(epg.dn), 'epg-');
    if (tenant === undefined || app === undefined || name === undefined) continue;
    const uri = uris.epGroup(tenant, app, name);
    const intraContracts = childrenOf(idx, epg.dn, 'fvRsIntraEpg');
    const mo = u.add(
      'GbpEpGroup',
      uri,
      [
        prop('name', `${app}|${name}`),
        prop(
          'intraGroupPolicy',
          epg.attributes.pcEnfPref === 'enforced'
            ? intraContracts.length > 0
              ? 'require-contract'
              : 'deny'
            : 'allow',
        ),
      ],
      space(tenant),
    );
    u.instContext(mo, ids.vnid(`epg:${epg.dn}`), ids.classId(`epg:${epg.dn}`));
    const rsBd = childrenOf(idx, epg.dn, 'fvRsBd')[0];
    const bd = resolveByName(idx, tenant, 'BD-', rsBd?.attributes.tnFvBDName || 'default', 'fvBD');
    const bdUri = bd ? bdUriByDn.get(bd.dn) : undefined;
    if (bd && bdUri) u.relation(mo, 'GbpEpGroupToNetworkRSrc', 'GbpBridgeDomain', bdUri);
    const relate = (relation: string, contractDns: Iterable<string>): void => {
      for (const dn of new Set(contractDns)) {
        const cUri = contractUriByDn.get(dn);
        if (cUri) u.manyRelation(mo, relation, 'GbpContract', cUri);
      }
    };
    const named = (cls: string): string[] =>
      childrenOf(idx, epg.dn, cls)
        .map((r) => resolveByName(idx, tenant, 'brc-', r.attributes.tnVzBrCPName ?? '', 'vzBrCP'))
        .flatMap((c) => (c ? [c.dn] : []));
    const any = bd ? anyContracts.get(vrfOfBd.get(bd.dn) ?? '') : undefined;
    relate('GbpEpGroupToProvContractRSrc', [...named('fvRsProv'), ...(any?.prov ?? [])]);
    relate('GbpEpGroupToConsContractRSrc', [...named('fvRsCons'), ...(any?.cons ?? [])]);
    relate('GbpEpGroupToIntraContractRSrc', named('fvRsIntraEpg'));
  }

  // ---- host protection policies (security groups) ----
  for (const pol of idx.byClass.get('hostprotPol') ?? []) {
    const tenant = tenantOf(pol.dn);
    const name = rnValue(lastRn(pol.dn), 'pol-');
    if (tenant === undefined || name === undefined) continue;
    const uri = uris.secGroup(tenant, name);
    const group = u.add('GbpSecGroup', uri, [prop('name', name)], space(tenant));
    for (const subj of childrenOf(idx, pol.dn, 'hostprotSubj')) {
      const subjName = rnValue(lastRn(subj.dn), 'subj-') ?? '';
      const subjUri = childUri(uri, 'GbpSecGroupSubject', subjName);
      const subject = u.add('GbpSecGroupSubject', subjUri, [prop('name', subjName)], group);
      let order = 1;
      for (const rule of childrenOf(idx, subj.dn, 'hostprotRule')) {
        const ruleName = rnValue(lastRn(rule.dn), 'rule-') ?? '';
        const ruleUri = childUri(subjUri, 'GbpSecGroupRule', ruleName);
        const a = rule.attributes;
        const r = u.add(
          'GbpSecGroupRule',
          ruleUri,
          [
            prop('name', ruleName),
            prop('direction', a.direction === 'egress' ? 'out' : 'in'),
            prop('order', order++),
          ],
          subject,
        );
        const cName = `${name}|${subjName}|${ruleName}`;
        const cUri = classifierUri(
          tenant,
          cName,
          {
            className: 'vzEntry',
            dn: rule.dn,
            attributes: {
              etherT: a.ethertype ?? '',
              prot: a.protocol ?? '',
              dFromPort: a.fromPort ?? '',
              dToPort: a.toPort ?? '',
              stateful: 'yes',
            },
          },
          1,
          false,
        );
        // The relation is gbp/Rule's, which GbpSecGroupRule inherits: the class keeps Rule's name.
        u.manyRelation(r, 'GbpRuleToClassifierRSrc', 'GbpeL24Classifier', cUri);
        const remotes = childrenOf(idx, rule.dn, 'hostprotRemoteIp');
        if (remotes.length > 0) {
          const subnetsUri = uris.subnets(tenant, cName);
          const set = u.add('GbpSubnets', subnetsUri, [prop('name', cName)], space(tenant));
          for (const ip of remotes) {
            const addr = ip.attributes.addr ?? rnValue(lastRn(ip.dn), 'ip-') ?? '';
            const net = networkOf(addr.includes('/') ? addr : `${addr}/32`);
            u.add(
              'GbpSubnet',
              childUri(subnetsUri, 'GbpSubnet', addr),
              [prop('name', addr), prop('address', net.address), prop('prefixLen', net.prefixLen)],
              set,
            );
          }
          u.manyRelation(r, 'GbpSecGroupRuleToRemoteAddressRSrc', 'GbpSubnets', subnetsUri);
        }
      }
    }
  }
  return u.link();
}

/** An object and everything contained in it (what policy_resolve answers). */
export function subtree(
  universe: ReadonlyMap<string, ManagedObject>,
  uri: string,
): ManagedObject[] {
  const out: ManagedObject[] = [];
  const walk = (u: string): void => {
    const mo = universe.get(u);
    if (!mo) return;
    out.push(mo);
    for (const c of mo.children) walk(c);
  };
  walk(uri);
  return out;
}
