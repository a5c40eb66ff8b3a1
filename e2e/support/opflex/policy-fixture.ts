/**
 * Resolved OpFlex policy for tests, as modelgbp managed objects: a compact
 * spec (tenants, VRFs, EPGs, contracts) in, the objects a leaf would send
 * out, plus an in-memory PolicySource that the tests change at run time
 * the way the OpFlex client's store changes on policy_update.
 */
import type { ManagedObject, Property, PropertyData } from '../../../lib/opflex/mo.ts';
import { TargetClassIds, childUri, eprL3EpUri, policySpaceUri } from '../../../lib/opflex/uri.ts';
import { epgUri } from '../../../agents/opflex/policy/contract-model.ts';
import type { EndpointFile } from '../../../agents/opflex/files.ts';
import type { PolicySource } from '../../../agents/opflex/policy/source.ts';

export interface ClassifierSpec {
  name: string;
  order?: number;
  etherT?: number;
  prot?: number;
  sFromPort?: number;
  sToPort?: number;
  dFromPort?: number;
  dToPort?: number;
  icmpType?: number;
  connectionTracking?: 'normal' | 'reflexive';
}

export interface RuleSpec {
  name: string;
  order?: number;
  direction: 'bidirectional' | 'in' | 'out';
  action?: 'allow' | 'deny';
  classifiers: ClassifierSpec[];
}

export interface ContractSpec {
  name: string;
  subjects: { name: string; rules: RuleSpec[] }[];
}

export interface EpgSpec {
  appProfile?: string;
  name: string;
  classId: number;
  encapId?: number;
  vrf?: string;
  intraGroupPolicy?: 'allow' | 'require-contract' | 'deny';
  provides?: string[];
  consumes?: string[];
  intra?: string[];
}

export interface PolicySpec {
  tenant?: string;
  /** VRF name -> enforced; every VRF an EPG names must be here. */
  vrfs?: Record<string, boolean>;
  epgs: EpgSpec[];
  contracts: ContractSpec[];
  remoteEndpoints?: { ip: string; epg: string; appProfile?: string; vrf?: string }[];
}

const DefaultAppProfile = 'kubernetes';

const targetClassId = (subject: string): number =>
  (TargetClassIds as Record<string, number>)[subject] ?? 0;

const prop = (name: string, data: PropertyData): Property => ({ name, data });
const ref = (subject: string, uri: string): PropertyData => ({ subject, reference_uri: uri });

class Builder {
  readonly objects = new Map<string, ManagedObject>();

  add(subject: string, uri: string, properties: Property[], parent?: ManagedObject): ManagedObject {
    const mo: ManagedObject = {
      subject,
      uri,
      properties,
      children: [],
      ...(parent
        ? { parent_subject: parent.subject, parent_uri: parent.uri, parent_relation: subject }
        : {}),
    };
    this.objects.set(uri, mo);
    if (parent) parent.children.push(uri);
    return mo;
  }

  relation(parent: ManagedObject, subject: string, targetSubject: string, target: string): void {
    this.add(
      subject,
      // Single-valued relations are `<parent><relation>/`, many-valued ones add the target's class id and URI.
      subject.endsWith('NetworkRSrc')
        ? childUri(parent.uri, subject)
        : childUri(parent.uri, subject, targetClassId(targetSubject), target),
      [prop('target', ref(targetSubject, target))],
      parent,
    );
  }
}

