/**
 * OpFlex URIs as libopflex's URIBuilder writes them: `/` + one element per
 * path step, each followed by `/`; a string element keeps [A-Za-z0-9-_.~]
 * and writes every other byte as `%xx` in lower-case hex (so an EPG named
 * `kubernetes|kube-default` is `kubernetes%7ckube-default`).
 *
 * And the class names and URIs of the reference model (genie's modelgbp)
 * that both the agent and the leaf simulator build.
 */

const unreserved = /^[A-Za-z0-9\-_.~]*$/;

export function escapeUriElement(element: string): string {
  if (unreserved.test(element)) return element;
  let out = '';
  for (const byte of Buffer.from(element, 'utf8')) {
    const keep =
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e;
    out += keep ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function unescapeUriElement(element: string): string {
  return decodeURIComponent(element);
}

/** `/a/b/` from path elements (numbers as decimal, strings escaped). */
export function buildUri(...elements: (string | number)[]): string {
  return `/${elements.map((e) => (typeof e === 'number' ? String(e) : escapeUriElement(e)) + '/').join('')}`;
}

/** Appends elements to a URI that ends in `/`. */
export function childUri(parent: string, ...elements: (string | number)[]): string {
  return parent + buildUri(...elements).slice(1);
}

/** The URI's elements, unescaped. */
export function uriElements(uri: string): string[] {
  return uri
    .split('/')
    .filter((e) => e.length > 0)
    .map(unescapeUriElement);
}

/**
 * Class ids that appear inside the URIs of many-valued relations
 * (`…/GbpEpGroupToProvContractRSrc/288/<target>/`): the ids modelgbp
 * assigns to the target classes, as the aci-containers gbpserver writes
 * them. The agent treats URIs as opaque keys, so these only matter for
 * looking the same as the original on the wire.
 */
export const TargetClassIds = {
  GbpContract: 288,
  GbpeL24Classifier: 178,
  GbpAllowDenyAction: 286,
  GbpSubnets: 152,
} as const;

/** Well-known URIs. */
export const PolicyUniverseUri = '/PolicyUniverse/';
export const platformConfigUri = (domain: string): string =>
  buildUri('PolicyUniverse', 'PlatformConfig', domain);
export const policySpaceUri = (tenant: string): string =>
  buildUri('PolicyUniverse', 'PolicySpace', tenant);
export const epGroupUri = (tenant: string, name: string): string =>
  childUri(policySpaceUri(tenant), 'GbpEpGroup', name);

/** The endpoint registry's L2 and L3 endpoints (EPR ep.mdl: named by context then MAC / IP). */
export const eprL2EpUri = (bridgeDomainUri: string, mac: string): string =>
  buildUri('EprL2Universe', 'EprL2Ep', bridgeDomainUri, mac);
export const eprL3EpUri = (routingDomainUri: string, ip: string): string =>
  buildUri('EprL3Universe', 'EprL3Ep', routingDomainUri, ip);
