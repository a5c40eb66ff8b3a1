/**
 * The node's endpoints as the endpoint registry objects the agent declares
 * (modelgbp EPR: EprL2Ep named by bridge domain and MAC, EprL3Ep by routing
 * domain and IP), as the reference agent's EndpointManager fills them. Pure:
 * an endpoint needs its EPG's bridge domain (and for L3 its routing domain)
 * from the resolved policy, so until those are resolved it has nothing to
 * declare yet, exactly like the original.
 */
import { type ManagedObject, isReference, propertyOf } from '../../../lib/opflex/mo.ts';
import { childUri, eprL2EpUri, eprL3EpUri, epGroupUri } from '../../../lib/opflex/uri.ts';
import type { EndpointFile } from '../files.ts';

/** What the client needs of a local endpoint. */
export interface LocalEndpointDeclaration {
  uuid: string;
  mac: string;
  ips: string[];
  interfaceName: string;
  epgUri: string;
  vmName?: string;
}

/** The EPG of an endpoint file in OpFlex terms: `<tenant>` space, EPG `<app profile>|<epg>`. */
export function endpointGroupUri(ref: EndpointFile['endpointGroup']): string {
  return epGroupUri(ref.tenant, `${ref.appProfile}|${ref.name}`);
}

export function declarationOf(file: EndpointFile): LocalEndpointDeclaration {
  return {
    uuid: file.uuid,
    mac: file.mac,
    ips: file.ips,
    interfaceName: file.interfaceName,
    epgUri: endpointGroupUri(file.endpointGroup),
    vmName: file.podName ? `${file.namespace}/${file.podName}` : undefined,
  };
}

type Store = ReadonlyMap<string, ManagedObject>;

/** The target of an object's single-valued relation child (`<uri><relation>/`). */
export function relationTarget(store: Store, uri: string, relation: string): string | undefined {
  const rel = store.get(childUri(uri, relation));
  const target = rel ? propertyOf(rel, 'target') : undefined;
  return isReference(target) ? target.reference_uri : undefined;
}

/** An EPG's bridge domain, through a flood domain if the policy has one in between. */
export function bridgeDomainOf(store: Store, epgUri: string): string | undefined {
  const network = relationTarget(store, epgUri, 'GbpEpGroupToNetworkRSrc');
  if (network === undefined) return undefined;
  const mo = store.get(network);
  if (mo?.subject === 'GbpFloodDomain')
    return relationTarget(store, network, 'GbpFloodDomainToNetworkRSrc');
  return mo?.subject === 'GbpBridgeDomain' ? network : undefined;
}

export function routingDomainOf(store: Store, bdUri: string): string | undefined {
  const rd = relationTarget(store, bdUri, 'GbpBridgeDomainToNetworkRSrc');
  return rd !== undefined && store.get(rd)?.subject === 'GbpRoutingDomain' ? rd : undefined;
}

/** The registry objects of one endpoint; empty while its EPG's forwarding is unresolved. */
export function endpointObjects(store: Store, ep: LocalEndpointDeclaration): ManagedObject[] {
  const bd = bridgeDomainOf(store, ep.epgUri);
  if (bd === undefined) return [];
  const l2: ManagedObject = {
    subject: 'EprL2Ep',
    uri: eprL2EpUri(bd, ep.mac),
    properties: [
      { name: 'context', data: bd },
      { name: 'mac', data: ep.mac },
      { name: 'uuid', data: ep.uuid },
      { name: 'group', data: ep.epgUri },
      { name: 'interfaceName', data: ep.interfaceName },
      ...(ep.vmName !== undefined ? [{ name: 'vmName', data: ep.vmName }] : []),
    ],
    parent_subject: 'EprL2Universe',
    parent_uri: '/EprL2Universe/',
    parent_relation: 'EprL2Ep',
    children: [],
  };
  const out = [l2];
  const rd = routingDomainOf(store, bd);
  const routing = propertyOf(store.get(bd) as ManagedObject, 'routingMode');
  if (rd === undefined || routing === 'disabled' || routing === 0) return out;
  for (const ip of ep.ips)
    out.push({
      subject: 'EprL3Ep',
      uri: eprL3EpUri(rd, ip),
      properties: [
        { name: 'context', data: rd },
        { name: 'ip', data: ip },
        { name: 'mac', data: ep.mac },
        { name: 'uuid', data: ep.uuid },
        { name: 'group', data: ep.epgUri },
      ],
      parent_subject: 'EprL3Universe',
      parent_uri: '/EprL3Universe/',
      parent_relation: 'EprL3Ep',
      children: [],
    });
  return out;
}