export function policyObjects(spec: PolicySpec): ManagedObject[] {
  const tenant = spec.tenant ?? 'kube';
  const space = policySpaceUri(tenant);
  const b = new Builder();
  const vrfs = spec.vrfs ?? { vrf: true };
  for (const [name, enforced] of Object.entries(vrfs)) {
    const rd = b.add('GbpRoutingDomain', childUri(space, 'GbpRoutingDomain', name), [
      prop('name', name),
      prop('enforcementPreference', enforced ? 0 : 1),
    ]);
    const bd = b.add('GbpBridgeDomain', childUri(space, 'GbpBridgeDomain', `bd-${name}`), [
      prop('name', `bd-${name}`),
    ]);
    b.relation(bd, 'GbpBridgeDomainToNetworkRSrc', 'GbpRoutingDomain', rd.uri);
  }
  const contractUri = (name: string): string => childUri(space, 'GbpContract', name);
  const allowUri = childUri(space, 'GbpAllowDenyAction', 'allow');
  const denyUri = childUri(space, 'GbpAllowDenyAction', 'deny');
  b.add('GbpAllowDenyAction', allowUri, [prop('name', 'allow'), prop('allow', 1)]);
  b.add('GbpAllowDenyAction', denyUri, [prop('name', 'deny'), prop('allow', 0)]);

  for (const e of spec.epgs) {
    const uri = epgUri({ tenant, appProfile: e.appProfile ?? DefaultAppProfile, name: e.name });
    const epg = b.add('GbpEpGroup', uri, [
      prop('name', `${e.appProfile ?? DefaultAppProfile}|${e.name}`),
      ...(e.intraGroupPolicy ? [prop('intraGroupPolicy', e.intraGroupPolicy)] : []),
    ]);
    b.add(
      'GbpeInstContext',
      childUri(uri, 'GbpeInstContext'),
      [
        prop('classid', e.classId),
        ...(e.encapId !== undefined ? [prop('encapId', e.encapId)] : []),
      ],
      epg,
    );
    const vrf = e.vrf ?? 'vrf';
    if (!(vrf in vrfs)) throw new Error(`EPG ${e.name}: VRF ${vrf} is not in the spec`);
    b.relation(
      epg,
      'GbpEpGroupToNetworkRSrc',
      'GbpBridgeDomain',
      childUri(space, 'GbpBridgeDomain', `bd-${vrf}`),
    );
    for (const c of e.provides ?? [])
      b.relation(epg, 'GbpEpGroupToProvContractRSrc', 'GbpContract', contractUri(c));
    for (const c of e.consumes ?? [])
      b.relation(epg, 'GbpEpGroupToConsContractRSrc', 'GbpContract', contractUri(c));
    for (const c of e.intra ?? [])
      b.relation(epg, 'GbpEpGroupToIntraContractRSrc', 'GbpContract', contractUri(c));
  }

  for (const c of spec.contracts) {
    const contract = b.add('GbpContract', contractUri(c.name), [prop('name', c.name)]);
    for (const s of c.subjects) {
      const subject = b.add(
        'GbpSubject',
        childUri(contract.uri, 'GbpSubject', s.name),
        [prop('name', s.name)],
        contract,
      );
      s.rules.forEach((r, i) => {
        const rule = b.add(
          'GbpRule',
          childUri(subject.uri, 'GbpRule', r.name),
          [prop('name', r.name), prop('order', r.order ?? i), prop('direction', r.direction)],
          subject,
        );
        b.relation(
          rule,
          'GbpRuleToActionRSrc',
          'GbpAllowDenyAction',
          r.action === 'deny' ? denyUri : allowUri,
        );
        r.classifiers.forEach((cl, j) => {
          const clUri = childUri(space, 'GbpeL24Classifier', cl.name);
          const { name, order, connectionTracking, ...fields } = cl;
          b.add('GbpeL24Classifier', clUri, [
            prop('name', name),
            prop('order', order ?? j),
            prop('connectionTracking', connectionTracking ?? 'normal'),
            ...Object.entries(fields).map(([k, v]) => prop(k, v as number)),
          ]);
          b.relation(rule, 'GbpRuleToClassifierRSrc', 'GbpeL24Classifier', clUri);
        });
      });
    }
  }
  for (const r of spec.remoteEndpoints ?? []) {
    const group = epgUri({ tenant, appProfile: r.appProfile ?? DefaultAppProfile, name: r.epg });
    b.add('EprL3Ep', eprL3EpUri(childUri(space, 'GbpRoutingDomain', r.vrf ?? 'vrf'), r.ip), [
      prop('ip', r.ip),
      prop('group', group),
    ]);
  }
  return [...b.objects.values()];
}

/** A PolicySource whose objects the test replaces, as policy_update replaces the client's. */
export class MemoryPolicySource implements PolicySource {
  private current: ManagedObject[] = [];
  private readonly listeners = new Set<() => void>();
  /** What the agent last handed over, as the client would declare it. */
  endpoints: readonly EndpointFile[] = [];

  constructor(objects: ManagedObject[] = []) {
    this.current = objects;
  }

  set(objects: ManagedObject[]): void {
    this.current = objects;
    for (const l of this.listeners) l();
  }

  objects(): Iterable<ManagedObject> {
    return this.current;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  localEndpoints(endpoints: readonly EndpointFile[]): void {
    this.endpoints = endpoints;
  }
}
