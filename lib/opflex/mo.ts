/**
 * A managed object as OpFlex carries it (draft-smith-opflex, "Managed
 * Object" in policy_resolve / policy_update / endpoint_declare). The class
 * and property names inside are the reference model's (modelgbp: GbpEpGroup,
 * GbpBridgeDomain, GbpContract, GbpeInstContext, EprL2Ep, ...), so the same
 * objects can be compared with what the original agent and server exchange.
 *
 * This type is shared by both sides: the OpFlex client in the opflex agent
 * (which keeps the resolved objects in a store) and the leaf simulator's
 * server (which maps the APIC tree to them). It is deliberately plain data.
 */

/** A property value: scalars, references (`{subject, reference_uri}`) or lists of them. */
export type PropertyData =
  string | number | bigint | boolean | null | ObjectReference | PropertyData[];

/** A reference property points at another object by class and URI. */
export interface ObjectReference {
  subject: string;
  reference_uri: string;
}

export interface Property {
  name: string;
  data: PropertyData;
}

export interface ManagedObject {
  /** The class name, e.g. `GbpEpGroup`. */
  subject: string;
  /** The object's URI, e.g. `/PolicyUniverse/PolicySpace/kube/GbpEpGroup/kubernetes%7ckube-default/`. */
  uri: string;
  properties: Property[];
  parent_subject?: string;
  parent_uri?: string;
  /** The parent's class name for this child relation (the reference model's containment). */
  parent_relation?: string;
  /** URIs of the children. */
  children: string[];
}

/** One property's value, or undefined when the object does not carry it. */
export function propertyOf(mo: ManagedObject, name: string): PropertyData | undefined {
  return mo.properties.find((p) => p.name === name)?.data;
}

export function isReference(data: PropertyData | undefined): data is ObjectReference {
  return (
    typeof data === 'object' &&
    data !== null &&
    !Array.isArray(data) &&
    typeof (data as ObjectReference).reference_uri === 'string'
  );
}
